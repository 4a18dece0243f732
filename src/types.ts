import type { Config } from "./config";
import type { Database } from "./db/client";
import type { Session, User } from "./db/schema";
import type { AccessClaims } from "./lib/jwt";
import type { Translate } from "./lib/i18n";
import type { Mailer } from "./lib/mail-types";
import type { ClientLimit } from "./middleware/rate-limit";

/** The signed-in caller, set by `requireAuth`. */
export type AuthContext = {
	user: User;
	session: Session;
	claims: AccessClaims;
	/** Providers linked to the user, read in the same query as the session. */
	providers: string[];
	/** The user's second factors, read in the same query as the session. */
	mfa: { totp: boolean; recovery_codes_left: number; passkeys: number };
};

/** How the request's language was chosen; a saved user locale only overrides the weaker sources. */
export type LanguageSource = "query" | "user" | "header" | "default";

/** The one environment type of the app: Worker bindings plus per-request variables. */
export type AppEnv = {
	Bindings: Cloudflare.Env;
	Variables: {
		config: Config;
		/** Current reads (authentication, revocation, read-then-write) and every write: the primary. */
		db: Database;
		/** Reads that may be slightly stale (lists, metadata): D1 may answer them from a read replica. */
		dbRead: Database;
		mail: Mailer;
		requestId: string;
		lang: string;
		langSource: LanguageSource;
		t: Translate;
		auth: AuthContext;
		/** Set by `limitPerClient(..., { inHandler: true })` for the handler to count. */
		clientLimit?: ClientLimit;
	};
};
