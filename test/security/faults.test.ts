import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createDb } from "../../src/db/client";
import worker from "../../src/index";
import { createApp } from "../../src/app";
import { sweepOrphans } from "../../src/services/sweep";
import { PASSWORD, expectProblem, signedInUser, uniqueEmail } from "../helpers/api";
import { failNextBatch, interceptPrepare } from "../helpers/d1-recorder";
import { type ImageJson, keysUnder, pngOf } from "../helpers/images";
import { fakeOrigin } from "../helpers/network";
import { RESEND_ORIGIN, fakeResend, mailsTo, tokenFrom, waitForMail } from "../helpers/resend";
import { type SendOptions, appWith } from "../helpers/worker";

// What the platform throws when D1 or R2 drop out (messages as the runtime words them).
const D1_OUTAGE = "D1_ERROR: Network connection lost.";
const R2_OUTAGE = (op: string) => `${op}: We encountered an internal error. Please try again. (10001)`;

const app = appWith({});
const RECEIVER = "https://hooks.test";
const WEBHOOKS = { WEBHOOK_URL: `${RECEIVER}/atrium`, WEBHOOK_SECRET: "a webhook secret of at least thirty-two bytes" };
const db = createDb(env.DB);

beforeEach(() => {
	// Outages are logged loudly by design; keep them out of the test output.
	vi.spyOn(console, "error").mockImplementation(() => {});
	vi.spyOn(console, "warn").mockImplementation(() => {});
});

afterEach(() => {
	vi.restoreAllMocks();
	vi.useRealTimers();
});

/**
 * Makes the `n`-th D1 statement prepared from now on (1-based; batch members count one each) fail
 * as an outage would, before it takes effect. `n = 0` fails nothing and only counts.
 */
function failNthStatement(n: number) {
	const statements: string[] = [];
	const restore = interceptPrepare((query, prepare) => {
		statements.push(query);
		if (statements.length === n) throw new Error(D1_OUTAGE);
		return prepare(query);
	});
	return { statements, restore };
}

/** Runs one request with its `n`-th statement failing; returns the response and how many statements it prepared. */
async function withNthStatementFailing(n: number, request: () => Promise<Response>) {
	const fault = failNthStatement(n);
	try {
		const res = await request();
		return { res, statements: fault.statements.length };
	} finally {
		fault.restore();
	}
}

/** A 503 problem the client may retry: service_unavailable with Retry-After. */
async function expectRetryable(res: Response) {
	await expectProblem(res, 503, "service_unavailable");
	expect(res.headers.get("Retry-After")).toMatch(/^\d+$/);
}

const send = (method: string, path: string, options?: SendOptions) => app.send(method, path, options);

async function count(sql: string, ...params: unknown[]): Promise<number> {
	const row = await env.DB.prepare(sql)
		.bind(...params)
		.first<{ n: number }>();
	return row?.n ?? 0;
}

describe("D1 failing mid-request", () => {
	it("register: whichever statement fails, the answer is 202 or a retryable 503, and the account can always be confirmed", async () => {
		const dryRun = await withNthStatementFailing(0, () =>
			send("POST", "/v1/auth/register", { body: { email: uniqueEmail(), password: PASSWORD } }),
		);
		expect(dryRun.res.status).toBe(202);
		expect(dryRun.statements).toBeGreaterThanOrEqual(6);
		const outcomes: number[] = [];
		for (let n = 1; n <= dryRun.statements; n++) {
			const email = uniqueEmail(`fault${n}`);
			const { res } = await withNthStatementFailing(n, () =>
				send("POST", "/v1/auth/register", { body: { email, password: PASSWORD } }),
			);
			outcomes.push(res.status);
			if (res.status === 503) await expectRetryable(res);
			else expect(res.status).toBe(202);

			const users = await count("select count(*) as n from users where email = ?", email);
			if (users === 0) {
				// Nothing was kept, so nothing can be orphaned: no mail queued for the address.
				expect(await count("select count(*) as n from outbox where to_address = ?", email)).toBe(0);
				expect((await send("POST", "/v1/auth/register", { body: { email, password: PASSWORD } })).status).toBe(202);
			} else {
				// The account exists: asking for a new link (what the pages offer) must lead to a working one.
				const before = mailsTo(email).length;
				expect((await send("POST", "/v1/auth/confirm/resend", { body: { email } })).status).toBe(202);
				await waitForMail(email, before + 1);
			}
			const link = tokenFrom(
				mailsTo(email).at(-1) as NonNullable<ReturnType<typeof mailsTo>[number]>,
				"/v1/auth/confirm",
			);
			expect((await send("POST", "/v1/auth/confirm", { body: { token: link } })).status).toBe(200);
			expect((await send("POST", "/v1/auth/login", { body: { email, password: PASSWORD } })).status).toBe(200);
		}
		// The statements before the response fail it; those after it (mail delivery, audit) cannot.
		expect(outcomes).toContain(503);
		expect(outcomes).toContain(202);
	});

	it("login: a failing statement never leaves a session without its refresh token, and the next login works", async () => {
		const { email, userId } = await signedInUser();
		const dryRun = await withNthStatementFailing(0, () =>
			send("POST", "/v1/auth/login", { body: { email, password: PASSWORD } }),
		);
		expect(dryRun.res.status).toBe(200);
		let sessions = 1 + 1; // signedInUser's and the dry run's
		for (let n = 1; n <= dryRun.statements; n++) {
			const { res } = await withNthStatementFailing(n, () =>
				send("POST", "/v1/auth/login", { body: { email, password: PASSWORD } }),
			);
			if (res.status === 200) sessions += 1;
			else await expectRetryable(res);
			expect(await count("select count(*) as n from sessions where user_id = ?", userId)).toBe(sessions);
			const orphans = await count(
				"select count(*) as n from sessions s where s.user_id = ? and not exists (select 1 from refresh_tokens r where r.session_id = s.id)",
				userId,
			);
			expect(orphans).toBe(0);
		}
		expect((await send("POST", "/v1/auth/login", { body: { email, password: PASSWORD } })).status).toBe(200);
	});

	it("register with webhooks on: whichever statement fails, the account and its user.created event exist together or not at all", async () => {
		const hooks = appWith(WEBHOOKS);
		fakeOrigin(RECEIVER, () => new Response(null, { status: 204 }));
		const events = () => count("select count(*) as n from outbox where kind = 'webhook' and subject = 'user.created'");
		const register = (email: string) =>
			hooks.send("POST", "/v1/auth/register", { body: { email, password: PASSWORD } });
		const dryRun = await withNthStatementFailing(0, () => register(uniqueEmail()));
		expect(dryRun.res.status).toBe(202);
		const outcomes: number[] = [];
		for (let n = 1; n <= dryRun.statements; n++) {
			const email = uniqueEmail(`hookfault${n}`);
			const before = await events();
			const { res } = await withNthStatementFailing(n, () => register(email));
			outcomes.push(res.status);
			if (res.status === 503) await expectRetryable(res);
			else expect(res.status).toBe(202);
			const users = await count("select count(*) as n from users where email = ?", email);
			expect({ n, events: (await events()) - before }).toEqual({ n, events: users });
		}
		expect(outcomes).toContain(503);
		expect(outcomes).toContain(202);
	});

	it("confirm and reset are all-or-nothing: a failed spend leaves the token usable", async () => {
		const email = uniqueEmail();
		expect((await send("POST", "/v1/auth/register", { body: { email, password: PASSWORD } })).status).toBe(202);
		const token = tokenFrom(await waitForMail(email), "/v1/auth/confirm");
		failNextBatch(new Error(D1_OUTAGE));
		await expectRetryable(await send("POST", "/v1/auth/confirm", { body: { token } }));
		expect(await count("select count(*) as n from users where email = ? and email_confirmed_at is null", email)).toBe(
			1,
		);
		expect((await send("POST", "/v1/auth/confirm", { body: { token } })).status).toBe(200);

		expect((await send("POST", "/v1/auth/password/forgot", { body: { email } })).status).toBe(202);
		const reset = tokenFrom(await waitForMail(email, 2), "/v1/auth/password/reset");
		failNextBatch(new Error(D1_OUTAGE));
		await expectRetryable(
			await send("POST", "/v1/auth/password/reset", { body: { token: reset, password: "new passphrase here" } }),
		);
		expect((await send("POST", "/v1/auth/login", { body: { email, password: PASSWORD } })).status).toBe(200);
		const retried = await send("POST", "/v1/auth/password/reset", {
			body: { token: reset, password: "new passphrase here" },
		});
		expect(retried.status).toBe(200);
	});

	it("SQL mistakes are not outages: they stay 500 internal_error, without Retry-After", async () => {
		interceptPrepare((query, prepare) => {
			if (/from "users"/.test(query))
				throw new Error("D1_ERROR: UNIQUE constraint failed: users.email: SQLITE_CONSTRAINT");
			return prepare(query);
		});
		const res = await send("POST", "/v1/auth/login", { body: { email: uniqueEmail(), password: PASSWORD } });
		await expectProblem(res, 500, "internal_error");
		expect(res.headers.get("Retry-After")).toBeNull();
	});
});

describe("R2 failing", () => {
	async function upload(token: string, bytes = pngOf(3, 2)) {
		return app.fetch(
			new Request("https://atrium.test/v1/images?filename=a.png", {
				method: "POST",
				headers: { Authorization: `Bearer ${token}`, "Content-Type": "image/png" },
				body: bytes,
			}),
		);
	}

	it("on put: a retryable 503, and neither an object nor a row is left; the retry works", async () => {
		const { token, userId } = await signedInUser();
		vi.spyOn(env.IMAGES, "put").mockRejectedValueOnce(new Error(R2_OUTAGE("put")));
		await expectRetryable(await upload(token));
		expect(await keysUnder(`users/${userId}/`)).toEqual([]);
		expect(await count("select count(*) as n from images where user_id = ?", userId)).toBe(0);
		expect((await upload(token)).status).toBe(201);
	});

	it("upload with any D1 statement failing: no object outlives its missing row", async () => {
		const { token, userId } = await signedInUser();
		const dryRun = await withNthStatementFailing(0, () => upload(token));
		expect(dryRun.res.status).toBe(201);
		for (let n = 1; n <= dryRun.statements; n++) {
			const { res } = await withNthStatementFailing(n, () => upload(token));
			if (res.status !== 201) await expectRetryable(res);
			const rows = await env.DB.prepare("select id from images where user_id = ?").bind(userId).all<{ id: string }>();
			const keys = await keysUnder(`users/${userId}/images/`);
			expect(keys.sort()).toEqual(rows.results.map((row) => `users/${userId}/images/${row.id}`).sort());
		}
	});

	it("on delete of an image: answered 204 (the row is gone), and the sweep removes the leftover object", async () => {
		const { token, userId } = await signedInUser();
		const image = (await (await upload(token)).json()) as ImageJson;
		vi.spyOn(env.IMAGES, "delete").mockRejectedValueOnce(new Error(R2_OUTAGE("delete")));
		expect((await send("DELETE", `/v1/images/${image.id}`, { token })).status).toBe(204);
		expect(await keysUnder(`users/${userId}/images/`)).toEqual([`users/${userId}/images/${image.id}`]);
		await sweepOrphans(db, env.IMAGES, { graceMs: 0, now: Date.now() + 1000 });
		expect(await keysUnder(`users/${userId}/`)).toEqual([]);
	});

	it("on account deletion: R2 or D1 failing answers 503 and the retry removes everything", async () => {
		const { token, userId, email } = await signedInUser();
		await upload(token);
		await upload(token);
		const everything = async () => ({
			users: await count("select count(*) as n from users where id = ?", userId),
			images: await count("select count(*) as n from images where user_id = ?", userId),
			objects: (await keysUnder(`users/${userId}/`)).length,
		});

		vi.spyOn(env.IMAGES, "delete").mockRejectedValueOnce(new Error(R2_OUTAGE("delete")));
		await expectRetryable(await send("DELETE", "/v1/me", { token }));
		expect(await everything()).toEqual({ users: 1, images: 2, objects: 2 });

		failNextBatch(new Error(D1_OUTAGE));
		await expectRetryable(await send("DELETE", "/v1/me", { token }));
		// The account is still there and still usable; its objects went first and the retry finishes.
		expect((await everything()).users).toBe(1);
		expect((await send("POST", "/v1/auth/login", { body: { email, password: PASSWORD } })).status).toBe(200);

		expect((await send("DELETE", "/v1/me", { token })).status).toBe(204);
		expect(await everything()).toEqual({ users: 0, images: 0, objects: 0 });
	});
});

describe("webhook receiver failing or hanging", () => {
	it("a hanging receiver does not hold the response; the event waits in the outbox and the cron delivers it", async () => {
		let release: (() => void) | undefined;
		const stalled = new Promise<void>((resolve) => {
			release = resolve;
		});
		fakeOrigin(RECEIVER, async () => {
			await stalled;
			throw new DOMException("The operation was aborted due to timeout", "TimeoutError");
		});
		const email = uniqueEmail();
		// The app itself, without waiting for its waitUntil work (the delivery), as the runtime answers.
		const ctx = createExecutionContext();
		const hooked = { ...env, ...WEBHOOKS };
		const request = new Request("https://atrium.test/v1/auth/register", {
			method: "POST",
			headers: { "Content-Type": "application/json" },
			body: JSON.stringify({ email, password: PASSWORD }),
		});
		const res = await createApp().fetch(request, hooked, ctx);
		expect(res.status).toBe(202);
		const pending = "select count(*) as n from outbox where kind = 'webhook' and status = 'pending' and attempts = ?";
		const before = await count(pending, 1);
		release?.();
		await waitOnExecutionContext(ctx);
		expect(await count(pending, 1)).toBe(before + 1);

		let delivered = 0;
		fakeOrigin(RECEIVER, () => {
			delivered += 1;
			return new Response(null, { status: 204 });
		});
		vi.useFakeTimers({ toFake: ["Date"] });
		vi.setSystemTime(Date.now() + 61_000);
		const cron = createExecutionContext();
		await worker.scheduled(createScheduledController({ scheduledTime: new Date(), cron: "*/5 * * * *" }), hooked, cron);
		await waitOnExecutionContext(cron);
		vi.useRealTimers();
		expect(delivered).toBeGreaterThanOrEqual(1);
		expect(await count(pending, 1)).toBe(0);
	});
});

describe("Resend failing or timing out", () => {
	it("a hanging Resend does not hold the response; the message waits in the outbox and the cron delivers it", async () => {
		let release: (() => void) | undefined;
		const stalled = new Promise<void>((resolve) => {
			release = resolve;
		});
		fakeOrigin(RESEND_ORIGIN, async () => {
			await stalled;
			throw new DOMException("The operation was aborted due to timeout", "TimeoutError");
		});
		const email = uniqueEmail();
		// Through the real worker: its waitUntil work (delivery) is not awaited by the caller.
		const { send: sendDefault } = await import("../helpers/api");
		const res = await sendDefault("POST", "/v1/auth/register", { body: { email, password: PASSWORD } });
		expect(res.status).toBe(202);
		expect(await count("select count(*) as n from outbox where to_address = ? and status = 'pending'", email)).toBe(1);
		release?.();
		await vi.waitFor(async () => {
			const row = await env.DB.prepare("select status, attempts from outbox where to_address = ?")
				.bind(email)
				.first<{ status: string; attempts: number }>();
			expect(row).toEqual({ status: "pending", attempts: 1 });
		});

		fakeResend();
		vi.useFakeTimers({ toFake: ["Date"] });
		vi.setSystemTime(Date.now() + 61_000);
		const ctx = createExecutionContext();
		await worker.scheduled(createScheduledController({ scheduledTime: new Date(), cron: "*/5 * * * *" }), env, ctx);
		await waitOnExecutionContext(ctx);
		vi.useRealTimers();
		const mail = await waitForMail(email);
		expect(
			(await send("POST", "/v1/auth/confirm", { body: { token: tokenFrom(mail, "/v1/auth/confirm") } })).status,
		).toBe(200);
	});

	it("Resend answering 500: register still 202, the account exists and resend gives a working link", async () => {
		fakeResend(() => Response.json({ name: "internal_server_error", message: "boom" }, { status: 500 }));
		const email = uniqueEmail();
		expect((await send("POST", "/v1/auth/register", { body: { email, password: PASSWORD } })).status).toBe(202);
		expect(
			await count(
				"select count(*) as n from outbox where to_address = ? and status = 'pending' and attempts = 1",
				email,
			),
		).toBe(1);
		fakeResend();
		expect((await send("POST", "/v1/auth/confirm/resend", { body: { email } })).status).toBe(202);
		const mail = await waitForMail(email, 2);
		expect(
			(await send("POST", "/v1/auth/confirm", { body: { token: tokenFrom(mail, "/v1/auth/confirm") } })).status,
		).toBe(200);
	});
});
