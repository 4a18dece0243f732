import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import {
	countRoundTrips,
	createCountingDb,
	createCountingReadDb,
	createDb,
	createReadDb,
	type QueryCounter,
} from "../../src/db/client";
import { users } from "../../src/db/schema";
import { BASE, api, signedInUser, uniqueEmail } from "../helpers/api";

const app = createApp();

/** Sends a request through a fresh app under another ENVIRONMENT (the pool's own is "test"). */
async function fetchAs(environment: string, path: string, init: RequestInit = {}): Promise<Response> {
	const ctx = createExecutionContext();
	const res = await app.fetch(new Request(new URL(path, BASE), init), { ...env, ENVIRONMENT: environment }, ctx);
	await waitOnExecutionContext(ctx);
	return res;
}

function newUser(id: string) {
	return { id, email: uniqueEmail("timing"), locale: "en", updatedAt: new Date() };
}

describe("server timing: happy", () => {
	it("reports the D1 round trips of a request in development", async () => {
		const res = await fetchAs("development", "/health");
		expect(res.status).toBe(200);
		expect(res.headers.get("Server-Timing")).toBe('d1;desc="1 round trip"');
	});

	it("counts the session lookup of an authenticated request once", async () => {
		const { token } = await signedInUser();
		const res = await fetchAs("development", "/v1/me", { headers: { Authorization: `Bearer ${token}` } });
		expect(res.status).toBe(200);
		expect(res.headers.get("Server-Timing")).toBe('d1;desc="1 round trip"');
	});

	it("counts each statement once and a whole batch as one round trip", async () => {
		const counter: QueryCounter = { roundTrips: 0 };
		const db = createCountingDb(env.DB);
		const [first, second] = [crypto.randomUUID(), crypto.randomUUID()];

		await countRoundTrips(counter, async () => {
			await db.batch([db.insert(users).values(newUser(first)), db.insert(users).values(newUser(second))]);
			expect(counter.roundTrips).toBe(1);

			const row = await db.select().from(users).where(eq(users.id, first)).get();
			const rows = await db.select({ id: users.id }).from(users).where(eq(users.id, second)).all();
			await db.update(users).set({ name: "Ada" }).where(eq(users.id, first)).run();
			expect(row?.id).toBe(first);
			expect(rows).toEqual([{ id: second }]);
		});
		expect(counter.roundTrips).toBe(4);
	});

	it("keeps the counts of interleaved requests apart", async () => {
		const db = createCountingDb(env.DB);
		const one: QueryCounter = { roundTrips: 0 };
		const two: QueryCounter = { roundTrips: 0 };
		const select = () => db.select({ id: users.id }).from(users).limit(1).all();
		await Promise.all([
			countRoundTrips(one, async () => {
				await select();
				await select();
				await select();
			}),
			countRoundTrips(two, () => select()),
		]);
		await select();
		expect([one.roundTrips, two.roundTrips]).toEqual([3, 1]);
	});

	it("builds the database client once per binding", () => {
		expect(createDb(env.DB)).toBe(createDb(env.DB));
		expect(createReadDb(env.DB)).toBe(createReadDb(env.DB));
		expect(createCountingReadDb(env.DB)).toBe(createCountingReadDb(env.DB));
		expect(createCountingDb(env.DB)).toBe(createCountingDb(env.DB));
		expect(createCountingDb(env.DB)).not.toBe(createDb(env.DB));
	});
});

describe("server timing: D1 rows (X-D1-Meter)", () => {
	const metered = { "X-D1-Meter": "1" };

	it("sums D1's rows read and written over a metered request", async () => {
		const { email, password } = await signedInUser();
		const res = await fetchAs("development", "/v1/auth/login", {
			method: "POST",
			headers: { ...metered, "Content-Type": "application/json" },
			body: JSON.stringify({ email, password }),
		});
		expect(res.status).toBe(200);
		expect(Number(res.headers.get("X-D1-Rows-Read"))).toBeGreaterThan(0);
		expect(Number(res.headers.get("X-D1-Rows-Written"))).toBeGreaterThan(0);
	});

	it("answers only after the request's waitUntil work, so its rows are in the figures", async () => {
		const { token, userId } = await signedInUser();
		const ctx = createExecutionContext();
		const request = new Request(new URL("/v1/auth/logout", BASE), {
			method: "POST",
			headers: { ...metered, Authorization: `Bearer ${token}` },
		});
		const res = await app.fetch(request, { ...env, ENVIRONMENT: "development" }, ctx);
		// Before waiting on the execution context: the audit event (written in waitUntil) is already there.
		const event = await env.DB.prepare("select type from audit_events where user_id = ? and type = 'logout'")
			.bind(userId)
			.first<{ type: string }>();
		await waitOnExecutionContext(ctx);
		expect(res.status).toBe(204);
		expect(event).toEqual({ type: "logout" });
		// The session's revocation and the audit event.
		expect(Number(res.headers.get("X-D1-Rows-Written"))).toBeGreaterThanOrEqual(2);
	});

	it("reads a selected row as D1 reports it, and counts a batch's writes", async () => {
		const counter: QueryCounter = { roundTrips: 0, rows: { read: 0, written: 0 } };
		const db = createCountingDb(env.DB);
		const [first, second] = [crypto.randomUUID(), crypto.randomUUID()];
		await countRoundTrips(counter, async () => {
			await db.batch([db.insert(users).values(newUser(first)), db.insert(users).values(newUser(second))]);
			const written = counter.rows?.written ?? 0;
			expect(written).toBeGreaterThanOrEqual(2);
			const row = await db.select({ id: users.id }).from(users).where(eq(users.id, first)).get();
			expect(row).toEqual({ id: first });
			expect(counter.rows).toEqual({ read: 1, written });
		});
	});

	it("adds no row figures without the meter header, nor outside development", async () => {
		const { token } = await signedInUser();
		const headers = { Authorization: `Bearer ${token}` };
		const plain = await fetchAs("development", "/v1/me", { headers });
		expect(plain.headers.has("X-D1-Rows-Read")).toBe(false);
		const production = await fetchAs("production", "/v1/me", { headers: { ...headers, ...metered } });
		expect(production.status).toBe(200);
		expect(production.headers.has("X-D1-Rows-Read")).toBe(false);
		expect(production.headers.has("Server-Timing")).toBe(false);
	});
});

describe("server timing: error", () => {
	it("reports zero round trips for a request refused before touching D1", async () => {
		const res = await fetchAs("development", "/v1/me");
		expect(res.status).toBe(401);
		expect(res.headers.get("Server-Timing")).toBe('d1;desc="0 round trips"');
	});
});

describe("server timing: security", () => {
	it("adds no header in production", async () => {
		const res = await fetchAs("production", "/health");
		expect(res.status).toBe(200);
		expect(res.headers.has("Server-Timing")).toBe(false);
	});

	it("adds no header in the test environment either", async () => {
		const res = await api("/health");
		expect(res.status).toBe(200);
		expect(res.headers.has("Server-Timing")).toBe(false);
	});
});
