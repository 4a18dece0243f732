import { CodeChallengeMethod, OAuth2Client } from "arctic";
import { z } from "zod";
import { isEmailVerified } from "../../lib/jwks";
import { arcticCall, cachedDocument, fetchProviderJson, verifyIdTokenWithJwks } from "./http";
import { type OAuthIdentity, type OAuthProvider, OAuthProviderError } from "./types";

const SCOPES = ["openid", "email", "profile"];
const DISCOVERY_TTL_MS = 60 * 60 * 1000;

const discoverySchema = z.looseObject({
	issuer: z.string(),
	authorization_endpoint: z.url(),
	token_endpoint: z.url(),
	jwks_uri: z.url(),
	userinfo_endpoint: z.url().optional(),
});

const userinfoSchema = z.looseObject({
	sub: z.string(),
	email: z.string().optional(),
	email_verified: z.union([z.boolean(), z.string()]).optional(),
	name: z.string().optional(),
});

function withoutTrailingSlash(url: string): string {
	return url.replace(/\/+$/, "");
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** Tokens and keys only travel over TLS; plain http is tolerated for an issuer on this machine. */
function isSecureEndpoint(url: string): boolean {
	const parsed = new URL(url);
	return parsed.protocol === "https:" || (parsed.protocol === "http:" && LOOPBACK_HOSTS.has(parsed.hostname));
}

/**
 * The issuer's discovery document, cached per isolate. Its `issuer` must be the configured one
 * (OIDC Discovery 4.3): otherwise a compromised or misrouted document could vouch for tokens
 * from somewhere else. The checks are part of the schema, so a bad document is never cached.
 */
export async function discoverIssuer(issuer: string) {
	const url = `${withoutTrailingSlash(issuer)}/.well-known/openid-configuration`;
	if (!isSecureEndpoint(url)) throw new OAuthProviderError("OIDC_ISSUER must use https");
	const schema = discoverySchema.refine(
		(document) =>
			withoutTrailingSlash(document.issuer) === withoutTrailingSlash(issuer) &&
			[document.authorization_endpoint, document.token_endpoint, document.jwks_uri, document.userinfo_endpoint].every(
				(endpoint) => endpoint === undefined || isSecureEndpoint(endpoint),
			),
	);
	return cachedDocument(url, schema, DISCOVERY_TTL_MS);
}

/**
 * Any OpenID Connect issuer, found through discovery: authorization code with PKCE S256 and a
 * nonce, identity from the verified ID token. Issuers that keep profile claims out of the ID
 * token (the spec's default for code flow) are asked at the UserInfo endpoint, whose `sub` must
 * match the token's.
 */
export function oidcProvider(
	settings: { issuer: string; clientId: string; clientSecret: string; name: string },
	redirectUri: string,
): OAuthProvider {
	const client = new OAuth2Client(settings.clientId, settings.clientSecret, redirectUri);
	return {
		id: "oidc",
		name: settings.name,
		async createAuthorizationURL(state, codeVerifier, nonce) {
			const discovery = await discoverIssuer(settings.issuer);
			const url = client.createAuthorizationURLWithPKCE(
				discovery.authorization_endpoint,
				state,
				CodeChallengeMethod.S256,
				codeVerifier,
				SCOPES,
			);
			url.searchParams.set("nonce", nonce);
			return url;
		},
		async validateCallback(code, codeVerifier, nonce): Promise<OAuthIdentity> {
			const discovery = await discoverIssuer(settings.issuer);
			const tokens = await arcticCall(() =>
				client.validateAuthorizationCode(discovery.token_endpoint, code, codeVerifier),
			);
			const [idToken, accessToken] = await arcticCall(async () => [tokens.idToken(), tokens.accessToken()] as const);
			const verified = await verifyIdTokenWithJwks(idToken, discovery.jwks_uri, {
				issuers: [discovery.issuer],
				clientId: settings.clientId,
				nonce,
			});
			const identity: OAuthIdentity = {
				providerUserId: verified.claims.sub,
				email: verified.email,
				emailVerified: verified.emailVerified,
				name: verified.name,
			};
			if (identity.email || !discovery.userinfo_endpoint) return identity;
			const userinfo = await fetchProviderJson(discovery.userinfo_endpoint, userinfoSchema, accessToken);
			if (userinfo.sub !== identity.providerUserId)
				throw new OAuthProviderError("userinfo sub differs from the id token");
			return {
				...identity,
				email: userinfo.email ?? null,
				emailVerified: isEmailVerified(userinfo.email_verified),
				name: identity.name ?? userinfo.name ?? null,
			};
		},
	};
}
