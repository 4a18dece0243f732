/** Provider ids Atrium knows; which of them are enabled depends on the deployment's configuration. */
export const PROVIDER_IDS = ["github", "google", "oidc"] as const;

export type ProviderId = (typeof PROVIDER_IDS)[number];

export function isProviderId(value: string): value is ProviderId {
	return (PROVIDER_IDS as readonly string[]).includes(value);
}

/** Who the provider says signed in. `emailVerified` is the provider's word, never a guess. */
export type OAuthIdentity = {
	providerUserId: string;
	email: string | null;
	emailVerified: boolean;
	name: string | null;
};

/** One third-party login, behind the same two calls whatever the protocol details. */
export interface OAuthProvider {
	readonly id: ProviderId;
	readonly name: string;
	/** Where to send the browser. Async because a generic OIDC issuer is discovered first. */
	createAuthorizationURL(state: string, codeVerifier: string, nonce: string): Promise<URL>;
	/** Redeems the code and returns the verified identity; throws `OAuthProviderError` on any failure. */
	validateCallback(code: string, codeVerifier: string, nonce: string): Promise<OAuthIdentity>;
}

/**
 * Anything that went wrong talking to a provider: refused code, unreachable host, malformed or
 * forged answer. The message is for logs only; clients just see `oauth_failed`.
 */
export class OAuthProviderError extends Error {
	override name = "OAuthProviderError";
}
