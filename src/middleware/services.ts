import { createMiddleware } from "hono/factory";
import { type Config, loadConfig } from "../config";
import { createDb, createReadDb, sessionStart, withD1Session } from "../db/client";
import { createMailTransport } from "../services/mail";
import { deliverWebhooks } from "../services/outbox";
import type { Mailer } from "../lib/mail-types";
import type { AppEnv, Deps } from "../types";

/** Carries a D1 bookmark both ways: the freshest state the client has seen, and this response's. */
export const BOOKMARK_HEADER = "X-D1-Bookmark";

/** Responses under this prefix carry no bookmark (see `provideServices`). */
const NO_BOOKMARK_PREFIX = "/v1/auth/";

// One transport per configuration and isolate: building a Resend client on every request is waste.
const mailers = new WeakMap<Config, Mailer>();

function mailerFor(config: Config): Mailer {
	let mailer = mailers.get(config);
	if (!mailer) {
		mailer = { transport: createMailTransport(config), encryptionKey: config.ENCRYPTION_KEY };
		mailers.set(config, mailer);
	}
	return mailer;
}

/**
 * Puts the request's dependencies (validated config, the databases, the image bucket and the mail
 * transport) on the context as one `deps` object for handlers, with the event recorder beside it
 * (delivering the events they recorded after the response), and
 * runs the request in one D1 session: started at the client's `X-D1-Bookmark` (or anywhere), so
 * replica reads are at least as fresh as what the client saw, and ended by returning the session's
 * latest bookmark, which also covers the request's writes (see `createDb`).
 */
export const provideServices = () =>
	createMiddleware<AppEnv>(async (c, next) => {
		const config = loadConfig(c.env);
		const deps: Deps = {
			config,
			db: createDb(c.env.DB),
			dbRead: createReadDb(c.env.DB),
			bucket: c.env.IMAGES,
			mail: mailerFor(config),
		};
		c.set("deps", deps);
		const events = { webhook: config.webhook, encryptionKey: config.ENCRYPTION_KEY, recorded: [] as string[] };
		c.set("events", events);
		const session = c.env.DB.withSession(sessionStart(c.req.header(BOOKMARK_HEADER)));
		await withD1Session(c.env.DB, session, async () => {
			await next();
			// First attempt after the response, as for mail; a failure leaves the row to the cron's retries.
			if (config.webhook && events.recorded.length > 0) {
				const sender = { ...config.webhook, encryptionKey: config.ENCRYPTION_KEY };
				c.executionCtx.waitUntil(deliverWebhooks(c.get("deps").db, sender, events.recorded).catch(() => {}));
			}
		});
		// A bookmark counts the database's commits, so on sign-up, sign-in and the mailed-link flows it
		// would tell an account that exists (fewer writes) from one that does not; those answers must
		// not differ. Nothing read after them needs it.
		if (c.req.path.startsWith(NO_BOOKMARK_PREFIX)) return;
		// Null only when the request sent nothing to D1 and brought no bookmark: there is none to give.
		const bookmark = session.getBookmark();
		if (bookmark) c.header(BOOKMARK_HEADER, bookmark);
	});
