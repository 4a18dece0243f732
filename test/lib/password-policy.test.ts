import { describe, expect, it } from "vitest";
import { COMMON_PASSWORDS } from "../../src/lib/common-passwords.generated";
import { isCommonPassword } from "../../src/lib/password-policy";
import { PASSWORD_MIN } from "../../src/schemas";
import { PASSWORD, expectProblem, register, send, signedInUser, uniqueEmail } from "../helpers/api";
import { tokenFrom, waitForMail } from "../helpers/resend";

const COMMON = ["password123", "qwertyuiop", "1q2w3e4r5t", "Password123", " 1234567890 ", "BASKETBALL"];

describe("the common-password list", () => {
	it("is compact, lower-case, and holds only passwords the length rule would let through", () => {
		const entries = COMMON_PASSWORDS.split("\n");
		expect(entries.length).toBeGreaterThan(1000);
		expect(new TextEncoder().encode(COMMON_PASSWORDS).byteLength).toBeLessThan(100 * 1024);
		expect(new Set(entries).size).toBe(entries.length);
		for (const entry of entries) {
			expect(entry.length).toBeGreaterThanOrEqual(PASSWORD_MIN);
			expect(entry).toBe(entry.toLowerCase());
		}
	});

	it.each(COMMON)("knows %j (case and surrounding spaces ignored)", (password) => {
		expect(isCommonPassword(password)).toBe(true);
	});

	it.each([PASSWORD, "kx9#Lm2!qZ", "password123 but longer and mine"])("lets %j through", (password) => {
		expect(isCommonPassword(password)).toBe(false);
	});
});

describe("every password-setting route refuses common passwords with a localized reason", () => {
	it.each(COMMON)("register refuses %j", async (password) => {
		const res = await send("POST", "/v1/auth/register", { body: { email: uniqueEmail(), password } });
		const problem = await expectProblem(res, 400, "validation_failed");
		expect(problem.errors).toEqual([
			{
				path: "password",
				code: "password_too_common",
				message: "This password is too common and easy to guess. Choose a less predictable one.",
			},
		]);
	});

	it("PUT /v1/me/password refuses one, and the old password keeps working", async () => {
		const { token, email } = await signedInUser();
		const res = await send("PUT", "/v1/me/password", {
			token,
			body: { current_password: PASSWORD, new_password: "password123" },
		});
		const problem = await expectProblem(res, 400, "validation_failed");
		expect(problem.errors?.[0]).toMatchObject({ path: "new_password", code: "password_too_common" });
		expect((await send("POST", "/v1/auth/login", { body: { email, password: PASSWORD } })).status).toBe(200);
	});

	it("POST /v1/auth/password/reset refuses one without spending the token", async () => {
		const { email } = await register();
		expect((await send("POST", "/v1/auth/password/forgot", { body: { email } })).status).toBe(202);
		const token = tokenFrom(await waitForMail(email, 2), "/v1/auth/password/reset");
		const refused = await send("POST", "/v1/auth/password/reset", { body: { token, password: "qwertyuiop" } });
		expect((await expectProblem(refused, 400, "validation_failed")).errors?.[0]?.code).toBe("password_too_common");
		expect(
			(await send("POST", "/v1/auth/password/reset", { body: { token, password: "not so common at all" } })).status,
		).toBe(200);
	});

	it("a password equal to the email is refused too", async () => {
		const email = uniqueEmail();
		const res = await send("POST", "/v1/auth/register", { body: { email, password: email.toUpperCase() } });
		expect((await expectProblem(res, 400, "validation_failed")).errors?.[0]?.code).toBe("password_equals_email");
	});

	it("logging in with an existing common password still works (the list guards new passwords only)", async () => {
		// Login validates nothing but presence: refusing there would lock out accounts made before the list.
		const res = await send("POST", "/v1/auth/login", { body: { email: uniqueEmail(), password: "password123" } });
		await expectProblem(res, 401, "invalid_credentials");
	});
});
