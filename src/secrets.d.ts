// Secrets never appear in wrangler.toml, so `wrangler types` cannot see them; they are declared
// here (all optional: config validation decides which ones a deployment really needs).
declare namespace Cloudflare {
	interface Env {
		JWT_SECRET?: string;
		ENCRYPTION_KEY?: string;
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
