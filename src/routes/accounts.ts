import { Hono } from "hono";
import { z } from "zod";
import { AppError } from "../lib/errors";
import { audit } from "../middleware/audit";
import { requireAuth } from "../middleware/auth";
import { doc } from "../middleware/doc";
import { validate } from "../middleware/validate";
import { enabledProviders } from "../services/oauth";
import { listLinkedAccounts, unlinkOAuthIdentity } from "../services/oauth/accounts";
import type { AppEnv } from "../types";
import { allowedRedirectUri, requireProvider, tryStartFlow } from "./oauth";

/** Linked sign-in providers of the signed-in user (`/v1/me/accounts`). */
export const accountRoutes = new Hono<AppEnv>();

accountRoutes.use("*", requireAuth());

const providerParam = z.object({ provider: z.string().max(64) });

const linkQuery = z.object({ redirect_uri: z.string().max(2048).optional() });

const linkBody = z.object({
	redirect_uri: z
		.string()
		.max(2048)
		.optional()
		.meta({ description: "Where the callback sends the browser afterwards; must be in OAUTH_REDIRECT_URIS" }),
});

accountRoutes.get(
	"/",
	doc({ summary: "List linked sign-in providers", tags: ["OAuth"], auth: true, responses: { 200: "Linked accounts" } }),
	async (c) => {
		const accounts = await listLinkedAccounts(c.get("dbRead"), c.get("auth").user.id);
		return c.json({
			accounts: accounts.map((account) => ({
				provider: account.provider,
				provider_user_id: account.providerUserId,
				email: account.email,
				linked_at: account.linkedAt.toISOString(),
			})),
		});
	},
);

// The flow cookie is set on this response, so the browser that asked is the only one whose
// callback can complete the link (the state alone, sent to someone else, is useless).
accountRoutes.post(
	"/:provider",
	doc({
		summary: "Start linking a provider to the signed-in user",
		tags: ["OAuth"],
		auth: true,
		responses: { 200: "{authorization_url}", 400: "redirect_uri_not_allowed", 404: "provider_not_found" },
	}),
	validate("param", providerParam),
	validate("query", linkQuery),
	validate("json", linkBody),
	async (c) => {
		const provider = requireProvider(c, c.req.valid("param").provider);
		// The body is optional; a redirect_uri may also come in the query, as for GET /v1/auth/oauth/:provider.
		const redirectUri = allowedRedirectUri(c, c.req.valid("json").redirect_uri ?? c.req.valid("query").redirect_uri);
		const { user, session } = c.get("auth");
		const url = await tryStartFlow(c, provider, { redirectUri, link: { userId: user.id, sessionId: session.id } });
		if (!url) throw new AppError("oauth_failed");
		return c.json({ authorization_url: url.toString() }, 200, { "Cache-Control": "no-store" });
	},
);

accountRoutes.delete(
	"/:provider",
	doc({
		summary: "Unlink a provider",
		tags: ["OAuth"],
		auth: true,
		responses: { 204: "Unlinked", 404: "not linked", 409: "last_login_method" },
	}),
	validate("param", providerParam),
	async (c) => {
		const provider = c.req.valid("param").provider;
		const enabled = enabledProviders(c.get("config")).map(({ id }): string => id);
		const result = await unlinkOAuthIdentity(c.get("db"), c.get("auth").user.id, provider, enabled);
		if (result.ok) {
			audit(c, "oauth_unlinked", c.get("auth").user.id, { provider });
			return c.body(null, 204);
		}
		if (result.reason === "last_login_method") throw new AppError("last_login_method");
		// A provider this deployment does not offer at all reads as unknown; an offered one just is not linked.
		throw new AppError(enabled.includes(provider) ? "not_found" : "provider_not_found");
	},
);
