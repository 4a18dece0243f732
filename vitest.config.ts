import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

export default defineConfig(async () => {
	const migrations = await readD1Migrations(path.join(import.meta.dirname, "drizzle"));
	// Paired down migrations (same file names); readD1Migrations, like wrangler, skips the subfolder above.
	const downMigrations = await readD1Migrations(path.join(import.meta.dirname, "drizzle/down"));
	return {
		plugins: [
			cloudflareTest({
				main: "./src/index.ts",
				wrangler: { configPath: "./wrangler.toml" },
				miniflare: {
					bindings: {
						ENVIRONMENT: "test",
						APP_URL: "https://atrium.test",
						JWT_SECRET: "test-secret-that-is-at-least-32-bytes-long!!",
						ENCRYPTION_KEY: "test-encryption-key-of-at-least-32-bytes!!",
						// The admin API (test/routes/admin.test.ts); appWith({ ADMIN_API_KEY: "" }) turns it off.
						ADMIN_API_KEY: "test-admin-key-that-is-at-least-32-bytes",
						// Mail goes through the real Resend client to a fake Resend (test/helpers/resend.ts).
						RESEND_API_KEY: "re_test_key",
						RESEND_BASE_URL: "https://resend.test",
						// Image limits small enough to test at and just past each one (test/routes/images*.test.ts).
						MAX_IMAGE_BYTES: "1048576",
						MAX_IMAGE_PIXELS: "50000000",
						QUOTA_BYTES: "2000000",
						QUOTA_IMAGES: "20",
						// OAuth providers, faked at the network edge (test/helpers/oauth-fakes.ts).
						GITHUB_CLIENT_ID: "gh-client",
						GITHUB_CLIENT_SECRET: "gh-secret",
						GOOGLE_CLIENT_ID: "google-client.apps.googleusercontent.com",
						GOOGLE_CLIENT_SECRET: "google-secret",
						OIDC_ISSUER: "https://issuer.test",
						OIDC_CLIENT_ID: "oidc-client",
						OIDC_CLIENT_SECRET: "oidc-secret",
						OIDC_NAME: "Test SSO",
						OAUTH_REDIRECT_URIS: "https://app.test/callback,https://app.test/settings/linked?tab=accounts",
						// Tests send no CF-Connecting-IP, so a whole file shares the "unknown" address bucket:
						// per-IP limits are out of the way here; test/middleware/rate-limit.test.ts runs small ones.
						RATE_LIMIT_LOGIN_IP: "100000/900",
						RATE_LIMIT_REGISTER_IP: "100000/3600",
						RATE_LIMIT_MAIL_IP: "100000/3600",
						RATE_LIMIT_ADMIN_AUTH_IP: "100000/900",
						// One line per request would bury test output; test/security/logs.test.ts turns it on.
						REQUEST_LOG: "off",
						TEST_MIGRATIONS: migrations,
						TEST_DOWN_MIGRATIONS: downMigrations,
					},
					// Last line of defence: a request that escapes the in-isolate fake network
					// (test/helpers/network.ts) fails loudly instead of leaving the machine.
					outboundService: (request: Request) => {
						throw new Error(`Unexpected outbound request in a test: ${request.method} ${request.url}`);
					},
				},
			}),
		],
		test: {
			globalSetup: ["./test/global-setup.ts"],
			setupFiles: ["./test/setup.ts"],
			include: ["test/**/*.test.ts"],
			exclude: ["test/e2e/**", "node_modules/**"],
			testTimeout: 30_000,
			hookTimeout: 30_000,
		},
	};
});
