import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import { PUBLIC, json } from "../lib/openapi";
import { validationHook } from "../middleware/validate";
import { publishedKeys } from "../services/token-keys";
import type { AppEnv } from "../types";

export const wellKnownRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

const publicJwk = z
	.object({
		kty: z.enum(["EC", "OKP"]),
		crv: z.enum(["P-256", "Ed25519"]),
		x: z.string(),
		y: z.string().optional().meta({ description: "EC keys only" }),
		kid: z.string(),
		alg: z.enum(["ES256", "EdDSA"]),
		use: z.literal("sig"),
	})
	.meta({ id: "PublicJwk" });

const jwksRoute = createRoute({
	method: "get",
	path: "/.well-known/jwks.json",
	operationId: "getJwks",
	summary: "Public keys that verify access tokens",
	description:
		"The public halves of JWT_SIGNING_KEYS (ES256 or EdDSA), newest first; a token's `kid` names its key. " +
		"Empty with HS256, whose shared secret is never published.",
	tags: ["keys"],
	...PUBLIC,
	responses: {
		200: json("The JWK set", z.object({ keys: z.array(publicJwk) }), {
			"Cache-Control": { description: "`public, max-age=300`", schema: { type: "string" } },
		}),
	},
});

wellKnownRoutes.openapi(jwksRoute, (c) => {
	// Cacheable on purpose: verifiers refetch it, and a rotation prepends a key well before it signs.
	return c.json({ keys: publishedKeys(c.get("deps").config) as z.infer<typeof publicJwk>[] }, 200, {
		"Cache-Control": "public, max-age=300",
	});
});
