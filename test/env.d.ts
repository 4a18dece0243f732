import type { D1Migration } from "cloudflare:test";

declare global {
	namespace Cloudflare {
		interface Env {
			TEST_MIGRATIONS: D1Migration[];
			/** drizzle/down/*.sql, same names as TEST_MIGRATIONS: the down migration of each. */
			TEST_DOWN_MIGRATIONS: D1Migration[];
		}
		// Types `exports.default` from "cloudflare:workers" as our Worker's default export.
		interface GlobalProps {
			mainModule: typeof import("../src/index");
		}
	}
}
