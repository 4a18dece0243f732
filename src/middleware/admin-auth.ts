import { createHash, timingSafeEqual } from "node:crypto";
import { createMiddleware } from "hono/factory";
import { AppError } from "../lib/errors";
import { log } from "../lib/log";
import { hit, peek } from "../services/rate-limit";
import type { AppEnv } from "../types";
import { clientBucket, rateLimitKey, rateLimitedError } from "./rate-limit";

/**
 * Constant-time comparison of the presented key with ADMIN_API_KEY. Both sides are hashed first,
 * so the comparison runs over equal lengths and the key's length does not leak either.
 */
function keyMatches(presented: string, expected: string): boolean {
	const a = createHash("sha256").update(presented).digest();
	const b = createHash("sha256").update(expected).digest();
	return timingSafeEqual(a, b);
}

function bearerKey(header: string | undefined): string | null {
	const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header ?? "");
	return match?.[1] ?? null;
}

/**
 * Guards /v1/admin: without ADMIN_API_KEY the routes do not exist (404 not_found); otherwise the
 * request needs `Authorization: Bearer <ADMIN_API_KEY>`. Failed attempts are counted per client
 * address, and past RATE_LIMIT_ADMIN_AUTH_IP every request from it is refused before the key is
 * compared, so guessing on after the limit tells nothing, a right guess included.
 */
export const requireAdminKey = () =>
	createMiddleware<AppEnv>(async (c, next) => {
		const config = c.get("deps").config;
		const expected = config.ADMIN_API_KEY;
		if (!expected) throw new AppError("not_found");
		const db = c.get("deps").db;
		const rule = config.RATE_LIMIT_ADMIN_AUTH_IP;
		const key = rateLimitKey("admin_auth_ip", clientBucket(c));
		const seen = await peek(db, key);
		if (seen.count >= rule.limit) throw rateLimitedError(seen.retryAfterSeconds);
		const presented = bearerKey(c.req.header("Authorization"));
		if (presented === null || !keyMatches(presented, expected)) {
			const counted = await hit(db, key, rule.limit, rule.windowSeconds);
			log("warn", "admin_auth_failed", { requestId: c.get("requestId"), count: counted.count });
			throw new AppError("unauthorized");
		}
		await next();
	});
