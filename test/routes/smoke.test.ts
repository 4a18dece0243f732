import { describe, expect, it } from "vitest";
import { send, signedInUser } from "../helpers/api";

describe("smoke", () => {
	it("registers, confirms, logs in and reads /v1/me", async () => {
		const { token, email } = await signedInUser();
		const res = await send("GET", "/v1/me", { token });
		expect(res.status).toBe(200);
		const me = (await res.json()) as { email: string; email_confirmed: boolean };
		expect(me.email).toBe(email);
		expect(me.email_confirmed).toBe(true);
	});
});
