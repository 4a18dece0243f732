// Better Auth's options for the bench peer, shared by the Worker (worker.ts) and the schema
// generator (schema.config.ts): email + password, the bearer plugin, and Better Auth's defaults
// for everything else.
import type { BetterAuthOptions } from "better-auth";
import { bearer } from "better-auth/plugins";

/** The peer's options; `cookieCache` switches on Better Auth's signed session cookie cache (5 minutes by default). */
export function authOptions(
	database: BetterAuthOptions["database"],
	settings: { secret: string; baseURL: string; cookieCache: boolean },
): BetterAuthOptions {
	return {
		database,
		secret: settings.secret,
		baseURL: settings.baseURL,
		emailAndPassword: { enabled: true },
		plugins: [bearer()],
		...(settings.cookieCache ? { session: { cookieCache: { enabled: true } } } : {}),
	};
}
