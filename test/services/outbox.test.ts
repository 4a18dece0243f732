import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../src/config";
import worker from "../../src/index";
import { PASSWORD, register, send, signedInUser, uniqueEmail } from "../helpers/api";
import { fakeResend, mailsTo, tokenFrom, waitForMail } from "../helpers/resend";

type OutboxRow = { id: string; user_id: string | null; status: string; html: string; text: string; expires_at: number };

async function outboxOf(email: string): Promise<OutboxRow[]> {
	const { results } = await env.DB.prepare(
		"select id, user_id, status, html, text, expires_at from outbox where to_address = ? order by created_at",
	)
		.bind(email)
		.all<OutboxRow>();
	return results;
}

async function runCron() {
	const ctx = createExecutionContext();
	await worker.scheduled(createScheduledController({ scheduledTime: new Date(), cron: "*/5 * * * *" }), env, ctx);
	await waitOnExecutionContext(ctx);
}

describe("outbox bodies never hold a readable live link (item 6)", () => {
	it("security: a pending message's body is encrypted at rest; the link is not in the row", async () => {
		// Resend down: the message stays pending with its (encrypted) body.
		fakeResend(() => Response.json({ message: "boom", name: "internal_server_error" }, { status: 500 }));
		const email = uniqueEmail();
		expect((await send("POST", "/v1/auth/register", { body: { email, password: PASSWORD } })).status).toBe(202);
		const attempted = await waitForMail(email);
		const token = tokenFrom(attempted, "/v1/auth/confirm");
		const [row] = await vi.waitFor(async () => {
			const rows = await outboxOf(email);
			expect(rows[0]?.status).toBe("pending");
			return rows;
		});
		expect(row?.html).toMatch(/^v1\.[A-Za-z0-9_-]+$/);
		expect(row?.text).toMatch(/^v1\.[A-Za-z0-9_-]+$/);
		expect(JSON.stringify(row)).not.toContain(token);
		expect(row?.user_id).toBeTruthy();
		// It still delivers once Resend is back, with the link intact.
		fakeResend();
		vi.useFakeTimers({ toFake: ["Date"] });
		vi.setSystemTime(Date.now() + 61_000);
		await runCron();
		vi.useRealTimers();
		const delivered = await waitForMail(email, 2);
		expect(tokenFrom(delivered, "/v1/auth/confirm")).toBe(token);
		expect((await outboxOf(email))[0]).toMatchObject({ status: "sent", html: "", text: "" });
	});

	it("security: a message that failed for good is emptied", async () => {
		fakeResend(() =>
			Response.json({ statusCode: 422, message: "bad address", name: "validation_error" }, { status: 422 }),
		);
		const email = uniqueEmail();
		await send("POST", "/v1/auth/register", { body: { email, password: PASSWORD } });
		await waitForMail(email);
		const rows = await vi.waitFor(async () => {
			const found = await outboxOf(email);
			expect(found[0]?.status).toBe("failed");
			return found;
		});
		expect(rows[0]).toMatchObject({ html: "", text: "" });
	});

	it("security: the cron empties pending messages whose link has expired and does not send them", async () => {
		fakeResend(() => Response.json({ message: "boom", name: "internal_server_error" }, { status: 500 }));
		const email = uniqueEmail();
		await send("POST", "/v1/auth/register", { body: { email, password: PASSWORD } });
		await waitForMail(email);
		const [row] = await vi.waitFor(async () => {
			const rows = await outboxOf(email);
			expect(rows[0]?.status).toBe("pending");
			return rows;
		});
		// Its link (CONFIRMATION_TTL_SECONDS, 30 minutes) is past; the retry is due too.
		await env.DB.prepare("update outbox set expires_at = ?, next_attempt_at = ? where id = ?")
			.bind(Date.now() - 1000, Date.now() - 1000, row?.id)
			.run();
		fakeResend();
		await runCron();
		expect((await outboxOf(email))[0]).toMatchObject({ status: "failed", html: "", text: "" });
		// Not sent: still only the one failed attempt.
		await new Promise((resolve) => setTimeout(resolve, 50));
		expect(mailsTo(email)).toHaveLength(1);
	});

	it("security: deleting the account removes its outbox rows", async () => {
		const { email, token } = await signedInUser();
		expect((await outboxOf(email)).length).toBeGreaterThan(0);
		expect((await send("DELETE", "/v1/me", { token })).status).toBe(204);
		expect(await outboxOf(email)).toEqual([]);
	});

	it("error: a body encrypted under another ENCRYPTION_KEY is never sent and is emptied", async () => {
		fakeResend(() => Response.json({ message: "boom", name: "internal_server_error" }, { status: 500 }));
		const { email } = await register();
		const [row] = await vi.waitFor(async () => {
			const rows = await outboxOf(email);
			expect(rows[0]?.status).toBe("pending");
			return rows;
		});
		// Move the ciphertext to another row id: bound to its row, it no longer decrypts.
		await env.DB.prepare(
			"insert into outbox (id, user_id, to_address, subject, html, text, status, attempts, next_attempt_at, expires_at) select 'moved-' || id, user_id, to_address, subject, html, text, 'pending', 0, ?, expires_at from outbox where id = ?",
		)
			.bind(Date.now() - 1000, row?.id)
			.run();
		await env.DB.prepare("delete from outbox where id = ?").bind(row?.id).run();
		fakeResend();
		await runCron();
		const rows = await outboxOf(email);
		expect(rows).toHaveLength(1);
		expect(rows[0]).toMatchObject({ status: "failed", html: "", text: "" });
	});
});

describe("ENCRYPTION_KEY configuration (item 6)", () => {
	const base = { ...env, ENVIRONMENT: "production", JWT_SECRET: "x".repeat(40) };

	it("error: missing or shorter than 32 bytes outside local development is a configuration error", () => {
		expect(() => loadConfig({ ...base, ENCRYPTION_KEY: undefined } as Cloudflare.Env)).toThrow(/ENCRYPTION_KEY/);
		expect(() => loadConfig({ ...base, ENCRYPTION_KEY: "k".repeat(31) } as Cloudflare.Env)).toThrow(/ENCRYPTION_KEY/);
	});

	it("happy: 32 bytes are enough, and local development works without one", () => {
		expect(loadConfig({ ...base, ENCRYPTION_KEY: "k".repeat(32) } as Cloudflare.Env).ENCRYPTION_KEY).toBe(
			"k".repeat(32),
		);
		const local = loadConfig({ ...env, ENVIRONMENT: "development", ENCRYPTION_KEY: undefined } as Cloudflare.Env);
		expect(local.ENCRYPTION_KEY.length).toBeGreaterThanOrEqual(32);
	});

	it("security: the error names the variable, never a value", () => {
		const secret = "short-secret-value";
		try {
			loadConfig({ ...base, ENCRYPTION_KEY: secret } as Cloudflare.Env);
			expect.unreachable();
		} catch (error) {
			expect(String(error)).not.toContain(secret);
		}
	});
});

describe("the retention job prunes settled outbox rows", () => {
	const DAY = 86_400_000;

	async function insertRow(id: string, kind: "mail" | "webhook", status: string, nextAttemptAt: number) {
		await env.DB.prepare(
			`insert into outbox (id, kind, to_address, subject, html, text, status, next_attempt_at)
			 values (?, ?, '', 'user.created', '', '', ?, ?)`,
		)
			.bind(id, kind, status, nextAttemptAt)
			.run();
	}

	async function remaining(ids: string[]): Promise<string[]> {
		const { results } = await env.DB.prepare(
			`select id from outbox where id in (${ids.map(() => "?").join(", ")}) order by id`,
		)
			.bind(...ids)
			.all<{ id: string }>();
		return results.map((row) => row.id);
	}

	/** The hourly tick (first minutes of an hour), which runs the retention job. */
	async function runHourlyCron() {
		const hour = new Date();
		hour.setUTCMinutes(0, 0, 0);
		const ctx = createExecutionContext();
		await worker.scheduled(createScheduledController({ scheduledTime: hour, cron: "*/5 * * * *" }), env, ctx);
		await waitOnExecutionContext(ctx);
	}

	it("deletes sent and failed rows past AUDIT_RETENTION_DAYS, mail and webhook alike", async () => {
		const retention = loadConfig(env).AUDIT_RETENTION_DAYS;
		const old = Date.now() - (retention + 1) * DAY;
		await insertRow("prune-old-sent-mail", "mail", "sent", old);
		await insertRow("prune-old-failed-mail", "mail", "failed", old);
		await insertRow("prune-old-sent-webhook", "webhook", "sent", old);
		await runHourlyCron();
		expect(await remaining(["prune-old-sent-mail", "prune-old-failed-mail", "prune-old-sent-webhook"])).toEqual([]);
	});

	it("keeps recent settled rows and every pending row, however old", async () => {
		const retention = loadConfig(env).AUDIT_RETENTION_DAYS;
		await insertRow("keep-recent-sent", "mail", "sent", Date.now() - (retention - 1) * DAY);
		// A webhook row: with webhooks off in tests, the cron leaves it pending rather than sending it.
		await insertRow("keep-old-pending", "webhook", "pending", Date.now() - (retention + 30) * DAY);
		await runHourlyCron();
		expect(await remaining(["keep-old-pending", "keep-recent-sent"])).toEqual(["keep-old-pending", "keep-recent-sent"]);
	});
});
