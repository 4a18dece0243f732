import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../types";

/**
 * `Cache-Control: no-store` on JSON a cache must never keep: every response to a request that
 * carried credentials (`Authorization`), everything under /v1/auth (token responses: login,
 * refresh, OAuth exchange) and every answer to a write. A route that chose its own Cache-Control
 * keeps it; public GET JSON (health, locales, OpenAPI) stays cacheable.
 */
export const noStoreForPrivateJson = () =>
	createMiddleware<AppEnv>(async (c, next) => {
		await next();
		if (c.res.headers.has("Cache-Control")) return;
		const type = c.res.headers.get("Content-Type") ?? "";
		if (!/^application\/([\w.+-]+\+)?json/i.test(type)) return;
		const credentials = c.req.header("Authorization") !== undefined;
		const write = c.req.method !== "GET" && c.req.method !== "HEAD";
		if (credentials || write || c.req.path.startsWith("/v1/auth/")) c.header("Cache-Control", "no-store");
	});
