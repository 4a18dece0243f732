import { createMiddleware } from "hono/factory";
import { type Config, loadConfig } from "../config";
import { createDb } from "../db/client";
import { createMailTransport } from "../services/mail";
import type { Mailer } from "../services/outbox";
import type { AppEnv } from "../types";

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

/** Puts validated config, the database and the mail transport on the context for handlers. */
export const provideServices = () =>
	createMiddleware<AppEnv>(async (c, next) => {
		const config = loadConfig(c.env);
		c.set("config", config);
		c.set("db", createDb(c.env.DB));
		c.set("mail", mailerFor(config));
		await next();
	});
