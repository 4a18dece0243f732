import type { Config } from "../../config";
import { githubProvider } from "./github";
import { googleProvider } from "./google";
import { oidcProvider } from "./oidc";
import { isProviderId, type OAuthProvider, PROVIDER_IDS, type ProviderId } from "./types";

export {
	OAuthProviderError,
	isProviderId,
	PROVIDER_IDS,
	type OAuthIdentity,
	type OAuthProvider,
	type ProviderId,
} from "./types";

/** The callback URL registered with every provider: `APP_URL/v1/auth/oauth/<provider>/callback`. */
export function callbackUrl(config: Config, id: ProviderId): string {
	return new URL(`/v1/auth/oauth/${id}/callback`, config.appUrl).toString();
}

/** A provider's client, or null when the deployment has not configured its client id and secret. */
export function getProvider(config: Config, id: string): OAuthProvider | null {
	if (!isProviderId(id)) return null;
	const redirectUri = callbackUrl(config, id);
	switch (id) {
		case "github":
			return config.GITHUB_CLIENT_ID && config.GITHUB_CLIENT_SECRET
				? githubProvider(config.GITHUB_CLIENT_ID, config.GITHUB_CLIENT_SECRET, redirectUri)
				: null;
		case "google":
			return config.GOOGLE_CLIENT_ID && config.GOOGLE_CLIENT_SECRET
				? googleProvider(config.GOOGLE_CLIENT_ID, config.GOOGLE_CLIENT_SECRET, redirectUri)
				: null;
		case "oidc":
			return config.OIDC_ISSUER && config.OIDC_CLIENT_ID && config.OIDC_CLIENT_SECRET
				? oidcProvider(
						{
							issuer: config.OIDC_ISSUER,
							clientId: config.OIDC_CLIENT_ID,
							clientSecret: config.OIDC_CLIENT_SECRET,
							name: config.OIDC_NAME ?? "OpenID Connect",
						},
						redirectUri,
					)
				: null;
	}
}

/** Every enabled provider, in a stable order. */
export function enabledProviders(config: Config): OAuthProvider[] {
	return PROVIDER_IDS.map((id) => getProvider(config, id)).filter((provider) => provider !== null);
}
