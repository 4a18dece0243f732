import { defineConfig } from "vitest/config";

// Browser end-to-end tests run in Node: they start `wrangler dev` (and, for OAuth, a real OpenID
// Connect provider) on localhost and drive Debian's Chromium through playwright-core.
export default defineConfig({
	test: {
		include: ["test/e2e/**/*.e2e.test.ts"],
		environment: "node",
		fileParallelism: false,
		testTimeout: 120_000,
		hookTimeout: 180_000,
	},
});
