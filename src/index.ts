import { createApp } from "./app";
import { loadConfig } from "./config";
import { createDb } from "./db/client";
import { log } from "./lib/log";
import { createMailTransport } from "./services/mail";
import { pruneSecurityRecords } from "./services/audit";
import { deliverDueMail, deliverDueWebhooks, expireStaleMail } from "./services/outbox";
import { SWEEP_GRACE_MS, isSweepDue, sweepOrphans } from "./services/sweep";

const app = createApp();

export default {
	fetch: app.fetch,
	/**
	 * Cron Trigger: retries mail and events the request-time attempt could not deliver; hourly, sweeps R2/D1
	 * orphans and prunes ended rate-limit windows and audit events past their retention.
	 */
	async scheduled(controller, env, ctx) {
		const config = loadConfig(env);
		const db = createDb(env.DB);
		ctx.waitUntil(
			// Expired links first, so the retry never sends a dead one.
			expireStaleMail(db)
				.then((expired) => {
					if (expired > 0) log("info", "outbox_expired", { expired });
					return deliverDueMail(db, { transport: createMailTransport(config), encryptionKey: config.ENCRYPTION_KEY });
				})
				.then((count) => {
					if (count > 0) log("info", "outbox_retry", { attempted: count });
				}),
		);
		const { webhook } = config;
		if (webhook) {
			ctx.waitUntil(
				deliverDueWebhooks(db, { ...webhook, encryptionKey: config.ENCRYPTION_KEY }).then((count) => {
					if (count > 0) log("info", "webhook_retry", { attempted: count });
				}),
			);
		}
		if (isSweepDue(controller.scheduledTime)) {
			ctx.waitUntil(
				sweepOrphans(db, env.IMAGES, { graceMs: SWEEP_GRACE_MS }).then((report) => log("info", "orphan_sweep", report)),
			);
			ctx.waitUntil(pruneSecurityRecords(db, config).then((report) => log("info", "security_prune", report)));
		}
	},
} satisfies ExportedHandler<Cloudflare.Env>;
