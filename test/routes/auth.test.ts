import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { PASSWORD, api, expectProblem, login, register, send, signedInUser, uniqueEmail } from "../helpers/api";
import { mailsTo, waitForMail } from "../helpers/resend";
import { ageRefreshRotation } from "../helpers/sessions";

describe("register", () => {
	it("answers 202 with a localized message and mails a confirmation link", async () => {
		const email = uniqueEmail();
		const res = await send("POST", "/v1/auth/register", { body: { email, password: PASSWORD, name: "Ada" } });
		expect(res.status).toBe(202);
		expect(await res.json()).toEqual({ message: expect.stringContaining("confirm") });
		const mail = await waitForMail(email);
		expect(mail.text).toContain("https://atrium.test/v1/auth/confirm?token=");
	});

	it("gives the same status and body for an address that already has an account", async () => {
		const { email } = await signedInUser();
		const fresh = await send("POST", "/v1/auth/register", { body: { email: uniqueEmail(), password: PASSWORD } });
		const again = await send("POST", "/v1/auth/register", { body: { email, password: "another password 1" } });
		expect(again.status).toBe(fresh.status);
		expect(await again.text()).toBe(await fresh.text());
		// The owner is told, with a reset link instead of a confirmation link.
		const notice = await waitForMail(email, 2);
		expect(notice.text).toContain("/v1/auth/password/reset?token=");
	});

	it("stores the email normalized so case variants are one account", async () => {
		const email = uniqueEmail();
		await register({ email });
		await send("POST", "/v1/auth/register", { body: { email: email.toUpperCase(), password: PASSWORD } });
		const rows = await env.DB.prepare("select count(*) as n from users where email = ?")
			.bind(email)
			.first<{ n: number }>();
		expect(rows?.n).toBe(1);
	});
});

describe("register errors", () => {
	it.each([
		[{ email: "not-an-email", password: PASSWORD }, "email", "invalid_email"],
		[{ email: "a@example.com", password: "short" }, "password", "too_small"],
		[{ email: "a@example.com", password: "x".repeat(129) }, "password", "too_big"],
		[{ password: PASSWORD }, "email", "required"],
		[{ email: "long-enough@example.com", password: "long-enough@example.com" }, "password", "password_equals_email"],
		[{ email: "a@example.com", password: PASSWORD, locale: "xx" }, "locale", "unknown_locale"],
		[{ email: 42, password: PASSWORD }, "email", "invalid_type"],
	])("refuses %j with %s/%s", async (body, path, code) => {
		const res = await send("POST", "/v1/auth/register", { body });
		const problem = await expectProblem(res, 400, "validation_failed");
		expect(problem.errors).toContainEqual({ path, code, message: expect.any(String) });
	});

	it("answers malformed JSON with a 400 problem, not a 500", async () => {
		const res = await api("/v1/auth/register", {
			method: "POST",
			headers: { "Content-Type": "application/json" },
			body: '{"email": "a@example.com", "password":',
		});
		const problem = await expectProblem(res, 400, "validation_failed");
		expect(problem.errors?.[0]?.code).toBe("invalid_json");
	});

	it("answers an oversized body with 413", async () => {
		const res = await send("POST", "/v1/auth/register", {
			body: { email: "a@example.com", password: PASSWORD, name: "x".repeat(70 * 1024) },
		});
		await expectProblem(res, 413, "payload_too_large");
	});
});

describe("login", () => {
	it("returns tokens and the user", async () => {
		const { tokens, email } = await signedInUser();
		expect(tokens).toMatchObject({ token_type: "Bearer", expires_in: 900, user: { email, email_confirmed: true } });
		expect(tokens.refresh_token.length).toBeGreaterThanOrEqual(43);
	});

	it("records the time of the last sign-in", async () => {
		const before = Date.now();
		const { userId } = await signedInUser();
		const row = await env.DB.prepare("select last_login_at as t from users where id = ?")
			.bind(userId)
			.first<{ t: number }>();
		expect(row?.t).toBeGreaterThanOrEqual(before);
	});

	it("refuses an unconfirmed account with 403 only after a correct password", async () => {
		const { email } = await register();
		await expectProblem(
			await send("POST", "/v1/auth/login", { body: { email, password: "wrong password 123" } }),
			401,
			"invalid_credentials",
		);
		await expectProblem(
			await send("POST", "/v1/auth/login", { body: { email, password: PASSWORD } }),
			403,
			"email_not_confirmed",
		);
	});

	it("gives the same 401 body for a wrong password and an unknown email", async () => {
		const { email } = await signedInUser();
		const wrong = await send("POST", "/v1/auth/login", { body: { email, password: "wrong password 123" } });
		const unknown = await send("POST", "/v1/auth/login", { body: { email: uniqueEmail(), password: PASSWORD } });
		expect(wrong.status).toBe(401);
		expect(unknown.status).toBe(401);
		expect(await wrong.text()).toBe(await unknown.text());
	});

	it("upgrades a hash made with older parameters on the next login", async () => {
		const { email } = await signedInUser();
		const { hashPassword } = await import("../../src/lib/password");
		const weak = await hashPassword(PASSWORD, { logN: 10, r: 8, p: 1 });
		await env.DB.prepare("update users set password_hash = ? where email = ?").bind(weak, email).run();
		await login(email);
		const row = await env.DB.prepare("select password_hash as h from users where email = ?")
			.bind(email)
			.first<{ h: string }>();
		expect(row?.h).toMatch(/^\$scrypt\$ln=14,r=8,p=5\$/);
		await login(email);
	});
});

describe("refresh", () => {
	it("rotates: the new pair works and the old refresh token is spent", async () => {
		const { tokens } = await signedInUser();
		const res = await send("POST", "/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } });
		expect(res.status).toBe(200);
		const next = (await res.json()) as { access_token: string; refresh_token: string };
		expect(next.refresh_token).not.toBe(tokens.refresh_token);
		expect((await send("GET", "/v1/me", { token: next.access_token })).status).toBe(200);
	});

	it("treats reuse of a spent token as theft and revokes the whole session", async () => {
		const { tokens } = await signedInUser();
		const first = await send("POST", "/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } });
		const next = (await first.json()) as { access_token: string; refresh_token: string };
		await ageRefreshRotation(tokens.refresh_token);
		const replay = await send("POST", "/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } });
		await expectProblem(replay, 401, "refresh_token_reused");
		await expectProblem(
			await send("POST", "/v1/auth/refresh", { body: { refresh_token: next.refresh_token } }),
			401,
			"invalid_refresh_token",
		);
		await expectProblem(await send("GET", "/v1/me", { token: next.access_token }), 401, "unauthorized");
	});

	it("signs nobody out for concurrent refreshes of one token: each gets its own working pair", async () => {
		const { tokens } = await signedInUser();
		const results = await Promise.all(
			Array.from({ length: 5 }, () =>
				send("POST", "/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } }),
			),
		);
		expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
	});

	it("refuses unknown tokens and tokens of an expired session", async () => {
		await expectProblem(
			await send("POST", "/v1/auth/refresh", { body: { refresh_token: "nope" } }),
			401,
			"invalid_refresh_token",
		);
		const { tokens, userId } = await signedInUser();
		await env.DB.prepare("update sessions set expires_at = ? where user_id = ?")
			.bind(Date.now() - 1000, userId)
			.run();
		await expectProblem(
			await send("POST", "/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } }),
			401,
			"invalid_refresh_token",
		);
	});

	it("does not return a fresh access token", async () => {
		const { tokens } = await signedInUser();
		const res = await send("POST", "/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } });
		const { access_token } = (await res.json()) as { access_token: string };
		await expectProblem(await send("DELETE", "/v1/me", { token: access_token }), 401, "fresh_token_required");
	});
});

describe("logout", () => {
	it("revokes the session: access and refresh tokens stop working at once", async () => {
		const { tokens, token } = await signedInUser();
		expect((await send("POST", "/v1/auth/logout", { token })).status).toBe(204);
		const me = await send("GET", "/v1/me", { token });
		await expectProblem(me, 401, "unauthorized");
		expect(me.headers.get("WWW-Authenticate")).toMatch(/^Bearer/);
		await expectProblem(
			await send("POST", "/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } }),
			401,
			"invalid_refresh_token",
		);
	});

	it("logout-all revokes every session of the user and no one else's", async () => {
		const { email, token } = await signedInUser();
		const second = await login(email);
		const other = await signedInUser();
		expect((await send("POST", "/v1/auth/logout-all", { token })).status).toBe(204);
		await expectProblem(await send("GET", "/v1/me", { token: second.access_token }), 401, "unauthorized");
		expect((await send("GET", "/v1/me", { token: other.token })).status).toBe(200);
	});

	it("requires a token", async () => {
		const res = await send("POST", "/v1/auth/logout");
		await expectProblem(res, 401, "unauthorized");
		expect(res.headers.get("WWW-Authenticate")).toMatch(/^Bearer/);
	});
});

describe("mail delivery", () => {
	it("sends through Resend with an idempotency key and the configured sender", async () => {
		const { email } = await register();
		const [mail] = mailsTo(email);
		expect(mail?.idempotencyKey).toMatch(/^atrium-outbox-/);
		expect(mail?.from).toBe("Atrium <no-reply@atrium.example>");
	});
});
