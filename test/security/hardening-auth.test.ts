import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import {
	PASSWORD,
	type TokenBody,
	api,
	expectProblem,
	login,
	register,
	send,
	signedInUser,
	uniqueEmail,
} from "../helpers/api";
import { tokenFrom, waitForMail } from "../helpers/resend";
import { ageRefreshRotation } from "../helpers/sessions";
import { appWith, retryAfterOf } from "../helpers/worker";

function refresh(refreshToken: string) {
	return send("POST", "/v1/auth/refresh", { body: { refresh_token: refreshToken } });
}

async function resetLink(email: string, mailNumber: number): Promise<string> {
	expect((await send("POST", "/v1/auth/password/forgot", { body: { email } })).status).toBe(202);
	return tokenFrom(await waitForMail(email, mailNumber), "/v1/auth/password/reset");
}

describe("refresh reuse interval (item 4)", () => {
	it("happy: parallel refreshes of one token all get working pairs in the same session", async () => {
		const { tokens } = await signedInUser();
		const results = await Promise.all(Array.from({ length: 5 }, () => refresh(tokens.refresh_token)));
		expect(results.map((res) => res.status)).toEqual([200, 200, 200, 200, 200]);
		const bodies = (await Promise.all(results.map((res) => res.json()))) as TokenBody[];
		// No 200 carries a revoked token: every access and refresh token handed out works.
		for (const body of bodies) {
			expect((await send("GET", "/v1/me", { token: body.access_token })).status).toBe(200);
		}
		expect(new Set(bodies.map((body) => body.refresh_token)).size).toBe(5);
		for (const body of bodies) expect((await refresh(body.refresh_token)).status).toBe(200);
		const sessions = await env.DB.prepare("select count(*) as n from sessions where user_id = ? and revoked_at is null")
			.bind(tokens.user.id)
			.first<{ n: number }>();
		expect(sessions?.n).toBe(1);
	});

	it("happy: a retried refresh within the interval rotates again, and the first pair keeps working", async () => {
		const { tokens } = await signedInUser();
		const first = (await (await refresh(tokens.refresh_token)).json()) as TokenBody;
		const retried = await refresh(tokens.refresh_token);
		expect(retried.status).toBe(200);
		const second = (await retried.json()) as TokenBody;
		expect(second.refresh_token).not.toBe(first.refresh_token);
		expect((await send("GET", "/v1/me", { token: first.access_token })).status).toBe(200);
		expect((await send("GET", "/v1/me", { token: second.access_token })).status).toBe(200);
	});

	it("security: presented after the interval it is reuse: 401 refresh_token_reused and the session is revoked", async () => {
		const { tokens } = await signedInUser();
		const next = (await (await refresh(tokens.refresh_token)).json()) as TokenBody;
		await ageRefreshRotation(tokens.refresh_token);
		await expectProblem(await refresh(tokens.refresh_token), 401, "refresh_token_reused");
		await expectProblem(await refresh(next.refresh_token), 401, "invalid_refresh_token");
		await expectProblem(await send("GET", "/v1/me", { token: next.access_token }), 401, "unauthorized");
	});

	it("security: REFRESH_REUSE_SECONDS=0 turns the interval off", async () => {
		const app = appWith({ REFRESH_REUSE_SECONDS: "0" });
		const { tokens } = await signedInUser();
		expect((await app.send("POST", "/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } })).status).toBe(
			200,
		);
		await expectProblem(
			await app.send("POST", "/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } }),
			401,
			"refresh_token_reused",
		);
	});

	it("error: a token of a revoked session never yields a pair, even within the interval", async () => {
		const { tokens } = await signedInUser();
		expect((await refresh(tokens.refresh_token)).status).toBe(200);
		expect((await send("POST", "/v1/auth/logout", { token: tokens.access_token })).status).toBe(204);
		await expectProblem(await refresh(tokens.refresh_token), 401, "invalid_refresh_token");
	});
});

describe("password changes end reset links; a reset confirms the email (item 1)", () => {
	it("security: PUT /v1/me/password ends an outstanding reset link", async () => {
		const { email, token } = await signedInUser();
		const link = await resetLink(email, 2);
		const changed = await send("PUT", "/v1/me/password", {
			token,
			body: { current_password: PASSWORD, new_password: "a brand new passphrase" },
		});
		expect(changed.status).toBe(200);
		await expectProblem(
			await send("POST", "/v1/auth/password/reset", { body: { token: link, password: "attacker passphrase x" } }),
			400,
			"token_invalid",
		);
		expect((await send("POST", "/v1/auth/login", { body: { email, password: "a brand new passphrase" } })).status).toBe(
			200,
		);
	});

	it("security: setting a first password (no current one) ends an outstanding reset link", async () => {
		const { email, token, userId } = await signedInUser();
		const link = await resetLink(email, 2);
		// An account that only signs in through a provider has no password yet.
		await env.DB.prepare("update users set password_hash = null where id = ?").bind(userId).run();
		const set = await send("PUT", "/v1/me/password", { token, body: { new_password: "a first passphrase here" } });
		expect(set.status).toBe(200);
		await expectProblem(
			await send("POST", "/v1/auth/password/reset", { body: { token: link, password: "attacker passphrase y" } }),
			400,
			"token_invalid",
		);
	});

	it("security: a completed reset ends the other reset links too", async () => {
		const { email } = await signedInUser();
		const link = await resetLink(email, 2);
		const rows = await env.DB.prepare(
			"select count(*) as n from verification_tokens v join users u on u.id = v.user_id where u.email = ? and v.purpose = 'reset_password' and v.spent_at is null",
		)
			.bind(email)
			.first<{ n: number }>();
		expect(rows?.n).toBe(1);
		// A second, older-style link left behind (e.g. issued by another path) must die with the reset.
		await env.DB.prepare(
			"insert into verification_tokens (token_hash, user_id, purpose, expires_at) select 'stale-reset-link', id, 'reset_password', ? from users where email = ?",
		)
			.bind(Date.now() + 600_000, email)
			.run();
		expect(
			(await send("POST", "/v1/auth/password/reset", { body: { token: link, password: "the reset passphrase" } }))
				.status,
		).toBe(200);
		const left = await env.DB.prepare(
			"select count(*) as n from verification_tokens v join users u on u.id = v.user_id where u.email = ? and v.purpose = 'reset_password' and v.spent_at is null",
		)
			.bind(email)
			.first<{ n: number }>();
		expect(left?.n).toBe(0);
	});

	it("happy: a completed reset confirms the email, so the new password signs in", async () => {
		const { email } = await register();
		const link = await resetLink(email, 2);
		const reset = await send("POST", "/v1/auth/password/reset", {
			body: { token: link, password: "confirmed by reset passphrase" },
		});
		expect(reset.status).toBe(200);
		const tokens = await login(email, "confirmed by reset passphrase");
		expect(tokens.user.email_confirmed).toBe(true);
	});
});

describe("wrong current_password on PUT /v1/me/password (item 7)", () => {
	it("security: counts toward the account's login-failure limit (429) and is audited", async () => {
		const app = appWith({ RATE_LIMIT_LOGIN_ACCOUNT: "3/900" });
		const { email, token } = await signedInUser();
		for (let i = 0; i < 3; i++) {
			await expectProblem(
				await app.send("PUT", "/v1/me/password", {
					token,
					body: { current_password: `wrong guess number ${i}`, new_password: "another new passphrase" },
				}),
				401,
				"invalid_credentials",
			);
		}
		// Past the limit even the right password is refused until the window ends...
		await retryAfterOf(
			await app.send("PUT", "/v1/me/password", {
				token,
				body: { current_password: PASSWORD, new_password: "another new passphrase" },
			}),
		);
		// ...and the same counter guards password logins of that account.
		await retryAfterOf(await app.send("POST", "/v1/auth/login", { body: { email, password: PASSWORD } }));
		const events = await vi.waitFor(
			async () => {
				const res = await app.send("GET", "/v1/me/activity?limit=100", { token });
				const body = (await res.json()) as { events: { type: string }[] };
				const failed = body.events.filter((event) => event.type === "password_change_failed");
				if (failed.length < 3) throw new Error(`${failed.length} password_change_failed events so far`);
				return failed;
			},
			{ timeout: 5000, interval: 20 },
		);
		expect(events).toHaveLength(3);
	});

	it("happy: the right current password still works and clears nothing it should not", async () => {
		const { email, token } = await signedInUser();
		const res = await send("PUT", "/v1/me/password", {
			token,
			body: { current_password: PASSWORD, new_password: "yet another passphrase" },
		});
		expect(res.status).toBe(200);
		expect((await send("POST", "/v1/auth/login", { body: { email, password: "yet another passphrase" } })).status).toBe(
			200,
		);
	});
});

describe("Cache-Control: no-store (item 5)", () => {
	it("token responses and authenticated JSON are not stored", async () => {
		const { email, token, tokens } = await signedInUser();
		const loginRes = await send("POST", "/v1/auth/login", { body: { email, password: PASSWORD } });
		expect(loginRes.status).toBe(200);
		expect(loginRes.headers.get("Cache-Control")).toBe("no-store");
		const refreshed = await refresh(tokens.refresh_token);
		expect(refreshed.status).toBe(200);
		expect(refreshed.headers.get("Cache-Control")).toBe("no-store");
		for (const path of ["/v1/me", "/v1/images"]) {
			const res = await send("GET", path, { token });
			expect(res.status).toBe(200);
			expect(res.headers.get("Cache-Control"), path).toBe("no-store");
		}
		const patched = await send("PATCH", "/v1/me", { token, body: { name: "Ada" } });
		expect(patched.headers.get("Cache-Control")).toBe("no-store");
	});
});

describe("X-Request-Id (item 9)", () => {
	it("security: a client-sent id is not taken as the request id", async () => {
		const res = await api("/health", { headers: { "X-Request-Id": "attacker-chosen-id" } });
		const id = res.headers.get("X-Request-Id");
		expect(id).toBeTruthy();
		expect(id).not.toBe("attacker-chosen-id");
	});

	it("happy: every response carries a generated id, different per request", async () => {
		const a = (await api("/health")).headers.get("X-Request-Id");
		const b = (await api("/health")).headers.get("X-Request-Id");
		expect(a).toMatch(/^[\w-]{16,}$/);
		expect(a).not.toBe(b);
	});
});

describe("HTML pages and passwords (item 11)", () => {
	it("security: HTML pages keep X-Frame-Options: DENY", async () => {
		for (const path of ["/v1/auth/confirm?token=nope", "/v1/auth/password/reset?token=nope"]) {
			const res = await api(path, { headers: { Accept: "text/html" } });
			expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
			expect(res.headers.get("X-Frame-Options"), path).toBe("DENY");
		}
	});

	it("security: a password equal to the email in full-width letters is refused", async () => {
		const email = uniqueEmail("wide");
		// U+FF01..U+FF5E are the full-width forms of ASCII 0x21..0x7E.
		const wide = [...email].map((ch) => String.fromCharCode(ch.charCodeAt(0) + 0xfee0)).join("");
		const res = await send("POST", "/v1/auth/register", { body: { email, password: wide } });
		const body = await expectProblem(res, 400, "validation_failed");
		expect(body.errors?.map((e) => e.code)).toContain("password_equals_email");

		const user = await signedInUser();
		const userWide = [...user.email].map((ch) => String.fromCharCode(ch.charCodeAt(0) + 0xfee0)).join("");
		const changed = await send("PUT", "/v1/me/password", {
			token: user.token,
			body: { current_password: PASSWORD, new_password: userWide },
		});
		const changedBody = await expectProblem(changed, 400, "validation_failed");
		expect(changedBody.errors?.map((e) => e.code)).toContain("password_equals_email");
	});
});

describe("name is plain text (item 8)", () => {
	const BAD_NAMES = ["Ada\nVisit https://evil.example", "Ada\r\nBcc: x", "Ada\u202Eevil", "Ada\u0007", "A\u2028B"];

	it("error: control characters, line breaks and bidi overrides are refused on register", async () => {
		for (const name of BAD_NAMES) {
			const res = await send("POST", "/v1/auth/register", {
				body: { email: uniqueEmail(), password: PASSWORD, name },
			});
			const body = await expectProblem(res, 400, "validation_failed");
			expect(body.errors?.[0]).toMatchObject({ path: "name", code: "invalid_name" });
		}
	});

	it("error: ...and on PATCH /v1/me, with a localized message", async () => {
		const { token } = await signedInUser();
		const res = await send("PATCH", "/v1/me", {
			token,
			body: { name: "Ada\nClick here" },
			headers: { "Accept-Language": "de" },
		});
		const body = await expectProblem(res, 400, "validation_failed");
		expect(body.errors?.[0]?.code).toBe("invalid_name");
		expect(body.errors?.[0]?.message).not.toMatch(/invalid_name|validation\./);
	});

	it("happy: ordinary names with accents, scripts and spaces pass", async () => {
		const { token } = await signedInUser();
		for (const name of ["Ada Lovelace", "José Ñúñez", "李小龍", "عبد الله", "Zoë O'Brien-Smith"]) {
			const res = await send("PATCH", "/v1/me", { token, body: { name } });
			expect(res.status).toBe(200);
		}
	});

	it("security: a mail to an unconfirmed address does not repeat the user-supplied name", async () => {
		const name = "Ada from www.evil.example";
		const { email } = await register({ name });
		const mail = await waitForMail(email);
		expect(mail.text).not.toContain("evil.example");
		expect(mail.html).not.toContain("evil.example");
	});
});
