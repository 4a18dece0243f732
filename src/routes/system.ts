import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import { sql } from "drizzle-orm";
import { z } from "zod";
import { AppError } from "../lib/errors";
import { defaultLocale, listLocales } from "../lib/i18n";
import { OUTAGE, PUBLIC, json, problems } from "../lib/openapi";
import { validationHook } from "../middleware/validate";
import type { AppEnv } from "../types";

export const systemRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

const healthRoute = createRoute({
	method: "get",
	path: "/health",
	operationId: "getHealth",
	summary: "Health of the Worker, D1 and R2",
	tags: ["operations"],
	...PUBLIC,
	responses: {
		200: json("D1 and R2 answer", z.object({ status: z.literal("ok") })),
		...problems(OUTAGE),
	},
});

systemRoutes.openapi(healthRoute, async (c) => {
	try {
		await Promise.all([c.get("deps").db.run(sql`select 1`), c.get("deps").bucket.head("health-check")]);
	} catch (cause) {
		throw new AppError("service_unavailable", { headers: { "Retry-After": "5" }, cause });
	}
	return c.json({ status: "ok" as const }, 200, { "Cache-Control": "no-store" });
});

const localesRoute = createRoute({
	method: "get",
	path: "/v1/locales",
	operationId: "listLocales",
	summary: "Shipped languages",
	tags: ["i18n"],
	...PUBLIC,
	responses: {
		200: json(
			"The default locale and every shipped one",
			z.object({
				default: z.string(),
				locales: z.array(z.object({ code: z.string(), name: z.string(), dir: z.enum(["ltr", "rtl"]) })),
			}),
		),
	},
});

systemRoutes.openapi(localesRoute, (c) => {
	return c.json({ default: defaultLocale(c.get("deps").config.DEFAULT_LOCALE), locales: listLocales() }, 200);
});
