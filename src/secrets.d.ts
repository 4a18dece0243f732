// Secrets never appear in wrangler.toml, so `wrangler types` cannot see them; they are declared
// here (all optional: config validation decides which ones a deployment really needs).
declare namespace Cloudflare {
	interface Env {
		JWT_SECRET?: string;
		JWT_SECRET_PREVIOUS?: string;
		JWT_SIGNING_KEYS?: string;
		/** Not a secret, but optional with a default (HS256), so it stays out of wrangler.toml. */
		JWT_ALGORITHM?: string;
		ENCRYPTION_KEY?: string;
		ADMIN_API_KEY?: string;
		WEBHOOK_SECRET?: string;
		RESEND_API_KEY?: string;
		GITHUB_CLIENT_ID?: string;
		GITHUB_CLIENT_SECRET?: string;
		GOOGLE_CLIENT_ID?: string;
		GOOGLE_CLIENT_SECRET?: string;
		OIDC_ISSUER?: string;
		OIDC_CLIENT_ID?: string;
		OIDC_CLIENT_SECRET?: string;
		OIDC_NAME?: string;
	}
}
