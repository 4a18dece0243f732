import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { AppError } from "../lib/errors";
import { type AccessClaims, type AccessTokenKeys, verifyAccessTokenWith } from "../lib/jwt";
import { findActiveSession } from "../services/sessions";
import { accessTokenKeys } from "../services/token-keys";
import type { AppEnv } from "../types";
import { preferUserLocale } from "./language";

function bearerToken(header: string | undefined): string | null {
	const match = /^Bearer[ ]+([A-Za-z0-9\-_.]+)\s*$/i.exec(header ?? "");
	return match?.[1] ?? null;
}

/**
 * Verifies the bearer token's signature and claims (no D1): the first half of authentication.
 * Callers must still check the session is live (`requireAuth`, or a query that joins it).
 */
export async function verifyBearer(c: Context<AppEnv>): Promise<AccessClaims> {
	const token = bearerToken(c.req.header("Authorization"));
	if (!token) throw new AppError("unauthorized");
	const config = c.get("config");
	const keys = await accessTokenKeys(config);
	const nowSeconds = Math.floor(Date.now() / 1000);
	const known = verifiedTokens(keys).get(token);
	if (known) {
		// Signature, issuer, audience and nbf held when it was verified and cannot change; only time
		// can end it.
		if (known.exp > nowSeconds) return known;
		verifiedTokens(keys).delete(token);
		throw new AppError("token_expired");
	}
	const verified = await verifyAccessTokenWith(keys, token, {
		issuer: config.JWT_ISSUER,
		audience: config.JWT_AUDIENCE,
		nowSeconds,
	});
	if (!verified.ok) throw new AppError(verified.reason === "expired" ? "token_expired" : "unauthorized");
	remember(verifiedTokens(keys), token, verified.claims);
	return verified.claims;
}

/** Tokens verified by this isolate, per key set: enough for a busy isolate's live clients. */
const VERIFIED_TOKENS_MAX = 1000;
const verifiedByKeys = new WeakMap<AccessTokenKeys, Map<string, AccessClaims>>();

// Checking a token's signature and decoding its parts was about a tenth of the isolate's JavaScript
// time on GET /v1/me (profiled), repeated for the same token on every request of a client. A
// token string that verified once verifies again under the same keys until it expires, so its
// claims are kept per isolate and key set (a new configuration brings new keys, hence an empty
// map). The session is still checked in D1 on every request: logout and revocation bite at once.
function verifiedTokens(keys: AccessTokenKeys): Map<string, AccessClaims> {
	let tokens = verifiedByKeys.get(keys);
	if (!tokens) {
		tokens = new Map();
		verifiedByKeys.set(keys, tokens);
	}
	return tokens;
}

function remember(tokens: Map<string, AccessClaims>, token: string, claims: AccessClaims): void {
	// Oldest first: a Map iterates in insertion order.
	if (tokens.size >= VERIFIED_TOKENS_MAX) {
		for (const oldest of tokens.keys()) {
			tokens.delete(oldest);
			break;
		}
	}
	tokens.set(token, claims);
}

/**
 * Requires a valid access token whose session is still live. Revocation is checked against D1 on
 * every request (one statement), so logout takes effect immediately.
 */
export const requireAuth = () =>
	createMiddleware<AppEnv>(async (c, next) => {
		const claims = await verifyBearer(c);
		const active = await findActiveSession(c.get("db"), claims.sid, claims.sub);
		if (!active) throw new AppError("unauthorized");
		c.set("auth", { ...active, claims });
		preferUserLocale(c, active.user.locale);
		await next();
	});

/** Throws `fresh_token_required` unless the access token came from a login within FRESH_TOKEN_SECONDS. */
export function assertFreshToken(c: Context<AppEnv>): void {
	const { claims } = c.get("auth");
	const config = c.get("config");
	const age = Math.floor(Date.now() / 1000) - claims.iat;
	if (!claims.fresh || age > config.FRESH_TOKEN_SECONDS) {
		throw new AppError("fresh_token_required", { params: { minutes: Math.ceil(config.FRESH_TOKEN_SECONDS / 60) } });
	}
}
