import { Hono } from "hono";
import { sql } from "drizzle-orm";
import { html } from "hono/html";
import { AppError } from "../lib/errors";
import { doc } from "../middleware/doc";
import { defaultLocale, listLocales } from "../lib/i18n";
import type { AppEnv } from "../types";

export const systemRoutes = new Hono<AppEnv>();

systemRoutes.get("/health", doc({ summary: "Health of the Worker, D1 and R2", tags: ["operations"] }), async (c) => {
	try {
		await Promise.all([c.get("db").run(sql`select 1`), c.env.IMAGES.head("health-check")]);
	} catch (cause) {
		throw new AppError("service_unavailable", { headers: { "Retry-After": "5" }, cause });
	}
	return c.json({ status: "ok" }, 200, { "Cache-Control": "no-store" });
});

systemRoutes.get("/v1/locales", doc({ summary: "Shipped languages", tags: ["i18n"] }), (c) => {
	return c.json({ default: defaultLocale(c.get("config").DEFAULT_LOCALE), locales: listLocales() });
});

// The reference UI is a static page loading Scalar from its CDN and reading /openapi.json.
const SCALAR = "https://cdn.jsdelivr.net/npm/@scalar/api-reference@1";

systemRoutes.get("/docs", (c) => {
	const page = html`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Atrium API reference</title></head>
<body>
<script id="api-reference" data-url="/openapi.json"></script>
<script src="${SCALAR}"></script>
</body>
</html>`;
	return c.html(page, 200, {
		"Content-Security-Policy": `default-src 'none'; script-src https://cdn.jsdelivr.net 'unsafe-eval'; style-src 'unsafe-inline' https://cdn.jsdelivr.net; font-src https://cdn.jsdelivr.net data:; img-src 'self' data:; connect-src 'self'`,
	});
});
