import { createMiddleware } from "hono/factory";
import { type Config, loadConfig } from "../config";
import { createDb } from "../db/client";
import { createMailTransport, type MailTransport } from "../services/mail";
import type { AppEnv } from "../types";

// One transport per configuration and isolate: building a Resend client on every request is waste.
const transports = new WeakMap<Config, MailTransport>();

function mailTransportFor(config: Config): MailTransport {
	let transport = transports.get(config);
	if (!transport) {
		transport = createMailTransport(config);
		transports.set(config, transport);
	}
	return transport;
}

/** Puts validated config, the database and the mail transport on the context for handlers. */
export const provideServices = () =>
	createMiddleware<AppEnv>(async (c, next) => {
		const config = loadConfig(c.env);
		c.set("config", config);
		c.set("db", createDb(c.env.DB));
		c.set("mail", mailTransportFor(config));
		await next();
	});
