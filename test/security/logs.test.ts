import { afterEach, describe, expect, it, vi } from "vitest";
import { PASSWORD, uniqueEmail } from "../helpers/api";
import { interceptPrepare } from "../helpers/d1-recorder";
import { tokenFrom, waitForMail } from "../helpers/resend";
import { ageRefreshRotation } from "../helpers/sessions";
import { appWith } from "../helpers/worker";

const METHODS = ["log", "info", "warn", "error", "debug"] as const;

/** Captures every console line written while it is installed (and prints none of them). */
function captureConsole() {
	const lines: string[] = [];
	const spies = METHODS.map((method) =>
		vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
			lines.push(args.map((arg) => (typeof arg === "string" ? arg : JSON.stringify(arg))).join(" "));
		}),
	);
	return {
		lines,
		restore: () => {
			for (const spy of spies) spy.mockRestore();
		},
	};
}

afterEach(() => {
	vi.restoreAllMocks();
});

describe("structured logs never carry secrets", () => {
	it("a register / confirm / login / refresh / forgot / reset / logout flow logs requests, and no secret", async () => {
		const app = appWith({ REQUEST_LOG: "on" });
		const email = uniqueEmail("logged");
		const newPassword = "a freshly reset passphrase";
		const capture = captureConsole();
		const secrets: string[] = [PASSWORD, newPassword, email];
		try {
			expect((await app.send("POST", "/v1/auth/register", { body: { email, password: PASSWORD } })).status).toBe(202);
			const confirmToken = tokenFrom(await waitForMail(email), "/v1/auth/confirm");
			secrets.push(confirmToken);
			// The GET page carries the token in its query string; the log line must not.
			expect((await app.send("GET", `/v1/auth/confirm?token=${confirmToken}`)).status).toBe(200);
			expect((await app.send("POST", "/v1/auth/confirm", { body: { token: confirmToken } })).status).toBe(200);
			const wrong = await app.send("POST", "/v1/auth/login", { body: { email, password: `${PASSWORD}!` } });
			expect(wrong.status).toBe(401);
			const login = await app.send("POST", "/v1/auth/login", { body: { email, password: PASSWORD } });
			const tokens = (await login.json()) as { access_token: string; refresh_token: string };
			secrets.push(tokens.access_token, tokens.refresh_token);
			const refreshed = await app.send("POST", "/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } });
			const next = (await refreshed.json()) as { access_token: string; refresh_token: string };
			secrets.push(next.access_token, next.refresh_token);
			// Reuse of the spent token (past the reuse interval): logged as a security event, still without the token.
			await ageRefreshRotation(tokens.refresh_token);
			expect(
				(await app.send("POST", "/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } })).status,
			).toBe(401);
			expect((await app.send("POST", "/v1/auth/password/forgot", { body: { email } })).status).toBe(202);
			const resetToken = tokenFrom(await waitForMail(email, 2), "/v1/auth/password/reset");
			secrets.push(resetToken);
			const reset = await app.send("POST", "/v1/auth/password/reset", {
				body: { token: resetToken, password: newPassword },
			});
			expect(reset.status).toBe(200);
			const again = await app.send("POST", "/v1/auth/login", { body: { email, password: newPassword } });
			const last = (await again.json()) as { access_token: string; refresh_token: string };
			secrets.push(last.access_token, last.refresh_token);
			expect((await app.send("POST", "/v1/auth/logout", { token: last.access_token })).status).toBe(204);
		} finally {
			capture.restore();
		}

		const requests = capture.lines.map((line) => JSON.parse(line)).filter((entry) => entry.event === "request");
		expect(requests.length).toBe(11);
		for (const entry of requests) {
			expect(entry).toMatchObject({
				level: "info",
				method: expect.stringMatching(/^(GET|POST)$/),
				path: expect.stringMatching(/^\/v1\/auth\/[a-z/-]+$/),
				status: expect.any(Number),
				durationMs: expect.any(Number),
				requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
			});
		}
		expect(requests.map((entry) => `${entry.method} ${entry.path} ${entry.status}`)).toContain(
			"GET /v1/auth/confirm 200",
		);
		// The authenticated request names its user by id.
		expect(requests.at(-1)).toMatchObject({ path: "/v1/auth/logout", status: 204, userId: expect.any(String) });
		for (const line of capture.lines) {
			for (const secret of secrets) expect(line).not.toContain(secret);
			// Not even the local part of the address.
			expect(line).not.toContain(email.split("@")[0]);
		}
	});

	it("a failing statement is logged without its bound values (which hold emails and hashes)", async () => {
		const app = appWith({ REQUEST_LOG: "on" });
		const email = uniqueEmail("failing");
		// On the binding and on D1 sessions alike: login reads the account in the batch of its counters.
		interceptPrepare((query, prepare) => {
			if (/from "users"/.test(query)) throw new Error("D1_ERROR: no such column: nope: SQLITE_ERROR");
			return prepare(query);
		});
		const capture = captureConsole();
		let status: number;
		try {
			status = (await app.send("POST", "/v1/auth/login", { body: { email, password: PASSWORD } })).status;
		} finally {
			capture.restore();
		}
		expect(status).toBe(500);
		const logged = capture.lines.join("\n");
		expect(logged).toContain("unhandled_error");
		expect(logged).toContain("no such column");
		expect(logged).not.toContain(email);
		expect(logged).not.toContain(PASSWORD);
	});
});
