import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { Config } from "../config";
import { clientIpBucket } from "../lib/client-ip";
import { hashToken } from "../lib/crypto";
import { AppError } from "../lib/errors";
import { log } from "../lib/log";
import { type RateLimitRule, hit } from "../services/rate-limit";
import type { AppEnv } from "../types";
import { requestOrigin } from "./audit";

/** What a counter limits; part of its key, and of the log line when it trips. */
export type RateLimitScope =
	| "login_ip"
	| "login_account"
	| "register_ip"
	| "register_mail"
	| "resend_ip"
	| "resend_email"
	| "forgot_ip"
	| "forgot_email"
	| "upload_user"
	| "mfa_account"
	| "mfa_ip"
	| "admin_auth_ip"
	| "oauth_link_ip"
	| "magic_ip"
	| "magic_email"
	| "magic_verify_ip"
	| "email_change_user"
	| "passkey_ip";

/**
 * The counter key of `subject` (an address, a normalized email, a user id) in `scope`. Subjects are
 * hashed so the table never holds an email or an address in the clear.
 */
export function rateLimitKey(scope: RateLimitScope, subject: string): string {
	return `${scope}:${hashToken(subject)}`;
}

/** The caller's rate-limit bucket: CF-Connecting-IP only (see clientIpBucket for a missing one). */
export function clientBucket(c: Context<AppEnv>): string {
	return clientIpBucket(requestOrigin(c).ip);
}

/** 429 `rate_limited` with `Retry-After`, the same for every scope and subject. */
export function rateLimitedError(retryAfterSeconds: number): AppError {
	return new AppError("rate_limited", {
		params: { seconds: retryAfterSeconds },
		headers: { "Retry-After": String(retryAfterSeconds) },
	});
}

/**
 * Counts this request against `rule` for `subject` and throws 429 past the limit. Returns the key,
 * for callers that forget the count again (a successful login).
 */
export async function enforceRateLimit(
	c: Context<AppEnv>,
	scope: RateLimitScope,
	subject: string,
	rule: RateLimitRule,
): Promise<string> {
	const key = rateLimitKey(scope, subject);
	const result = await hit(c.get("db"), key, rule.limit, rule.windowSeconds);
	if (!result.allowed) throw rateLimitTripped(c, scope, result);
	return key;
}

/** A per-client limit the route's handler counts itself, in the same round trip as its own reads. */
export type ClientLimit = { scope: RateLimitScope; key: string; rule: RateLimitRule; taken: boolean };

/**
 * Route middleware: counts every request to the route per client address (before validation, so
 * malformed requests count too) and answers 429 past the configured limit.
 *
 * With `inHandler`, a handler that is reached counts the hit itself (`takeClientLimit`), batched
 * with its first reads, which saves a D1 round trip on hot routes (login). A request the handler
 * never sees (a malformed body) is still counted here afterwards, and answered 429 past the limit.
 */
export const limitPerClient = (
	scope: RateLimitScope,
	rule: (config: Config) => RateLimitRule,
	options: { inHandler?: boolean } = {},
) =>
	createMiddleware<AppEnv>(async (c, next) => {
		if (!options.inHandler) {
			await enforceRateLimit(c, scope, clientBucket(c), rule(c.get("config")));
			await next();
			return;
		}
		const limit: ClientLimit = {
			scope,
			key: rateLimitKey(scope, clientBucket(c)),
			rule: rule(c.get("config")),
			taken: false,
		};
		c.set("clientLimit", limit);
		await next();
		if (!limit.taken) await enforceRateLimit(c, scope, clientBucket(c), limit.rule);
	});

/** The per-client limit of an `inHandler` route, now the handler's to count. */
export function takeClientLimit(c: Context<AppEnv>): ClientLimit {
	const limit = c.get("clientLimit");
	if (!limit) throw new Error("takeClientLimit needs limitPerClient(..., { inHandler: true }) on the route");
	limit.taken = true;
	return limit;
}

/** Logs a tripped limit and returns the 429 to throw (`enforceRateLimit` for counts made elsewhere). */
export function rateLimitTripped(
	c: Context<AppEnv>,
	scope: RateLimitScope,
	result: { count: number; retryAfterSeconds: number },
): AppError {
	log("warn", "rate_limited", { requestId: c.get("requestId"), scope, count: result.count });
	return rateLimitedError(result.retryAfterSeconds);
}

/** Route middleware, after requireAuth: counts uploads (new or replaced bytes) per signed-in user. */
export const limitUploadsPerUser = () =>
	createMiddleware<AppEnv>(async (c, next) => {
		await enforceRateLimit(c, "upload_user", c.get("auth").user.id, c.get("config").RATE_LIMIT_UPLOAD_USER);
		await next();
	});
