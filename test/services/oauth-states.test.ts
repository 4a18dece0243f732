import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createDb } from "../../src/db/client";
import { pruneOAuthStates, rememberState, spendState } from "../../src/services/oauth/flow";

const db = createDb(env.DB);
const inMinutes = (minutes: number) => new Date(Date.now() + minutes * 60_000);

describe("oauth states: happy", () => {
	it("spends a remembered state once", async () => {
		const state = crypto.randomUUID();
		await rememberState(db, state, inMinutes(10));
		expect(await spendState(db, state)).toBe(true);
		expect(await spendState(db, state)).toBe(false);
	});
});

describe("oauth states: error", () => {
	it("refuses an expired or unknown state", async () => {
		const state = crypto.randomUUID();
		await rememberState(db, state, inMinutes(-1));
		expect(await spendState(db, state)).toBe(false);
		expect(await spendState(db, crypto.randomUUID())).toBe(false);
	});
});

describe("oauth states: security", () => {
	it("lets exactly one of many concurrent callbacks spend a state", async () => {
		const state = crypto.randomUUID();
		await rememberState(db, state, inMinutes(10));
		const results = await Promise.all(Array.from({ length: 8 }, () => spendState(db, state)));
		expect(results.filter(Boolean)).toHaveLength(1);
	});

	it("the cron prunes the states of abandoned flows, and only those", async () => {
		const [abandoned, live] = [crypto.randomUUID(), crypto.randomUUID()];
		await rememberState(db, abandoned, inMinutes(-1));
		await rememberState(db, live, inMinutes(10));
		expect(await pruneOAuthStates(db)).toBeGreaterThanOrEqual(1);
		const left = await env.DB.prepare("select count(*) as n from oauth_states where expires_at <= ?")
			.bind(Date.now())
			.first<{ n: number }>();
		expect(left?.n).toBe(0);
		expect(await spendState(db, live)).toBe(true);
	});
});
