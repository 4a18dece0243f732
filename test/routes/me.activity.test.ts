import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { PASSWORD, expectProblem, login, register, send, signedInUser, uniqueEmail } from "../helpers/api";
import { type ImageJson, pngOf, postRaw, uploadImage } from "../helpers/images";
import { FakeIdentityProviders, fakeUser, linkWith, loginWith } from "../helpers/oauth-fakes";
import { tokenFrom, waitForMail } from "../helpers/resend";
import { ageRefreshRotation } from "../helpers/sessions";

type ActivityEvent = {
	id: string;
	type: string;
	created_at: string;
	ip: string | null;
	user_agent: string | null;
	detail: Record<string, unknown>;
};

async function activity(token: string, query = ""): Promise<ActivityEvent[]> {
	const res = await send("GET", `/v1/me/activity${query}`, { token });
	expect(res.status).toBe(200);
	return ((await res.json()) as { events: ActivityEvent[] }).events;
}

/** Audit events are written after the response (waitUntil): wait until `count` of them are there. */
async function eventsOf(token: string, count: number): Promise<ActivityEvent[]> {
	return vi.waitFor(
		async () => {
			const events = await activity(token, "?limit=100");
			if (events.length < count) throw new Error(`${events.length} of ${count} events so far`);
			return events;
		},
		{ timeout: 5000, interval: 20 },
	);
}

const CLIENT = { "CF-Connecting-IP": "203.0.113.50", "User-Agent": "AuditTest/1.0" };

describe("GET /v1/me/activity", () => {
	it("lists the account's security events newest first, with time, address and user agent", async () => {
		const email = uniqueEmail();
		expect(
			(await send("POST", "/v1/auth/register", { body: { email, password: PASSWORD }, headers: CLIENT })).status,
		).toBe(202);
		const confirmToken = tokenFrom(await waitForMail(email), "/v1/auth/confirm");
		expect((await send("POST", "/v1/auth/confirm", { body: { token: confirmToken }, headers: CLIENT })).status).toBe(
			200,
		);
		const failed = await send("POST", "/v1/auth/login", {
			body: { email, password: "wrong password 1" },
			headers: CLIENT,
		});
		expect(failed.status).toBe(401);
		const first = await login(email);
		// Reuse of a spent refresh token.
		const rotated = await send("POST", "/v1/auth/refresh", { body: { refresh_token: first.refresh_token } });
		expect(rotated.status).toBe(200);
		await ageRefreshRotation(first.refresh_token);
		await send("POST", "/v1/auth/refresh", { body: { refresh_token: first.refresh_token } });
		const { access_token } = await login(email);
		const changed = await send("PUT", "/v1/me/password", {
			token: access_token,
			body: { current_password: PASSWORD, new_password: "an entirely new passphrase" },
			headers: CLIENT,
		});
		expect(changed.status).toBe(200);
		expect((await send("POST", "/v1/auth/logout-all", { token: access_token })).status).toBe(204);
		const { access_token: latest } = await login(email, "an entirely new passphrase");

		const events = await eventsOf(latest, 9);
		expect(events.map((event) => event.type)).toEqual([
			"login",
			"logout_all",
			"password_changed",
			"login",
			"refresh_token_reused",
			"login",
			"login_failed",
			"email_confirmed",
			"register",
		]);
		const registered = events.at(-1) as ActivityEvent;
		expect(registered).toMatchObject({ ip: "203.0.113.50", user_agent: "AuditTest/1.0", detail: {} });
		expect(events.find((event) => event.type === "login_failed")?.detail).toEqual({ method: "password" });
		const times = events.map((event) => Date.parse(event.created_at));
		expect(times).toEqual([...times].sort((a, b) => b - a));
		// Nothing secret in the trail.
		const text = JSON.stringify(events);
		for (const secret of [
			PASSWORD,
			"an entirely new passphrase",
			first.refresh_token,
			first.access_token,
			confirmToken,
			email,
		]) {
			expect(text).not.toContain(secret);
		}
	});

	it("records password resets and logouts; another user's events never show", async () => {
		const user = await signedInUser();
		const stranger = await signedInUser();
		expect((await send("POST", "/v1/auth/password/forgot", { body: { email: user.email } })).status).toBe(202);
		const reset = tokenFrom(await waitForMail(user.email, 2), "/v1/auth/password/reset");
		const done = await send("POST", "/v1/auth/password/reset", {
			body: { token: reset, password: "reset passphrase ok" },
		});
		expect(done.status).toBe(200);
		const { access_token } = await login(user.email, "reset passphrase ok");
		expect((await send("POST", "/v1/auth/logout", { token: access_token })).status).toBe(204);
		const { access_token: token } = await login(user.email, "reset passphrase ok");
		const types = (await eventsOf(token, 7)).map((event) => event.type);
		expect(types.slice(0, 5)).toEqual(["login", "logout", "login", "password_reset", "login"]);
		const theirs = await eventsOf(stranger.token, 3);
		expect(theirs.map((event) => event.type)).toEqual(["login", "email_confirmed", "register"]);
	});

	it("honours ?limit and validates it", async () => {
		const { token } = await signedInUser();
		await eventsOf(token, 3);
		expect(await activity(token, "?limit=2")).toHaveLength(2);
		await expectProblem(await send("GET", "/v1/me/activity?limit=0", { token }), 400, "validation_failed");
		await expectProblem(await send("GET", "/v1/me/activity?limit=101", { token }), 400, "validation_failed");
		await expectProblem(await send("GET", "/v1/me/activity"), 401, "unauthorized");
	});

	it("registering an address that is already taken shows up for its owner only", async () => {
		const { email, token } = await signedInUser();
		expect((await send("POST", "/v1/auth/register", { body: { email, password: "someone else 123" } })).status).toBe(
			202,
		);
		expect((await eventsOf(token, 4))[0]?.type).toBe("register_existing");
	});
});

describe("OAuth and image events", () => {
	it("records OAuth sign-in, link and unlink, and image and avatar deletions", async () => {
		const idp = new FakeIdentityProviders();
		idp.install();
		const oauth = await loginWith(idp, "google", fakeUser());
		expect(oauth.status).toBe(200);
		const signedIn = (await oauth.json()) as { access_token: string };
		expect((await eventsOf(signedIn.access_token, 1))[0]).toMatchObject({
			type: "login",
			detail: { method: "google", outcome: "created" },
		});

		const { token } = await signedInUser();
		expect((await linkWith(idp, token, "github", fakeUser())).status).toBe(200);
		expect((await send("DELETE", "/v1/me/accounts/github", { token })).status).toBe(204);
		const image = await uploadImage(token, pngOf(2, 2));
		expect((await send("DELETE", `/v1/images/${image.id}`, { token })).status).toBe(204);
		expect((await postRaw(token, pngOf(2, 2), { method: "PUT", path: "/v1/me/avatar" })).status).toBe(200);
		expect((await send("DELETE", "/v1/me/avatar", { token })).status).toBe(204);
		const events = (await eventsOf(token, 7)).slice(0, 4);
		expect(events).toMatchObject([
			{ type: "avatar_deleted" },
			{ type: "image_deleted", detail: { image_id: image.id } },
			{ type: "oauth_unlinked", detail: { provider: "github" } },
			{ type: "oauth_linked", detail: { provider: "github" } },
		]);
	});
});

describe("account deletion and the trail", () => {
	it("the user's own events go with the account; one anonymous account_deleted row stays", async () => {
		const { token, userId } = await signedInUser();
		await uploadImage(token, pngOf(3, 3));
		await eventsOf(token, 3);
		const res = await send("DELETE", "/v1/me", { token, headers: CLIENT });
		expect(res.status).toBe(204);
		const rows = await env.DB.prepare(
			"select user_id, type, ip, user_agent, detail from audit_events where user_id = ?",
		)
			.bind(userId)
			.all();
		expect(rows.results).toEqual([]);
		const anonymous = await env.DB.prepare(
			"select user_id, ip, user_agent, detail from audit_events where type = 'account_deleted' order by created_at desc limit 1",
		).first<{ user_id: string | null; ip: string | null; user_agent: string | null; detail: string }>();
		expect(anonymous).toEqual({
			user_id: null,
			ip: null,
			user_agent: null,
			detail: JSON.stringify({ objects: 1, actor: "self" }),
		});
	});
});

describe("GET /v1/me/export", () => {
	it("returns everything stored about the user as a JSON attachment, and no secrets", async () => {
		const { token, email, tokens, userId } = await signedInUser({ name: "Ada" });
		const image: ImageJson = await uploadImage(token, pngOf(4, 2), "holiday.png");
		await eventsOf(token, 3);
		const res = await send("GET", "/v1/me/export", { token });
		expect(res.status).toBe(200);
		expect(res.headers.get("Content-Type")).toMatch(/^application\/json/);
		expect(res.headers.get("Content-Disposition")).toMatch(
			/^attachment; filename="atrium-export-\d{4}-\d{2}-\d{2}\.json"$/,
		);
		expect(res.headers.get("Cache-Control")).toBe("no-store");
		const text = await res.text();
		const data = JSON.parse(text);
		expect(data).toMatchObject({
			format: 1,
			profile: { id: userId, email, name: "Ada", email_confirmed: true, has_password: true },
			linked_accounts: [],
			images: [{ id: image.id, filename: "holiday.png", width: 4, height: 2, size: image.size }],
			sessions: [{ revoked_at: null }],
		});
		expect(data.activity.map((event: ActivityEvent) => event.type)).toEqual(["login", "email_confirmed", "register"]);
		for (const secret of [PASSWORD, tokens.refresh_token, tokens.access_token, "$scrypt$"]) {
			expect(text).not.toContain(secret);
		}
	});

	it("requires a token and only ever exports the caller", async () => {
		await expectProblem(await send("GET", "/v1/me/export"), 401, "unauthorized");
		const mine = await signedInUser();
		const theirs = await register();
		const data = (await (await send("GET", "/v1/me/export", { token: mine.token })).json()) as {
			profile: { email: string };
		};
		expect(data.profile.email).toBe(mine.email);
		expect(JSON.stringify(data)).not.toContain(theirs.email);
	});
});
