import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { AppError } from "../lib/errors";
import { type AccessClaims, verifyAccessTokenWith } from "../lib/jwt";
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
	const config = c.get("deps").config;
	const verified = await verifyAccessTokenWith(await accessTokenKeys(config), token, {
		issuer: config.JWT_ISSUER,
		audience: config.JWT_AUDIENCE,
		nowSeconds: Math.floor(Date.now() / 1000),
	});
	if (!verified.ok) throw new AppError(verified.reason === "expired" ? "token_expired" : "unauthorized");
	return verified.claims;
}

/**
 * Requires a valid access token whose session is still live. Revocation is checked against D1 on
 * every request (one statement), so logout takes effect immediately.
 */
export const requireAuth = () =>
	createMiddleware<AppEnv>(async (c, next) => {
		const claims = await verifyBearer(c);
		const active = await findActiveSession(c.get("deps").db, claims.sid, claims.sub);
		if (!active) throw new AppError("unauthorized");
		c.set("auth", { ...active, claims });
		preferUserLocale(c, active.user.locale);
		await next();
	});

/** Throws `fresh_token_required` unless the access token came from a login within FRESH_TOKEN_SECONDS. */
export function assertFreshToken(c: Context<AppEnv>): void {
	const { claims } = c.get("auth");
	const config = c.get("deps").config;
	const age = Math.floor(Date.now() / 1000) - claims.iat;
	if (!claims.fresh || age > config.FRESH_TOKEN_SECONDS) {
		throw new AppError("fresh_token_required", { params: { minutes: Math.ceil(config.FRESH_TOKEN_SECONDS / 60) } });
	}
}
