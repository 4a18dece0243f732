import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

export default defineConfig(async () => {
	const migrations = await readD1Migrations(path.join(import.meta.dirname, "drizzle"));
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
						// Mail goes through the real Resend client to a fake Resend (test/helpers/resend.ts).
						RESEND_API_KEY: "re_test_key",
						RESEND_BASE_URL: "https://resend.test",
						TEST_MIGRATIONS: migrations,
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
