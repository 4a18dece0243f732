import { decodeBase64urlIgnorePadding, encodeBase64urlNoPadding } from "@oslojs/encoding";
import { generateCodeVerifier, generateState } from "arctic";
import { and, eq, gt, lte } from "drizzle-orm";
import { z } from "zod";
import type { Database } from "../../db/client";
import { oauthStates } from "../../db/schema";
import { constantTimeEqualText, hashToken } from "../../lib/crypto";
import type { OAuthProvider, ProviderId } from "./types";

/** How long the browser has to get through the provider's login and consent. */
export const FLOW_TTL_SECONDS = 600;

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

/**
 * Starts a flow: fresh state, PKCE verifier and nonce, the state remembered (hashed) on the server,
 * and the provider URL to send the browser to. `sealed` is the flow for the browser to keep (the
 * caller signs it into a cookie bound to that browser). Throws `OAuthProviderError` when the
 * provider cannot be reached (OIDC discovery).
 */
export async function startFlow(
	db: Database,
	provider: OAuthProvider,
	options: { redirectUri: string | null; link?: FlowState["link"] },
): Promise<{ url: URL; sealed: string }> {
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
	await rememberState(db, flow.state, new Date(flow.expiresAt * 1000));
	return { url, sealed: encodeBase64urlNoPadding(new TextEncoder().encode(JSON.stringify(flow))) };
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
 * Checks the flow the browser brought back (`sealed`, already verified as this app's own cookie)
 * against the callback's `state`, and spends the state on the server. Returns null when the flow is
 * missing, malformed, expired or for another flow: the caller must not trust anything from such a
 * callback, not even where to redirect.
 */
export async function finishFlow(
	db: Database,
	provider: ProviderId,
	sealed: string | undefined,
	state: string | undefined,
): Promise<FlowState | null> {
	if (!sealed || !state) return null;
	let flow: FlowState;
	try {
		const parsed = flowSchema.safeParse(JSON.parse(new TextDecoder().decode(decodeBase64urlIgnorePadding(sealed))));
		if (!parsed.success) return null;
		flow = parsed.data;
	} catch {
		return null;
	}
	if (flow.provider !== provider || flow.expiresAt <= Math.floor(Date.now() / 1000)) return null;
	if (!constantTimeEqualText(flow.state, state)) return null;
	// Last, and only for a genuine flow: the server's own record, spent whatever happens next.
	if (!(await spendState(db, state))) return null;
	return flow;
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
