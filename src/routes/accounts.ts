import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import { AppError } from "../lib/errors";
import { audit } from "../middleware/audit";
import { requireAuth } from "../middleware/auth";
import { AUTH_ERRORS, BEARER, BODY_ERRORS, OUTAGE, json, problems } from "../lib/openapi";
import { validationHook } from "../middleware/validate";
import { linkedAccountResponse } from "../schemas";
import { enabledProviders } from "../services/oauth";
import { listLinkedAccounts, unlinkOAuthIdentity } from "../services/oauth/accounts";
import { LINK_TICKET_SECONDS, issueLinkTicket } from "../services/oauth/link-tickets";
import type { AppEnv } from "../types";
import { allowedRedirectUri, requireProvider } from "./shared";

/** Linked sign-in providers of the signed-in user (`/v1/me/accounts`). */
export const accountRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

accountRoutes.use("*", requireAuth());

const providerParam = z.object({
	provider: z
		.string()
		.max(64)
		.meta({ param: { name: "provider", in: "path" }, example: "github" }),
});

const linkQuery = z.object({ redirect_uri: z.string().max(2048).optional() });

const linkBody = z.object({
	redirect_uri: z
		.string()
		.max(2048)
		.optional()
		.meta({ description: "Where the callback sends the browser afterwards; must be in OAUTH_REDIRECT_URIS" }),
});

const listRoute = createRoute({
	method: "get",
	path: "/",
	operationId: "listLinkedAccounts",
	summary: "List linked sign-in providers",
	tags: ["OAuth"],
	...BEARER,
	responses: {
		200: json("Linked accounts", z.object({ accounts: z.array(linkedAccountResponse) })),
		...problems(...AUTH_ERRORS, OUTAGE),
	},
});

accountRoutes.openapi(listRoute, async (c) => {
	const accounts = await listLinkedAccounts(c.get("deps").dbRead, c.get("auth").user.id);
	return c.json(
		{
			accounts: accounts.map((account) => ({
				provider: account.provider,
				provider_user_id: account.providerUserId,
				email: account.email,
				linked_at: account.linkedAt.toISOString(),
			})),
		},
		200,
	);
});

// No cookie and no provider call here: the answer is a ticketed URL on Atrium that any browser
// can open (a mobile app's system browser, an SPA on another origin); its page names the account
// and its button starts the provider flow in that browser (src/routes/oauth-link.ts).
const linkRoute = createRoute({
	method: "post",
	path: "/{provider}",
	operationId: "startAccountLink",
	summary: "Start linking a provider to the signed-in user",
	tags: ["OAuth"],
	...BEARER,
	request: {
		params: providerParam,
		query: linkQuery,
		// Optional: no body (or no Content-Type) reads as {}.
		body: { required: false, content: { "application/json": { schema: linkBody } } },
	},
	responses: {
		200: json(
			`A single-use linking URL on Atrium, valid ${LINK_TICKET_SECONDS / 60} minutes: open it in any browser`,
			z.object({ authorization_url: z.url() }),
		),
		...problems(...BODY_ERRORS, "redirect_uri_not_allowed", "provider_not_found", ...AUTH_ERRORS, OUTAGE),
	},
});

accountRoutes.openapi(linkRoute, async (c) => {
	const provider = requireProvider(c, c.req.valid("param").provider);
	// The body is optional; a redirect_uri may also come in the query, as for GET /v1/auth/oauth/:provider.
	const redirectUri = allowedRedirectUri(c, c.req.valid("json").redirect_uri ?? c.req.valid("query").redirect_uri);
	const { user, session } = c.get("auth");
	const ticket = await issueLinkTicket(c.get("deps").db, {
		userId: user.id,
		sessionId: session.id,
		provider: provider.id,
		redirectUri,
	});
	const url = new URL(`/v1/auth/oauth/${provider.id}/link`, c.get("deps").config.appUrl);
	url.searchParams.set("ticket", ticket);
	return c.json({ authorization_url: url.toString() }, 200, { "Cache-Control": "no-store" });
});

const unlinkRoute = createRoute({
	method: "delete",
	path: "/{provider}",
	operationId: "unlinkAccount",
	summary: "Unlink a provider",
	tags: ["OAuth"],
	...BEARER,
	request: { params: providerParam },
	responses: {
		204: { description: "Unlinked" },
		...problems(
			"validation_failed",
			"not_found",
			"provider_not_found",
			"last_login_method",
			"payload_too_large",
			...AUTH_ERRORS,
			OUTAGE,
		),
	},
});

accountRoutes.openapi(unlinkRoute, async (c) => {
	const provider = c.req.valid("param").provider;
	const enabled = enabledProviders(c.get("deps").config).map(({ id }): string => id);
	const result = await unlinkOAuthIdentity(c.get("deps").db, c.get("auth").user.id, provider, enabled);
	if (result.ok) {
		audit(c, "oauth_unlinked", c.get("auth").user.id, { provider });
		return c.body(null, 204);
	}
	if (result.reason === "last_login_method") throw new AppError("last_login_method");
	// A provider this deployment does not offer at all reads as unknown; an offered one just is not linked.
	throw new AppError(enabled.includes(provider) ? "not_found" : "provider_not_found");
});
