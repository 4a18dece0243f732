import type { Context } from "hono";
import { deleteCookie, getSignedCookie, setSignedCookie } from "hono/cookie";
import type { CookieOptions } from "hono/utils/cookie";
import type { Config } from "../config";
import { hashToken } from "../lib/crypto";
import { FLOW_TTL_SECONDS, type FlowState, finishFlow, startFlow } from "../services/oauth/flow";
import type { OAuthProvider, ProviderId } from "../services/oauth/types";
import type { AppEnv } from "../types";

// The browser's half of an OAuth flow: a signed cookie scoped to the provider's path, so a callback
// URL replayed in another browser (login CSRF) or a tampered redirect_uri is refused. The flow
// itself (state, PKCE, the server's single-use record) is services/oauth/flow.ts.

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
 * Starts a flow bound to the browser making this request (its signed cookie) and answers the
 * provider URL to send it to. Throws `OAuthProviderError` when the provider cannot be reached.
 */
export async function startBrowserFlow(
	c: Context<AppEnv>,
	provider: OAuthProvider,
	options: { redirectUri: string | null; link?: FlowState["link"] },
): Promise<URL> {
	const config = c.get("deps").config;
	const { url, sealed } = await startFlow(c.get("deps").db, provider, options);
	await setSignedCookie(c, cookieName(provider.id), sealed, cookieSecret(config), {
		...cookieOptions(config, provider.id),
		maxAge: FLOW_TTL_SECONDS,
	});
	return url;
}

/**
 * Reads and clears this browser's flow of `provider` and checks it against the callback's `state`
 * (see `finishFlow`); null for a missing, forged, expired or foreign flow.
 */
export async function takeBrowserFlow(
	c: Context<AppEnv>,
	provider: ProviderId,
	state: string | undefined,
): Promise<FlowState | null> {
	const config = c.get("deps").config;
	const name = cookieName(provider);
	const sealed = await getSignedCookie(c, cookieSecret(config), name);
	// One attempt per flow: whatever happens next, this browser's flow is over.
	if (sealed !== undefined) deleteCookie(c, name, cookieOptions(config, provider));
	return finishFlow(c.get("deps").db, provider, sealed || undefined, state);
}
