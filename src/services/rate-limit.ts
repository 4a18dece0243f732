import { eq, lte, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { rateLimits } from "../db/schema";

export type RateLimitRule = { limit: number; windowSeconds: number };

export type RateLimitResult = {
	/** True while the window holds at most `limit` hits, this one included. */
	allowed: boolean;
	/** Hits counted in the current window, this one included. */
	count: number;
	/** Whole seconds until the window resets (at least 1); what `Retry-After` says. */
	retryAfterSeconds: number;
};

/**
 * Counts one hit against `key` in a fixed window and says whether it is within `limit`.
 *
 * One atomic upsert, so every isolate shares the counter and concurrent hits never lose an
 * increment: a missing or expired row starts a new window at 1, a live one adds 1. Counting goes
 * on past the limit, but the window's end never moves, so a client that keeps knocking is still
 * let back in when the window it exhausted ends. `now` comes from the caller's clock (tests fake it).
 */
export async function hit(
	db: Database,
	key: string,
	limit: number,
	windowSeconds: number,
	now = Date.now(),
): Promise<RateLimitResult> {
	const row = await hitStatement(db, key, { limit, windowSeconds }, now).get();
	if (!row) throw new Error("the rate-limit upsert returned no row");
	return hitResult(row, limit, now);
}

/**
 * The upsert of `hit`, unexecuted, for callers that batch it with the reads of the same request
 * (a login counts two limits and reads the account in one round trip). With `onlyWithin`, the hit
 * is counted only while that other counter (counted earlier in the same batch) is within its
 * limit, so an attempt refused by one limit does not use up another; it then returns no row.
 */
export function hitStatement(
	db: Database,
	key: string,
	rule: RateLimitRule,
	now: number,
	onlyWithin?: { key: string; limit: number },
) {
	const fresh = now + rule.windowSeconds * 1000;
	const set = {
		count: sql`case when ${rateLimits.resetAt} <= ${now} then 1 else ${rateLimits.count} + 1 end`,
		resetAt: sql`case when ${rateLimits.resetAt} <= ${now} then ${fresh} else ${rateLimits.resetAt} end`,
	};
	const returning = { count: rateLimits.count, resetAt: rateLimits.resetAt };
	if (!onlyWithin) {
		return db
			.insert(rateLimits)
			.values({ key, count: 1, resetAt: new Date(fresh) })
			.onConflictDoUpdate({ target: rateLimits.key, set })
			.returning(returning);
	}
	const within = sql`(select count from ${rateLimits} where key = ${onlyWithin.key}) <= ${onlyWithin.limit}`;
	return db
		.insert(rateLimits)
		.select(sql`select ${key}, 1, ${fresh} where ${within}`)
		.onConflictDoUpdate({ target: rateLimits.key, set, setWhere: within })
		.returning(returning);
}

/** What a row returned by `hitStatement` means for a limit of `limit` hits. */
export function hitResult(row: { count: number; resetAt: Date }, limit: number, now: number): RateLimitResult {
	const retryAfterSeconds = Math.max(1, Math.ceil((row.resetAt.getTime() - now) / 1000));
	return { allowed: row.count <= limit, count: row.count, retryAfterSeconds };
}

/**
 * The hits counted against `key` in its live window, without counting one (0 when there is no
 * live window), with the seconds until that window ends.
 */
export async function peek(
	db: Database,
	key: string,
	now = Date.now(),
): Promise<{ count: number; retryAfterSeconds: number }> {
	const row = await db.get<{ count: number; reset_at: number } | undefined>(sql`
		select count, reset_at from ${rateLimits} where key = ${key} and reset_at > ${now}
	`);
	if (!row) return { count: 0, retryAfterSeconds: 0 };
	return { count: row.count, retryAfterSeconds: Math.max(1, Math.ceil((row.reset_at - now) / 1000)) };
}

/** Forgets a counter (e.g. an account's failed logins after a successful one). */
export async function clear(db: Database, key: string): Promise<void> {
	await clearStatement(db, key);
}

/** The delete of `clear`, unexecuted, for a sign-in that batches it with its other writes. */
export function clearStatement(db: Database, key: string) {
	return db.delete(rateLimits).where(eq(rateLimits.key, key));
}

/** Deletes counters whose window has ended (the cron's job; a live window is never touched). */
export async function pruneRateLimits(db: Database, now = Date.now()): Promise<number> {
	const result = await db.delete(rateLimits).where(lte(rateLimits.resetAt, new Date(now)));
	return result.meta.changes;
}
