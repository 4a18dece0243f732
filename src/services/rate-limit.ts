import { lte, sql } from "drizzle-orm";
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
	const fresh = now + windowSeconds * 1000;
	const row = await db.get<{ count: number; reset_at: number }>(sql`
		insert into ${rateLimits} (key, count, reset_at) values (${key}, 1, ${fresh})
		on conflict (key) do update set
			count = case when ${rateLimits.resetAt} <= ${now} then 1 else ${rateLimits.count} + 1 end,
			reset_at = case when ${rateLimits.resetAt} <= ${now} then ${fresh} else ${rateLimits.resetAt} end
		returning count, reset_at
	`);
	const retryAfterSeconds = Math.max(1, Math.ceil((row.reset_at - now) / 1000));
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
	await db.run(sql`delete from ${rateLimits} where key = ${key}`);
}

/** Deletes counters whose window has ended (the cron's job; a live window is never touched). */
export async function pruneRateLimits(db: Database, now = Date.now()): Promise<number> {
	const result = await db.delete(rateLimits).where(lte(rateLimits.resetAt, new Date(now)));
	return result.meta.changes;
}
