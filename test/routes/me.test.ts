import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { PASSWORD, expectProblem, login, send, signedInUser } from "../helpers/api";

describe("GET /v1/me", () => {
	it("returns the contract's fields", async () => {
		const { token, email, userId } = await signedInUser({ name: "Ada Lovelace" });
		const res = await send("GET", "/v1/me", { token });
		expect(res.status).toBe(200);
		const me = await res.json();
		expect(me).toEqual({
			id: userId,
			email,
			name: "Ada Lovelace",
			locale: "en",
			email_confirmed: true,
			has_password: true,
			avatar_url: null,
			created_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
			accounts: [],
			mfa: { totp: false, recovery_codes_left: 0, passkeys: 0 },
		});
		expect(userId).toMatch(/^[a-z2-7]{24}$/);
	});
});

describe("PATCH /v1/me", () => {
	it("updates name and locale, and answers in the new locale", async () => {
		const { token } = await signedInUser();
		const res = await send("PATCH", "/v1/me", { token, body: { name: "Grace", locale: "en" } });
		expect(res.status).toBe(200);
		expect(await res.json()).toMatchObject({ name: "Grace", locale: "en" });
	});

	it("refuses an unknown locale", async () => {
		const { token } = await signedInUser();
		const problem = await expectProblem(
			await send("PATCH", "/v1/me", { token, body: { locale: "tlh" } }),
			400,
			"validation_failed",
		);
		expect(problem.errors?.[0]).toMatchObject({ path: "locale", code: "unknown_locale" });
	});
});

describe("PUT /v1/me/password", () => {
	it("changes the password and revokes the other sessions, not this one", async () => {
		const { token, email } = await signedInUser();
		const other = await login(email);
		const res = await send("PUT", "/v1/me/password", {
			token,
			body: { current_password: PASSWORD, new_password: "a brand new passphrase" },
		});
		expect(res.status).toBe(200);
		expect(await res.json()).toEqual({ message: expect.any(String) });
		expect((await send("GET", "/v1/me", { token })).status).toBe(200);
		await expectProblem(await send("GET", "/v1/me", { token: other.access_token }), 401, "unauthorized");
		await login(email, "a brand new passphrase");
	});

	it("requires the current password when the account has one", async () => {
		const { token } = await signedInUser();
		const missing = await send("PUT", "/v1/me/password", { token, body: { new_password: "a brand new passphrase" } });
		const problem = await expectProblem(missing, 400, "validation_failed");
		expect(problem.errors?.[0]).toMatchObject({ path: "current_password", code: "current_password_required" });
		const wrong = await send("PUT", "/v1/me/password", {
			token,
			body: { current_password: "not the password", new_password: "a brand new passphrase" },
		});
		await expectProblem(wrong, 401, "invalid_credentials");
	});

	it("refuses a weak new password and one equal to the email", async () => {
		const { token, email } = await signedInUser();
		await expectProblem(
			await send("PUT", "/v1/me/password", { token, body: { current_password: PASSWORD, new_password: "short" } }),
			400,
			"validation_failed",
		);
		const same = await send("PUT", "/v1/me/password", {
			token,
			body: { current_password: PASSWORD, new_password: email },
		});
		const problem = await expectProblem(same, 400, "validation_failed");
		expect(problem.errors?.[0]?.code).toBe("password_equals_email");
	});

	it("needs a fresh token", async () => {
		const { tokens } = await signedInUser();
		const refreshed = await send("POST", "/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } });
		const { access_token } = (await refreshed.json()) as { access_token: string };
		const res = await send("PUT", "/v1/me/password", {
			token: access_token,
			body: { current_password: PASSWORD, new_password: "a brand new passphrase" },
		});
		await expectProblem(res, 401, "fresh_token_required");
	});
});

describe("DELETE /v1/me", () => {
	it("deletes the user with sessions, tokens and objects", async () => {
		const { token, userId, email } = await signedInUser();
		await env.IMAGES.put(`users/${userId}/images/planted`, "x");
		expect((await send("DELETE", "/v1/me", { token })).status).toBe(204);
		const counts = await env.DB.prepare(
			"select (select count(*) from users where id = ?1) as u, (select count(*) from sessions where user_id = ?1) as s, (select count(*) from verification_tokens where user_id = ?1) as v",
		)
			.bind(userId)
			.first();
		expect(counts).toEqual({ u: 0, s: 0, v: 0 });
		expect((await env.IMAGES.list({ prefix: `users/${userId}/` })).objects).toHaveLength(0);
		await expectProblem(
			await send("POST", "/v1/auth/login", { body: { email, password: PASSWORD } }),
			401,
			"invalid_credentials",
		);
	});

	it("refuses a token older than FRESH_TOKEN_SECONDS", async () => {
		const { token } = await signedInUser();
		const { vi } = await import("vitest");
		vi.useFakeTimers({ toFake: ["Date"] });
		try {
			vi.setSystemTime(Date.now() + 601_000);
			await expectProblem(await send("DELETE", "/v1/me", { token }), 401, "fresh_token_required");
		} finally {
			vi.useRealTimers();
		}
	});
});

describe("security", () => {
	it("never lets one user read or change another's profile", async () => {
		const alice = await signedInUser();
		const bob = await signedInUser();
		const me = (await (await send("GET", "/v1/me", { token: bob.token })).json()) as { id: string };
		expect(me.id).toBe(bob.userId);
		expect(me.id).not.toBe(alice.userId);
	});

	it("refuses the access token of a deleted user", async () => {
		const { token } = await signedInUser();
		await send("DELETE", "/v1/me", { token });
		await expectProblem(await send("GET", "/v1/me", { token }), 401, "unauthorized");
	});
});
