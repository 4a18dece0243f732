import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../src/config";
import { createDb } from "../../src/db/client";
import { findUserById } from "../../src/services/users";
import { startSession } from "../../src/services/sign-in";
import { PASSWORD, expectProblem, login, send, signedInUser, uniqueEmail } from "../helpers/api";
import { keysUnder, pngOf, uploadImage } from "../helpers/images";
import { enableTotp, firstStep, pinClock, secondStep, totpCode } from "../helpers/mfa";
import { APP_CALLBACK, FakeIdentityProviders, fakeUser, loginWith, redirectParams } from "../helpers/oauth-fakes";
import { appWith } from "../helpers/worker";

const ADMIN_KEY = "test-admin-key-that-is-at-least-32-bytes";

type AdminUser = {
	id: string;
	email: string;
	email_confirmed: boolean;
	has_password: boolean;
	accounts: { provider: string }[];
	mfa: { totp: boolean; recovery_codes_left: number; passkeys: number };
	disabled: boolean;
	last_login_at: string | null;
	sessions: number;
	created_at: string;
};

function admin(method: string, path: string, headers: Record<string, string> = {}) {
	return send(method, `/v1/admin${path}`, { token: ADMIN_KEY, headers });
}

async function adminUser(id: string): Promise<AdminUser> {
	const res = await admin("GET", `/users/${id}`);
	expect(res.status).toBe(200);
	return res.json();
}

async function auditDetails(userId: string | null, type: string): Promise<Record<string, unknown>[]> {
	const { results } = await env.DB.prepare(
		"select detail from audit_events where (user_id = ?1 or (?1 is null and user_id is null)) and type = ?2",
	)
		.bind(userId, type)
		.all<{ detail: string | null }>();
	return results.map((row) => (row.detail ? JSON.parse(row.detail) : {}));
}

let idp: FakeIdentityProviders;
beforeEach(() => {
	idp = new FakeIdentityProviders();
	idp.install();
});
afterEach(() => {
	vi.useRealTimers();
});

describe("admin API: happy", () => {
	it("GET /v1/admin/users/:id answers the /v1/me fields plus disabled, last_login_at and sessions", async () => {
		const { token, userId, email } = await signedInUser({ name: "Ada" });
		await login(email);
		const me = (await (await send("GET", "/v1/me", { token })).json()) as Record<string, unknown>;
		const user = await adminUser(userId);
		expect(user).toEqual({ ...me, disabled: false, last_login_at: expect.any(String), sessions: 2 });
		expect(Date.now() - Date.parse(user.last_login_at ?? "")).toBeLessThan(60_000);
	});

	it("lists users newest first, 50 by default, and pages with next_cursor", async () => {
		const ids: string[] = [];
		for (let i = 0; i < 3; i++) ids.push((await signedInUser()).userId);
		const first = await admin("GET", "/users?limit=2");
		expect(first.status).toBe(200);
		const page1 = (await first.json()) as { users: AdminUser[]; next_cursor: string | null };
		expect(page1.users.map((u) => u.id)).toEqual([ids[2], ids[1]]);
		expect(page1.next_cursor).toEqual(expect.any(String));
		const second = await admin("GET", `/users?limit=2&cursor=${page1.next_cursor}`);
		const page2 = (await second.json()) as { users: AdminUser[]; next_cursor: string | null };
		expect(page2.users[0]?.id).toBe(ids[0]);
		const all = (await (await admin("GET", "/users")).json()) as { users: AdminUser[]; next_cursor: string | null };
		expect(all.users.length).toBeLessThanOrEqual(50);
		const created = all.users.map((u) => Date.parse(u.created_at));
		expect(created).toEqual([...created].sort((a, b) => b - a));
	});

	it("?email= is an exact match on the email normalized as login normalizes it", async () => {
		const email = uniqueEmail("find.me");
		const { userId } = await signedInUser({ email });
		const found = await admin("GET", `/users?email=${encodeURIComponent(`  ${email.toUpperCase()} `)}`);
		const body = (await found.json()) as { users: AdminUser[]; next_cursor: string | null };
		expect(body).toEqual({ users: [expect.objectContaining({ id: userId, email })], next_cursor: null });
		const prefix = await admin("GET", `/users?email=${encodeURIComponent(email.slice(0, -4))}`);
		expect(((await prefix.json()) as { users: AdminUser[] }).users).toEqual([]);
	});

	it("last_login_at is set by an OAuth sign-up and by the MFA step", async () => {
		const res = await loginWith(idp, "github", fakeUser());
		expect(res.status).toBe(200);
		const { user } = (await res.json()) as { user: { id: string } };
		expect((await adminUser(user.id)).last_login_at).not.toBeNull();

		pinClock();
		const { email, token, userId } = await signedInUser();
		const { secret } = await enableTotp(token);
		await env.DB.prepare("update users set last_login_at = null where id = ?").bind(userId).run();
		const { mfa_token } = await firstStep(email);
		expect((await adminUser(userId)).last_login_at).toBeNull();
		expect((await secondStep({ mfa_token, code: totpCode(secret) })).status).toBe(200);
		expect((await adminUser(userId)).last_login_at).not.toBeNull();
	});

	it("disable revokes every session at once and is audited with actor admin", async () => {
		const { token, tokens, userId } = await signedInUser();
		const res = await admin("POST", `/users/${userId}/disable`);
		expect(res.status).toBe(200);
		expect(await res.json()).toMatchObject({ id: userId, disabled: true, sessions: 0 });
		await expectProblem(await send("GET", "/v1/me", { token }), 401, "unauthorized");
		const refresh = await send("POST", "/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } });
		await expectProblem(refresh, 401, "invalid_refresh_token");
		expect(await auditDetails(userId, "account_disabled")).toEqual([{ actor: "admin" }]);
	});

	it("enable lets a disabled account sign in again", async () => {
		const { email, userId } = await signedInUser();
		expect((await admin("POST", `/users/${userId}/disable`)).status).toBe(200);
		const res = await admin("POST", `/users/${userId}/enable`);
		expect(res.status).toBe(200);
		expect(await res.json()).toMatchObject({ id: userId, disabled: false });
		const tokens = await login(email);
		expect((await send("GET", "/v1/me", { token: tokens.access_token })).status).toBe(200);
		expect(await auditDetails(userId, "account_enabled")).toEqual([{ actor: "admin" }]);
	});

	it("sessions/revoke signs the user out everywhere; they can sign in again", async () => {
		const { email, token, tokens, userId } = await signedInUser();
		const second = await login(email);
		const res = await admin("POST", `/users/${userId}/sessions/revoke`);
		expect(res.status).toBe(204);
		await expectProblem(await send("GET", "/v1/me", { token }), 401, "unauthorized");
		await expectProblem(await send("GET", "/v1/me", { token: second.access_token }), 401, "unauthorized");
		const refresh = await send("POST", "/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } });
		await expectProblem(refresh, 401, "invalid_refresh_token");
		expect((await adminUser(userId)).sessions).toBe(0);
		expect((await login(email)).access_token).toEqual(expect.any(String));
		expect(await auditDetails(userId, "sessions_revoked")).toEqual([{ actor: "admin" }]);
	});

	it("DELETE removes the account, its rows and its objects, like DELETE /v1/me", async () => {
		const { token, userId } = await signedInUser();
		await uploadImage(token, pngOf(3, 3));
		expect(await keysUnder(`users/${userId}/`)).toHaveLength(1);
		const res = await admin("DELETE", `/users/${userId}`);
		expect(res.status).toBe(204);
		await expectProblem(await admin("GET", `/users/${userId}`), 404, "user_not_found");
		expect(await keysUnder(`users/${userId}/`)).toEqual([]);
		for (const table of ["sessions", "images", "audit_events"]) {
			const row = await env.DB.prepare(`select count(*) as n from ${table} where user_id = ?`)
				.bind(userId)
				.first<{ n: number }>();
			expect(row?.n, table).toBe(0);
		}
		expect(await auditDetails(null, "account_deleted")).toContainEqual({ objects: 1, actor: "admin" });
	});
});

describe("admin API: a disabled account on every sign-in path", () => {
	it("password login: the right password gets 403 account_disabled, a wrong one stays 401", async () => {
		const { email, userId } = await signedInUser();
		await admin("POST", `/users/${userId}/disable`);
		await expectProblem(
			await send("POST", "/v1/auth/login", { body: { email, password: PASSWORD } }),
			403,
			"account_disabled",
		);
		await expectProblem(
			await send("POST", "/v1/auth/login", { body: { email, password: "not the password at all" } }),
			401,
			"invalid_credentials",
		);
		const { results } = await env.DB.prepare("select id from sessions where user_id = ? and revoked_at is null")
			.bind(userId)
			.all();
		expect(results).toEqual([]);
	});

	it("the MFA step of a challenge started before the disable gets 403", async () => {
		pinClock();
		const { email, token, userId } = await signedInUser();
		const { secret } = await enableTotp(token);
		const { mfa_token } = await firstStep(email);
		await admin("POST", `/users/${userId}/disable`);
		await expectProblem(await secondStep({ mfa_token, code: totpCode(secret) }), 403, "account_disabled");
	});

	it("OAuth: the callback answers 403 (or ?error=account_disabled), an earlier login code 403", async () => {
		const identity = fakeUser();
		const signup = await loginWith(idp, "github", identity);
		const { user } = (await signup.json()) as { user: { id: string } };
		const code = redirectParams(await loginWith(idp, "github", identity, APP_CALLBACK)).get("code");
		await admin("POST", `/users/${user.id}/disable`);
		await expectProblem(await loginWith(idp, "github", identity), 403, "account_disabled");
		const redirected = redirectParams(await loginWith(idp, "github", identity, APP_CALLBACK));
		expect(redirected.get("error")).toBe("account_disabled");
		expect(redirected.get("code")).toBeNull();
		await expectProblem(await send("POST", "/v1/auth/oauth/exchange", { body: { code } }), 403, "account_disabled");
	});

	it("a session started from a user read just before the disable is dead on arrival", async () => {
		const { userId } = await signedInUser();
		const db = createDb(env.DB);
		const stale = await findUserById(db, userId);
		if (!stale) throw new Error("no user");
		await admin("POST", `/users/${userId}/disable`);
		const started = await startSession(db, loadConfig(env), { user: stale, method: "password" });
		if (started.disabled) throw new Error("the stale read still says enabled");
		await expectProblem(await send("GET", "/v1/me", { token: started.body.access_token }), 401, "unauthorized");
		const refresh = await send("POST", "/v1/auth/refresh", { body: { refresh_token: started.body.refresh_token } });
		await expectProblem(refresh, 401, "invalid_refresh_token");
	});
});

describe("admin API: errors", () => {
	it("an unknown id is 404 user_not_found on every per-user route", async () => {
		for (const [method, path] of [
			["GET", "/users/nosuchuser"],
			["POST", "/users/nosuchuser/disable"],
			["POST", "/users/nosuchuser/enable"],
			["POST", "/users/nosuchuser/sessions/revoke"],
			["DELETE", "/users/nosuchuser"],
		] as const) {
			await expectProblem(await admin(method, path), 404, "user_not_found");
		}
	});

	it("a made-up cursor or a limit over 100 is 400 validation_failed", async () => {
		await expectProblem(await admin("GET", "/users?cursor=bm90LWEtY3Vyc29y"), 400, "validation_failed");
		await expectProblem(await admin("GET", "/users?limit=101"), 400, "validation_failed");
	});

	it("user_not_found and account_disabled are localized", async () => {
		const res = await admin("GET", "/users/nosuchuser", { "Accept-Language": "de" });
		const body = (await expectProblem(res, 404, "user_not_found")) as { title: string };
		expect(body.title).toBe("Benutzer nicht gefunden");
		const { email, userId } = await signedInUser();
		await admin("POST", `/users/${userId}/disable`);
		const refused = await send("POST", "/v1/auth/login", {
			body: { email, password: PASSWORD },
			headers: { "Accept-Language": "fr" },
		});
		expect(((await expectProblem(refused, 403, "account_disabled")) as { title: string }).title).toBe(
			"Compte désactivé",
		);
	});
});

describe("admin API: security", () => {
	it("a missing or wrong key, or a user's access token, is 401 unauthorized with a Bearer challenge", async () => {
		const { token } = await signedInUser();
		for (const auth of [undefined, `${ADMIN_KEY}x`, token, ADMIN_KEY.slice(0, -1)]) {
			const res = await send("GET", "/v1/admin/users", { token: auth });
			await expectProblem(res, 401, "unauthorized");
			expect(res.headers.get("WWW-Authenticate")).toMatch(/^Bearer/);
		}
	});

	it("without ADMIN_API_KEY every admin route is 404, whatever key is sent", async () => {
		const { userId } = await signedInUser();
		const app = appWith({ ADMIN_API_KEY: "" });
		for (const [method, path] of [
			["GET", "/v1/admin/users"],
			["GET", `/v1/admin/users/${userId}`],
			["POST", `/v1/admin/users/${userId}/disable`],
			["DELETE", `/v1/admin/users/${userId}`],
		] as const) {
			await expectProblem(await app.send(method, path, { token: ADMIN_KEY }), 404, "not_found");
		}
		expect((await adminUser(userId)).disabled).toBe(false);
	});

	it("failed attempts are limited per address; past the limit even the right key is refused", async () => {
		const app = appWith({ RATE_LIMIT_ADMIN_AUTH_IP: "2/900" });
		const from = (ip: string) => ({ "CF-Connecting-IP": ip });
		for (let i = 0; i < 2; i++) {
			const res = await app.send("GET", "/v1/admin/users", { token: "wrong", headers: from("203.0.113.7") });
			await expectProblem(res, 401, "unauthorized");
		}
		const blocked = await app.send("GET", "/v1/admin/users", { token: ADMIN_KEY, headers: from("203.0.113.7") });
		await expectProblem(blocked, 429, "rate_limited");
		expect(Number(blocked.headers.get("Retry-After"))).toBeGreaterThan(0);
		const other = await app.send("GET", "/v1/admin/users", { token: ADMIN_KEY, headers: from("198.51.100.9") });
		expect(other.status).toBe(200);
	});

	it("successful admin requests are not counted against the address", async () => {
		const app = appWith({ RATE_LIMIT_ADMIN_AUTH_IP: "1/900" });
		for (let i = 0; i < 3; i++) {
			const res = await app.send("GET", "/v1/admin/users", {
				token: ADMIN_KEY,
				headers: { "CF-Connecting-IP": "192.0.2.44" },
			});
			expect(res.status).toBe(200);
		}
	});

	it("an ADMIN_API_KEY shorter than 32 bytes is a configuration error", () => {
		expect(() => loadConfig({ ...env, ADMIN_API_KEY: "short" })).toThrow(/ADMIN_API_KEY must be at least 32 bytes/);
	});
});
