import { decodeBase64urlIgnorePadding, encodeBase64urlNoPadding } from "@oslojs/encoding";
import { generateCodeVerifier, generateState } from "arctic";
import type { Context } from "hono";
import { deleteCookie, getSignedCookie, setSignedCookie } from "hono/cookie";
import type { CookieOptions } from "hono/utils/cookie";
import { and, eq, gt, lte } from "drizzle-orm";
import { z } from "zod";
import type { Config } from "../../config";
import type { Database } from "../../db/client";
import { oauthStates } from "../../db/schema";
import { constantTimeEqual, hashToken } from "../../lib/crypto";
import type { AppEnv } from "../../types";
import type { OAuthProvider, ProviderId } from "./types";

/** How long the browser has to get through the provider's login and consent. */
const FLOW_TTL_SECONDS = 600;

/**
 * What the callback needs from the start of a flow. It rides in a signed cookie bound to the
 * browser that started it, so a callback URL replayed in another browser (login CSRF) or a
 * tampered redirect_uri is refused.
 */
export type FlowState = {
	provider: ProviderId;
	state: string;
	codeVerifier: string;
	nonce: string;
	/** The app URL to return to (already checked against OAUTH_REDIRECT_URIS), or null for token JSON. */
	redirectUri: string | null;
	/** Set when a signed-in user is linking: the identity goes to this user and session only. */
	link: { userId: string; sessionId: string } | null;
	expiresAt: number;
};

const flowSchema = z.object({
	provider: z.enum(["github", "google", "oidc"]),
	state: z.string().min(1),
	codeVerifier: z.string().min(1),
	nonce: z.string().min(1),
	redirectUri: z.string().nullable(),
	link: z.object({ userId: z.string(), sessionId: z.string() }).nullable(),
	expiresAt: z.number(),
}) satisfies z.ZodType<FlowState>;

function cookieName(provider: ProviderId): string {
	return `atrium_oauth_${provider}`;
}

/** Secure everywhere except a plain-http APP_URL (localhost development), where browsers drop Secure cookies. */
function cookieOptions(config: Config, provider: ProviderId): CookieOptions {
	return {
		path: `/v1/auth/oauth/${provider}`,
		httpOnly: true,
		secure: config.appUrl.protocol === "https:",
		sameSite: "Lax",
	};
}

/** A key for the flow cookie's HMAC, derived so it is never the access-token key itself. */
function cookieSecret(config: Config): string {
	return hashToken(`atrium:oauth-flow-cookie:${config.JWT_SECRET}`);
}

/**
 * Starts a flow: fresh state, PKCE verifier and nonce, remembered in the signed cookie, and the
 * provider URL to send the browser to. Throws `OAuthProviderError` when the provider cannot be
 * reached (OIDC discovery).
 */
export async function startFlow(
	c: Context<AppEnv>,
	provider: OAuthProvider,
	options: { redirectUri: string | null; link?: FlowState["link"] },
): Promise<URL> {
	const flow: FlowState = {
		provider: provider.id,
		state: generateState(),
		codeVerifier: generateCodeVerifier(),
		nonce: generateState(),
		redirectUri: options.redirectUri,
		link: options.link ?? null,
		expiresAt: Math.floor(Date.now() / 1000) + FLOW_TTL_SECONDS,
	};
	const url = await provider.createAuthorizationURL(flow.state, flow.codeVerifier, flow.nonce);
	await rememberState(c.get("db"), flow.state, new Date(flow.expiresAt * 1000));
	const config = c.get("config");
	const value = encodeBase64urlNoPadding(new TextEncoder().encode(JSON.stringify(flow)));
	await setSignedCookie(c, cookieName(provider.id), value, cookieSecret(config), {
		...cookieOptions(config, provider.id),
		maxAge: FLOW_TTL_SECONDS,
	});
	return url;
}

/**
 * The origin a flow of `provider` sends the browser to (the consent page's CSP must allow a form
 * post to end there). Built like a real authorization URL, from throwaway values that never leave
 * this function; throws `OAuthProviderError` when an OIDC issuer cannot be discovered.
 */
export async function authorizationOrigin(provider: OAuthProvider): Promise<string> {
	const url = await provider.createAuthorizationURL(generateState(), generateCodeVerifier(), generateState());
	return url.origin;
}

/**
 * Reads and clears the flow of `provider` and checks it against the callback's `state`. Returns
 * null when the cookie is missing, forged, expired or for another flow: the caller must not trust
 * anything from such a callback, not even where to redirect.
 */
export async function takeFlow(
	c: Context<AppEnv>,
	provider: ProviderId,
	state: string | undefined,
): Promise<FlowState | null> {
	const config = c.get("config");
	const name = cookieName(provider);
	const raw = await getSignedCookie(c, cookieSecret(config), name);
	// One attempt per flow: whatever happens next, this browser's flow is over.
	if (raw !== undefined) deleteCookie(c, name, cookieOptions(config, provider));
	if (!raw || !state) return null;
	let flow: FlowState;
	try {
		const parsed = flowSchema.safeParse(JSON.parse(new TextDecoder().decode(decodeBase64urlIgnorePadding(raw))));
		if (!parsed.success) return null;
		flow = parsed.data;
	} catch {
		return null;
	}
	const encoder = new TextEncoder();
	if (flow.provider !== provider || flow.expiresAt <= Math.floor(Date.now() / 1000)) return null;
	if (!constantTimeEqual(encoder.encode(flow.state), encoder.encode(state))) return null;
	// Last, and only for a genuine flow: the server's own record, spent whatever happens next.
	if (!(await spendState(db(c), state))) return null;
	return flow;
}

function db(c: Context<AppEnv>): Database {
	return c.get("db");
}

/** Records a flow's state (hashed) until `expiresAt`. */
export async function rememberState(database: Database, state: string, expiresAt: Date): Promise<void> {
	await database.insert(oauthStates).values({ stateHash: hashToken(state), expiresAt });
}

/** Spends a state atomically: true for the one caller that found it unexpired, false for every other. */
export async function spendState(database: Database, state: string, now = new Date()): Promise<boolean> {
	const spent = await database
		.delete(oauthStates)
		.where(and(eq(oauthStates.stateHash, hashToken(state)), gt(oauthStates.expiresAt, now)))
		.returning({ stateHash: oauthStates.stateHash })
		.get();
	return spent !== undefined;
}

/** Deletes the states of flows abandoned at the provider (the cron); returns how many. */
export async function pruneOAuthStates(database: Database, now = new Date()): Promise<number> {
	const removed = await database
		.delete(oauthStates)
		.where(lte(oauthStates.expiresAt, now))
		.returning({ stateHash: oauthStates.stateHash });
	return removed.length;
}
