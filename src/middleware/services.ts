import { createMiddleware } from "hono/factory";
import { loadConfig } from "../config";
import { createDb } from "../db/client";
import { createMailTransport } from "../services/mail";
import type { AppEnv } from "../types";

/** Puts validated config, the database and the mail transport on the context for handlers. */
export const provideServices = () =>
	createMiddleware<AppEnv>(async (c, next) => {
		const config = loadConfig(c.env);
		c.set("config", config);
		c.set("db", createDb(c.env.DB));
		c.set("mail", createMailTransport(config));
		await next();
	});
