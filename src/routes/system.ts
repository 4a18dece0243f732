import { Hono } from "hono";
import { sql } from "drizzle-orm";
import { AppError } from "../lib/errors";
import { defaultLocale, listLocales } from "../lib/i18n";
import type { AppEnv } from "../types";

export const systemRoutes = new Hono<AppEnv>();

systemRoutes.get("/health", async (c) => {
	try {
		await Promise.all([c.get("db").run(sql`select 1`), c.env.IMAGES.head("health-check")]);
	} catch (cause) {
		throw new AppError("service_unavailable", { headers: { "Retry-After": "5" }, cause });
	}
	return c.json({ status: "ok" }, 200, { "Cache-Control": "no-store" });
});

systemRoutes.get("/v1/locales", (c) => {
	return c.json({ default: defaultLocale(c.get("config").DEFAULT_LOCALE), locales: listLocales() });
});
