import { Hono } from "hono";
import type { Context } from "hono";
import { REFERENCE_STYLE_HASH, type ReferenceDocument, renderReference } from "../lib/api-reference";
import type { AppEnv } from "../types";

/**
 * The API's own description: `/openapi.json`, the reference page at `/docs` rendered from it, and
 * `/` pointing at both. `document` builds the served document (the app owns the route registry).
 */
export function docsRoutes(document: (c: Context<AppEnv>) => ReferenceDocument) {
	const routes = new Hono<AppEnv>();

	routes.get("/", (c) =>
		c.json({
			name: "Atrium API",
			docs: new URL("/docs", c.get("deps").config.appUrl).toString(),
			openapi: new URL("/openapi.json", c.get("deps").config.appUrl).toString(),
		}),
	);

	routes.get("/openapi.json", (c) => c.json(document(c)));

	routes.get("/docs", (c) =>
		c.html(renderReference(document(c), "en"), 200, {
			// Exactly what the page loads: its inline stylesheet; no script, image, font or request.
			"Content-Security-Policy": `default-src 'none'; style-src ${REFERENCE_STYLE_HASH}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
		}),
	);

	return routes;
}
