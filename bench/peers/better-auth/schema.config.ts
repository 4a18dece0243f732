// The Better Auth CLI's view of the peer, for generating its schema (README.md); not bundled.
import { type BetterAuthOptions, betterAuth } from "better-auth";
import { authOptions } from "./auth";

/**
 * What the CLI loads (`--config bench/peers/better-auth/schema.config.ts`, see README.md): the same options over an empty
 * D1-shaped database, so the generator sees no tables and writes the whole schema for D1's SQLite.
 */
const statement = {
	bind: () => statement,
	all: async () => ({ results: [], success: true, meta: {} }),
	first: async () => null,
	run: async () => ({ results: [], success: true, meta: {} }),
	raw: async () => [],
};
const emptyD1 = {
	prepare: () => statement,
	batch: async () => [],
	exec: async () => ({ count: 0, duration: 0 }),
};
export const auth = betterAuth(
	authOptions(emptyD1 as unknown as BetterAuthOptions["database"], {
		secret: "schema-generation-only-schema-generation-only",
		baseURL: "http://localhost:8787",
		cookieCache: false,
	}),
);
