import { generateKeyPairSync } from "node:crypto";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import Provider from "oidc-provider";

export const OIDC_CLIENT_ID = "atrium-e2e";
export const OIDC_CLIENT_SECRET = "atrium-e2e-client-secret-0123456789";

/**
 * A real OpenID Connect provider (node `oidc-provider`) on `issuer`: RS256 ID tokens, PKCE S256
 * required, email claims via UserInfo, and its dev login form that takes any login (the account
 * `<login>@example.com`, email verified), then a consent page.
 */
export async function startOidcProvider(issuer: string, redirectUri: string): Promise<Server> {
	const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
	const provider = new Provider(issuer, {
		clients: [
			{
				client_id: OIDC_CLIENT_ID,
				client_secret: OIDC_CLIENT_SECRET,
				redirect_uris: [redirectUri],
				grant_types: ["authorization_code"],
				response_types: ["code"],
				token_endpoint_auth_method: "client_secret_basic",
			},
		],
		jwks: { keys: [{ ...privateKey.export({ format: "jwk" }), kid: "e2e-rsa", use: "sig", alg: "RS256" }] },
		claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
		pkce: { methods: ["S256"], required: () => true },
		cookies: { keys: ["e2e-cookie-key-0123456789abcdef"] },
		features: { devInteractions: { enabled: true } },
		async findAccount(_ctx, sub) {
			return {
				accountId: sub,
				async claims() {
					return { sub, email: `${sub}@example.com`, email_verified: true, name: `E2E ${sub}` };
				},
			};
		},
	});
	const server = createServer(provider.callback());
	server.listen(Number(new URL(issuer).port), "127.0.0.1");
	await once(server, "listening");
	return server;
}
