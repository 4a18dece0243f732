import { createApp } from "./app";
import { loadConfig } from "./config";
import { createDb } from "./db/client";
import { log } from "./lib/log";
import { createMailTransport } from "./services/mail";
import { deliverDueMail } from "./services/outbox";

const app = createApp();

export default {
	fetch: app.fetch,
	/** Cron Trigger: retries mail the request-time attempt could not deliver. */
	async scheduled(_controller, env, ctx) {
		const config = loadConfig(env);
		const db = createDb(env.DB);
		ctx.waitUntil(
			deliverDueMail(db, createMailTransport(config)).then((count) => {
				if (count > 0) log("info", "outbox_retry", { attempted: count });
			}),
		);
	},
} satisfies ExportedHandler<Cloudflare.Env>;
