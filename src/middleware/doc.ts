import { createMiddleware } from "hono/factory";
import { ROUTE_DOC, type RouteDoc } from "../lib/openapi";
import type { AppEnv } from "../types";

/** Documents a route in the generated OpenAPI document; does nothing at request time. */
export function doc(meta: RouteDoc) {
	const middleware = createMiddleware<AppEnv>(async (_c, next) => next());
	Object.defineProperty(middleware, ROUTE_DOC, { value: meta });
	return middleware;
}
