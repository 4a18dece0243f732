import { createHmac } from "node:crypto";
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ConfigError, loadConfig } from "../../src/config";
import worker from "../../src/index";
import { EVENT_TYPES } from "../../src/lib/webhooks";
import { PASSWORD, expectProblem, uniqueEmail } from "../helpers/api";
import { interceptPrepare } from "../helpers/d1-recorder";
import { nextStep, totpCode } from "../helpers/mfa";
import { CookieJar, FakeIdentityProviders, fakeUser } from "../helpers/oauth-fakes";
import { type CreationOptions, SoftwareAuthenticator } from "../helpers/webauthn";
import { type FakeHandler, fakeOrigin, requestsTo } from "../helpers/network";
import { tokenFrom, waitForMail } from "../helpers/resend";
import { appWith } from "../helpers/worker";

const RECEIVER = "https://hooks.test";
const WEBHOOK_URL = `${RECEIVER}/atrium`;
// Standard Webhooks' own secret format: whsec_ and the base64 of 32 random bytes.
const WEBHOOK_SECRET = `whsec_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))}`;
const ADMIN_KEY = "test-admin-key-that-is-at-least-32-bytes";

const app = appWith({ WEBHOOK_URL, WEBHOOK_SECRET });
const send = app.send;

type Event = {
	id: string;
	type: string;
	created_at: string;
	data: { user_id: string; actor: "self" | "admin"; [key: string]: unknown };
};
type Delivery = { id: string; timestamp: string; signature: string; event: Event };

/** The receiver: accepts everything unless `respond` says otherwise. */
function fakeReceiver(respond?: FakeHandler) {
	fakeOrigin(RECEIVER, async (request) => (respond ? respond(request) : new Response(null, { status: 204 })));
}

/**
 * Every delivery the receiver got, each checked with the standardwebhooks package (the reference
 * implementation a backend would use): a bad signature, a stale timestamp or a missing header throws.
 */
function deliveries(userId?: string): Delivery[] {
	const verifier = new Webhook(WEBHOOK_SECRET);
	return requestsTo(RECEIVER)
		.map((request) => {
			expect(request.method).toBe("POST");
			expect(request.url).toBe(WEBHOOK_URL);
			expect(request.headers.get("content-type")).toBe("application/json");
			const headers = Object.fromEntries(request.headers);
			const event = verifier.verify(request.body, headers) as Event;
			return {
				id: headers["webhook-id"] as string,
				timestamp: headers["webhook-timestamp"] as string,
				signature: headers["webhook-signature"] as string,
				event,
			};
		})
		.filter((delivery) => userId === undefined || delivery.event.data.user_id === userId);
}

function eventsOf(userId: string): Event[] {
	return deliveries(userId).map((delivery) => delivery.event);
}

async function webhookRows(where = "1", ...params: unknown[]) {
	const { results } = await env.DB.prepare(
		`select id, subject, status, attempts, html, user_id, last_error from outbox where kind = 'webhook' and (${where})`,
	)
		.bind(...params)
		.all<{
			id: string;
			subject: string;
			status: string;
			attempts: number;
			html: string;
			user_id: string | null;
			last_error: string | null;
		}>();
	return results;
}

async function userIdOf(email: string): Promise<string | null> {
	const row = await env.DB.prepare("select id from users where email = ?").bind(email).first<{ id: string }>();
	return row?.id ?? null;
}

async function registered(email = uniqueEmail()) {
	const res = await send("POST", "/v1/auth/register", { body: { email, password: PASSWORD } });
	expect(res.status).toBe(202);
	const confirmToken = tokenFrom(await waitForMail(email), "/v1/auth/confirm");
	const userId = (await userIdOf(email)) as string;
	return { email, userId, confirmToken };
}

async function signedIn() {
	const user = await registered();
	expect((await send("POST", "/v1/auth/confirm", { body: { token: user.confirmToken } })).status).toBe(200);
	const res = await send("POST", "/v1/auth/login", { body: { email: user.email, password: PASSWORD } });
	expect(res.status).toBe(200);
	const { access_token } = (await res.json()) as { access_token: string };
	return { ...user, token: access_token };
}

async function resetPassword(email: string, password: string, mailNumber: number) {
	expect((await send("POST", "/v1/auth/password/forgot", { body: { email } })).status).toBe(202);
	const token = tokenFrom(await waitForMail(email, mailNumber), "/v1/auth/password/reset");
	const res = await send("POST", "/v1/auth/password/reset", { body: { token, password } });
	expect(res.status).toBe(200);
}

async function runCron(vars: Cloudflare.Env = app.env) {
	const ctx = createExecutionContext();
	await worker.scheduled(createScheduledController({ scheduledTime: new Date(), cron: "*/5 * * * *" }), vars, ctx);
	await waitOnExecutionContext(ctx);
}

beforeEach(() => {
	fakeReceiver();
	vi.spyOn(console, "warn").mockImplementation(() => {});
	vi.spyOn(console, "error").mockImplementation(() => {});
});

afterEach(() => {
	vi.restoreAllMocks();
	vi.useRealTimers();
});

describe("webhooks: happy", () => {
	it("registration sends user.created, signed the Standard Webhooks way", async () => {
		const { email, userId } = await registered();
		const [delivery, ...more] = deliveries(userId);
		expect(more).toEqual([]);
		expect(delivery?.event).toMatchObject({
			type: "user.created",
			data: { user_id: userId, actor: "self", email, via: "password" },
		});
		expect(delivery?.id).toBe(delivery?.event.id);
		expect(delivery?.signature).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
		expect(Math.abs(Number(delivery?.timestamp) - Date.now() / 1000)).toBeLessThan(60);
		expect(new Date(delivery?.event.created_at as string).toISOString()).toBe(delivery?.event.created_at);
		// Delivered: the row stays as a record, its body emptied.
		expect(await webhookRows("id = ?", delivery?.id)).toEqual([
			expect.objectContaining({ status: "sent", attempts: 1, html: "", user_id: null }),
		]);
	});

	it("the confirmation link sends user.confirmed once; a later reset sends only user.password_changed", async () => {
		const { email, userId, confirmToken } = await registered();
		expect((await send("POST", "/v1/auth/confirm", { body: { token: confirmToken } })).status).toBe(200);
		expect((await send("POST", "/v1/auth/confirm", { body: { token: confirmToken } })).status).toBe(409);
		await resetPassword(email, "another long passphrase", 2);
		expect(eventsOf(userId).map((event) => [event.type, event.data.actor, event.data.via])).toEqual([
			["user.created", "self", "password"],
			["user.confirmed", "self", undefined],
			["user.password_changed", "self", "reset"],
		]);
	});

	it("a reset of an unconfirmed account confirms it: user.password_changed and user.confirmed, then never again", async () => {
		const { email, userId, confirmToken } = await registered();
		await resetPassword(email, "another long passphrase", 2);
		// The confirmation link mailed before still works, but the email is already confirmed.
		await send("POST", "/v1/auth/confirm", { body: { token: confirmToken } });
		const types = eventsOf(userId).map((event) => event.type);
		expect(types.sort()).toEqual(["user.confirmed", "user.created", "user.password_changed"]);
	});

	it("an expired confirmation link of an unconfirmed account sends no user.confirmed", async () => {
		const { userId, confirmToken } = await registered();
		await env.DB.prepare("update verification_tokens set expires_at = 0 where user_id = ?").bind(userId).run();
		const confirmedRows = (await webhookRows("subject = 'user.confirmed'")).length;
		await expectProblem(
			await send("POST", "/v1/auth/confirm", { body: { token: confirmToken } }),
			410,
			"token_expired",
		);
		expect(eventsOf(userId).map((event) => event.type)).toEqual(["user.created"]);
		expect(await webhookRows("subject = 'user.confirmed'")).toHaveLength(confirmedRows);
	});

	it("changing and setting a password sends user.password_changed", async () => {
		const { userId, token } = await signedIn();
		const res = await send("PUT", "/v1/me/password", {
			token,
			body: { current_password: PASSWORD, new_password: "a different passphrase" },
		});
		expect(res.status).toBe(200);
		const changed = eventsOf(userId).filter((event) => event.type === "user.password_changed");
		expect(changed).toEqual([expect.objectContaining({ data: { user_id: userId, actor: "self", via: "change" } })]);
	});

	it("self deletion sends user.deleted with the actor self; admin deletion with the actor admin", async () => {
		const self = await signedIn();
		expect((await send("DELETE", "/v1/me", { token: self.token })).status).toBe(204);
		const other = await signedIn();
		expect((await send("DELETE", `/v1/admin/users/${other.userId}`, { token: ADMIN_KEY })).status).toBe(204);
		expect(eventsOf(self.userId).filter((event) => event.type === "user.deleted")).toEqual([
			expect.objectContaining({ data: { user_id: self.userId, actor: "self" } }),
		]);
		expect(eventsOf(other.userId).filter((event) => event.type === "user.deleted")).toEqual([
			expect.objectContaining({ data: { user_id: other.userId, actor: "admin" } }),
		]);
	});

	it("sends only the contract's event types", async () => {
		await signedIn();
		for (const { event } of deliveries()) expect(EVENT_TYPES).toContain(event.type);
	});
});

describe("webhooks: every other event type", () => {
	it("an email change sends user.email_changed with the new address", async () => {
		const { userId, token } = await signedIn();
		const newEmail = uniqueEmail("moved");
		expect((await send("POST", "/v1/me/email", { token, body: { new_email: newEmail } })).status).toBe(202);
		const link = tokenFrom(await waitForMail(newEmail), "/v1/auth/email/confirm");
		expect((await send("POST", "/v1/auth/email/confirm", { body: { token: link } })).status).toBe(200);
		const changed = eventsOf(userId).filter((event) => event.type === "user.email_changed");
		expect(changed).toEqual([expect.objectContaining({ data: { user_id: userId, actor: "self", email: newEmail } })]);
		// Already confirmed: the change confirms nothing new.
		expect(eventsOf(userId).filter((event) => event.type === "user.confirmed")).toHaveLength(1);
	});

	it("an admin disable sends user.disabled once (a second disable and an enable send nothing)", async () => {
		const { userId } = await signedIn();
		for (const path of ["disable", "disable", "enable"]) {
			expect((await send("POST", `/v1/admin/users/${userId}/${path}`, { token: ADMIN_KEY })).status).toBe(200);
		}
		const disabled = eventsOf(userId).filter((event) => event.type === "user.disabled");
		expect(disabled).toEqual([expect.objectContaining({ data: { user_id: userId, actor: "admin" } })]);
		expect(eventsOf(userId).map((event) => event.type)).toEqual(["user.created", "user.confirmed", "user.disabled"]);
	});

	it("turning TOTP on and off sends user.mfa_changed each time", async () => {
		const { userId, token } = await signedIn();
		const started = await send("POST", "/v1/me/mfa/totp", { token });
		const { secret } = (await started.json()) as { secret: string };
		expect((await send("POST", "/v1/me/mfa/totp/verify", { token, body: { code: totpCode(secret) } })).status).toBe(
			200,
		);
		nextStep();
		const off = await send("DELETE", "/v1/me/mfa/totp", { token, body: { code: totpCode(secret) } });
		expect(off.status).toBe(204);
		const changes = eventsOf(userId).filter((event) => event.type === "user.mfa_changed");
		expect(changes.map((event) => event.data)).toEqual([
			{ user_id: userId, actor: "self", change: "totp_enabled" },
			{ user_id: userId, actor: "self", change: "totp_disabled" },
		]);
	});

	it("adding and removing a passkey sends user.mfa_changed each time", async () => {
		const { userId, token } = await signedIn();
		const options = await send("POST", "/v1/me/passkeys/options", { token });
		const { challenge_id, options: creation } = (await options.json()) as {
			challenge_id: string;
			options: CreationOptions;
		};
		const credential = await new SoftwareAuthenticator("ES256").create(creation);
		const added = await send("POST", "/v1/me/passkeys", { token, body: { challenge_id, credential, name: "Key" } });
		expect(added.status).toBe(201);
		const { id } = (await added.json()) as { id: string };
		expect((await send("DELETE", `/v1/me/passkeys/${id}`, { token })).status).toBe(204);
		// Gone already: nothing is removed, nothing is reported.
		expect((await send("DELETE", `/v1/me/passkeys/${id}`, { token })).status).toBe(404);
		const changes = eventsOf(userId).filter((event) => event.type === "user.mfa_changed");
		expect(changes.map((event) => event.data.change)).toEqual(["passkey_added", "passkey_removed"]);
	});

	it("a magic-link sign-up sends user.created and user.confirmed", async () => {
		const email = uniqueEmail("magic");
		expect((await send("POST", "/v1/auth/magic-link", { body: { email } })).status).toBe(202);
		const link = tokenFrom(await waitForMail(email), "/v1/auth/magic-link");
		const verified = await send("POST", "/v1/auth/magic-link/verify", { body: { token: link } });
		expect(verified.status).toBe(200);
		const userId = (await userIdOf(email)) as string;
		// One batch, two events: their delivery order is not guaranteed (nor promised by the contract).
		expect(
			eventsOf(userId)
				.map((event) => [event.type, event.data.via])
				.sort(),
		).toEqual([
			["user.confirmed", undefined],
			["user.created", "magic_link"],
		]);
		// The account has no password yet: setting a first one is a password change too.
		const { access_token: token } = (await verified.json()) as { access_token: string };
		const first = await send("PUT", "/v1/me/password", { token, body: { new_password: "a first passphrase!" } });
		expect(first.status).toBe(200);
		expect(eventsOf(userId).filter((event) => event.type === "user.password_changed")).toEqual([
			expect.objectContaining({ data: { user_id: userId, actor: "self", via: "first_password" } }),
		]);
	});

	it("a magic link to an unconfirmed account sends user.confirmed once", async () => {
		const { email, userId, confirmToken } = await registered();
		expect((await send("POST", "/v1/auth/magic-link", { body: { email } })).status).toBe(202);
		const link = tokenFrom(await waitForMail(email, 2), "/v1/auth/magic-link");
		expect((await send("POST", "/v1/auth/magic-link/verify", { body: { token: link } })).status).toBe(200);
		// The claim ended the old confirmation link; nothing confirms twice either way.
		await send("POST", "/v1/auth/confirm", { body: { token: confirmToken } });
		expect(eventsOf(userId).map((event) => event.type)).toEqual(["user.created", "user.confirmed"]);
	});

	it("an OAuth sign-up with a verified email sends user.created and user.confirmed", async () => {
		const idp = new FakeIdentityProviders();
		idp.install();
		const user = fakeUser();
		// The browser round trip of helpers/oauth-fakes.ts, through this file's app.
		const jar = new CookieJar();
		const browse = async (path: string) => {
			const cookie = jar.header(new URL(path, "https://atrium.test").pathname);
			const res = await app.send("GET", path, { headers: cookie ? { Cookie: cookie } : {} });
			jar.store(res);
			return res;
		};
		const started = await browse("/v1/auth/oauth/github");
		expect(started.status).toBe(302);
		const query = idp.approve(started.headers.get("Location") as string, user);
		const done = await browse(`/v1/auth/oauth/github/callback?${new URLSearchParams(query)}`);
		expect(done.status).toBeLessThan(400);
		const userId = (await userIdOf((user.email as string).toLowerCase())) as string;
		expect(userId).not.toBeNull();
		// One batch, two events: their delivery order is not guaranteed (nor promised by the contract).
		expect(
			eventsOf(userId)
				.map((event) => [event.type, event.data.via])
				.sort(),
		).toEqual([
			["user.confirmed", undefined],
			["user.created", "github"],
		]);
	});
});

describe("webhooks: receiver failures and retries", () => {
	it("a receiver answering 500 does not fail the request; the retry keeps webhook-id with a fresh timestamp and signature", async () => {
		let calls = 0;
		fakeReceiver(() => {
			calls += 1;
			return new Response("down", { status: calls === 1 ? 500 : 200 });
		});
		const { userId } = await registered();
		const [row] = await webhookRows("subject = 'user.created' and status = 'pending' and attempts = 1");
		expect(row).toMatchObject({ last_error: "receiver answered 500" });
		// Sealed at rest like outbox mail: the event (and its email address) is not readable in the row.
		expect(row?.html).toMatch(/^v1\.[A-Za-z0-9_-]+$/);
		expect(row?.html).not.toContain(userId);
		// The cron retries once the backoff (a minute after the first failure) has passed.
		vi.useFakeTimers({ now: Date.now() + 2 * 60_000, toFake: ["Date"] });
		await runCron();
		const [first, retry, ...more] = deliveries(userId);
		expect(more).toEqual([]);
		expect(retry?.id).toBe(first?.id);
		expect(retry?.event).toEqual(first?.event);
		expect(Number(retry?.timestamp)).toBeGreaterThan(Number(first?.timestamp));
		expect(retry?.signature).not.toBe(first?.signature);
		expect(await webhookRows("id = ?", first?.id)).toEqual([expect.objectContaining({ status: "sent", attempts: 2 })]);
	});

	it("a receiver that refuses connections does not fail the request and leaves the row for the retry", async () => {
		fakeReceiver(() => {
			throw new TypeError("Network connection lost.");
		});
		const email = uniqueEmail();
		const res = await send("POST", "/v1/auth/register", { body: { email, password: PASSWORD } });
		expect(res.status).toBe(202);
		expect(app.backgroundErrors).toEqual([]);
		const userId = await userIdOf(email);
		expect(userId).not.toBeNull();
		const rows = await webhookRows("subject = 'user.created' and status = 'pending' and attempts = 1");
		expect(rows.some((row) => row.last_error?.includes("Network connection lost."))).toBe(true);
	});

	it("user.deleted survives the deletion of its account until the receiver takes it", async () => {
		const { email, userId, token } = await signedIn();
		fakeReceiver(() => new Response(null, { status: 503 }));
		expect((await send("DELETE", "/v1/me", { token })).status).toBe(204);
		expect(await userIdOf(email)).toBeNull();
		const [pending] = await webhookRows("subject = 'user.deleted' and status = 'pending'");
		expect(pending).toBeDefined();
		fakeReceiver();
		vi.useFakeTimers({ now: Date.now() + 2 * 60_000, toFake: ["Date"] });
		await runCron();
		expect(eventsOf(userId).filter((event) => event.type === "user.deleted")).toHaveLength(2);
		expect(await webhookRows("id = ?", pending?.id)).toEqual([expect.objectContaining({ status: "sent" })]);
	});

	it("gives up after the outbox's attempts and empties the body", async () => {
		fakeReceiver(() => new Response(null, { status: 500 }));
		await registered();
		const [row] = await webhookRows("subject = 'user.created' and status = 'pending' and attempts = 1");
		await env.DB.prepare("update outbox set attempts = 7, next_attempt_at = 0 where id = ?").bind(row?.id).run();
		await runCron();
		expect(await webhookRows("id = ?", row?.id)).toEqual([
			expect.objectContaining({ status: "failed", attempts: 8, html: "" }),
		]);
	});
});

describe("webhooks: security", () => {
	it("a secret without whsec_ signs with its UTF-8 bytes (checked independently with node:crypto)", async () => {
		const secret = "a plain webhook secret of 32+ bytes";
		const plain = appWith({ WEBHOOK_URL, WEBHOOK_SECRET: secret });
		const email = uniqueEmail();
		expect((await plain.send("POST", "/v1/auth/register", { body: { email, password: PASSWORD } })).status).toBe(202);
		const userId = (await userIdOf(email)) as string;
		const [request] = requestsTo(RECEIVER).filter((r) => r.body.includes(userId));
		const id = request?.headers.get("webhook-id");
		const timestamp = request?.headers.get("webhook-timestamp");
		const expected = createHmac("sha256", Buffer.from(secret, "utf8"))
			.update(`${id}.${timestamp}.${request?.body}`)
			.digest("base64");
		expect(request?.headers.get("webhook-signature")).toBe(`v1,${expected}`);
		// The file's whsec_ secret does not verify it: one secret's signature is not another's.
		const headers = Object.fromEntries(request?.headers ?? []);
		expect(() => new Webhook(WEBHOOK_SECRET).verify(request?.body as string, headers)).toThrow();
	});

	it("a tampered body or a stale timestamp does not verify", async () => {
		const { userId } = await registered();
		const [delivery] = requestsTo(RECEIVER).filter((r) => r.body.includes(userId));
		if (!delivery) throw new Error("no delivery");
		const headers = Object.fromEntries(delivery.headers);
		const verifier = new Webhook(WEBHOOK_SECRET);
		expect(() => verifier.verify(delivery.body, headers)).not.toThrow();
		expect(() => verifier.verify(delivery.body.replace("user.created", "user.deleted"), headers)).toThrow();
		const stale = { ...headers, "webhook-timestamp": String(Number(headers["webhook-timestamp"]) - 3600) };
		expect(() => verifier.verify(delivery.body, stale)).toThrow();
	});
});

describe("webhooks: errors", () => {
	it("a D1 failure on the event's insert leaves no account behind (the event is in the change's batch)", async () => {
		const email = uniqueEmail();
		// With webhooks on, the first outbox insert of a registration is its event, in the user's batch.
		const outboxInserts: string[] = [];
		const restore = interceptPrepare((query, prepare) => {
			if (query.startsWith('insert into "outbox"')) {
				outboxInserts.push(query);
				if (outboxInserts.length === 1) throw new Error("D1_ERROR: Network connection lost.");
			}
			return prepare(query);
		});
		let res: Response;
		try {
			res = await send("POST", "/v1/auth/register", { body: { email, password: PASSWORD } });
		} finally {
			restore();
		}
		await expectProblem(res, 503, "service_unavailable");
		expect(outboxInserts).toHaveLength(1);
		expect(await userIdOf(email)).toBeNull();
		expect(deliveries()).toEqual([]);
	});

	it("a D1 failure on the password update leaves no user.password_changed event", async () => {
		const { userId, token } = await signedIn();
		const before = (await webhookRows()).length;
		const restore = interceptPrepare((query, prepare) => {
			if (/^update "users" set "password_hash"/.test(query)) throw new Error("D1_ERROR: Network connection lost.");
			return prepare(query);
		});
		let res: Response;
		try {
			res = await send("PUT", "/v1/me/password", {
				token,
				body: { current_password: PASSWORD, new_password: "a different passphrase" },
			});
		} finally {
			restore();
		}
		await expectProblem(res, 503, "service_unavailable");
		expect((await webhookRows()).length).toBe(before);
		expect(eventsOf(userId).map((event) => event.type)).not.toContain("user.password_changed");
	});
});

describe("webhooks: configuration", () => {
	it.each([
		["WEBHOOK_URL only", { WEBHOOK_URL, WEBHOOK_SECRET: "" }],
		["WEBHOOK_SECRET only", { WEBHOOK_URL: "", WEBHOOK_SECRET }],
		["neither", { WEBHOOK_URL: "", WEBHOOK_SECRET: "" }],
	])("off with %s: no rows, no requests", async (_, vars) => {
		const off = appWith(vars);
		const email = uniqueEmail();
		const rowsBefore = (await webhookRows()).length;
		expect((await off.send("POST", "/v1/auth/register", { body: { email, password: PASSWORD } })).status).toBe(202);
		const userId = (await userIdOf(email)) as string;
		await off.send("POST", "/v1/auth/confirm", {
			body: { token: tokenFrom(await waitForMail(email), "/v1/auth/confirm") },
		});
		expect((await webhookRows()).length).toBe(rowsBefore);
		expect(deliveries(userId)).toEqual([]);
	});

	it.each([
		["plain http outside local development", { ENVIRONMENT: "production", WEBHOOK_URL: "http://hooks.example/x" }],
		["http to another host in development", { ENVIRONMENT: "development", WEBHOOK_URL: "http://hooks.example/x" }],
		["not a URL", { WEBHOOK_URL: "hooks.example" }],
		["credentials in the URL", { WEBHOOK_URL: "https://user:pass@hooks.example/x" }],
		["a short secret", { WEBHOOK_SECRET: "too-short-secret" }],
		["a whsec_ secret of 16 bytes", { WEBHOOK_SECRET: `whsec_${btoa("0123456789abcdef")}` }],
		["a whsec_ secret that is not base64", { WEBHOOK_SECRET: "whsec_not base64 at all, really not!!" }],
	])("rejects %s", (_, vars) => {
		const bad = { ...env, WEBHOOK_URL, WEBHOOK_SECRET, ...vars } as Cloudflare.Env;
		expect(() => loadConfig(bad)).toThrow(ConfigError);
		const message = (() => {
			try {
				loadConfig(bad);
			} catch (error) {
				return (error as Error).message;
			}
		})();
		expect(message).toMatch(/WEBHOOK_(URL|SECRET)/);
		// The message names the variable, never the secret's value.
		expect(message).not.toContain(WEBHOOK_SECRET.slice(6, 20));
	});

	it("accepts http://127.0.0.1 in development and a 32-byte plain secret", () => {
		const config = loadConfig({
			...env,
			ENVIRONMENT: "development",
			WEBHOOK_URL: "http://127.0.0.1:8788/webhooks",
			WEBHOOK_SECRET: "a plain secret of at least 32 bytes!",
		} as Cloudflare.Env);
		expect(config.webhook?.url).toBe("http://127.0.0.1:8788/webhooks");
		expect(config.webhook?.signingKey).toEqual(new TextEncoder().encode("a plain secret of at least 32 bytes!"));
	});
});
