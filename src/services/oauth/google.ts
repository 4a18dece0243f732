import { Google } from "arctic";
import { arcticCall, verifyIdTokenWithJwks } from "./http";
import type { OAuthIdentity, OAuthProvider } from "./types";

const JWKS_URI = "https://www.googleapis.com/oauth2/v3/certs";
// Google documents both spellings for `iss`.
const ISSUERS = ["https://accounts.google.com", "accounts.google.com"];
const SCOPES = ["openid", "email", "profile"];

/** Google through OpenID Connect: PKCE S256 and a nonce, identity from the verified ID token. */
export function googleProvider(clientId: string, clientSecret: string, redirectUri: string): OAuthProvider {
	const client = new Google(clientId, clientSecret, redirectUri);
	return {
		id: "google",
		name: "Google",
		async createAuthorizationURL(state, codeVerifier, nonce) {
			const url = client.createAuthorizationURL(state, codeVerifier, SCOPES);
			url.searchParams.set("nonce", nonce);
			return url;
		},
		async validateCallback(code, codeVerifier, nonce): Promise<OAuthIdentity> {
			const tokens = await arcticCall(() => client.validateAuthorizationCode(code, codeVerifier));
			const idToken = await arcticCall(async () => tokens.idToken());
			const verified = await verifyIdTokenWithJwks(idToken, JWKS_URI, { issuers: ISSUERS, clientId, nonce });
			return {
				providerUserId: verified.claims.sub,
				email: verified.email,
				emailVerified: verified.emailVerified,
				name: verified.name,
			};
		},
	};
}
