import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import { html } from "hono/html";
import { z } from "zod";
import { AppError } from "../lib/errors";
import { PAGE_HEADERS, maskEmail, pageCsp, statusMessage } from "../lib/html";
import { log } from "../lib/log";
import { PUBLIC, htmlPage } from "../lib/openapi";
import { asProblemPage, onError } from "../middleware/errors";
import { preferUserLocale } from "../middleware/language";
import { limitPerClient } from "../middleware/rate-limit";
import { validationHook } from "../middleware/validate";
import { getProvider, type OAuthProvider, OAuthProviderError } from "../services/oauth";
import { startBrowserFlow } from "../middleware/oauth-flow-cookie";
import { authorizationOrigin } from "../services/oauth/flow";
import { type LinkTicketState, inspectLinkTicket, spendLinkTicket } from "../services/oauth/link-tickets";
import type { AppEnv } from "../types";
import { pageResponse } from "../middleware/page";

/**
 * The linking page of `POST /v1/me/accounts/:provider`'s URL, opened in any browser: it names the
 * account and the provider, and its button starts the provider flow in that browser. Every answer
 * is an HTML page (a browser is on the other end), never problem+json.
 */
export const oauthLinkRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

const providerParam = z.object({
	provider: z
		.string()
		.max(64)
		.meta({ param: { name: "provider", in: "path" }, example: "github" }),
});

const ticketQuery = z.object({ ticket: z.string().max(512).optional() });

const ticketForm = z.object({ ticket: z.string().min(1).max(512) });

const REDIRECT = {
	description: "To the provider (state and PKCE in this browser's cookie), or to redirect_uri?error=oauth_failed",
	headers: { Location: { description: "Where the browser goes next", schema: { type: "string" as const } } },
};

const rateLimit = limitPerClient("oauth_link_ip", (config) => config.RATE_LIMIT_LINK_IP);

/** The page of a ticket that cannot be used (any more): 410 when it was good once, else 400. */
function deadTicketPage(c: Context<AppEnv>, provider: OAuthProvider, state: Exclude<LinkTicketState, "valid">) {
	const t = c.get("t");
	const title = t("pages.link.title", { provider: provider.name });
	return pageResponse(c, title, statusMessage(t(`pages.link.${state}`), "error"), state === "invalid" ? 400 : 410);
}

/** The enabled provider of the path; unknown ones are answered by onError below as a page. */
function providerOf(c: Context<AppEnv>, id: string): OAuthProvider {
	const provider = getProvider(c.get("deps").config, id);
	if (!provider) throw new AppError("provider_not_found");
	return provider;
}

const pageRoute = createRoute({
	method: "get",
	path: "/{provider}/link",
	operationId: "accountLinkPage",
	summary: "The linking page of a ticket (spends nothing; open in any browser)",
	tags: ["OAuth"],
	...PUBLIC,
	middleware: [rateLimit] as const,
	request: { params: providerParam, query: ticketQuery },
	responses: {
		200: htmlPage("The provider, the masked account email and one button that posts the ticket"),
		400: htmlPage("No such ticket, a malformed request, or the provider cannot be reached"),
		404: htmlPage("No such provider"),
		410: htmlPage("The ticket was used or has expired"),
		429: htmlPage("Too many requests from this address (Retry-After)"),
		503: htmlPage("Storage unavailable (Retry-After)"),
	},
});

oauthLinkRoutes.openapi(pageRoute, async (c) => {
	const provider = providerOf(c, c.req.valid("param").provider);
	const ticket = c.req.valid("query").ticket ?? "";
	const found = ticket ? await inspectLinkTicket(c.get("deps").db, ticket, provider.id) : { state: "invalid" as const };
	if (found.locale) preferUserLocale(c, found.locale);
	if (found.state !== "valid" || !found.email)
		return deadTicketPage(c, provider, found.state === "valid" ? "invalid" : found.state);
	// The form's post ends at the provider: the CSP must say so, or the browser blocks the redirect.
	const origin = await authorizationOrigin(provider).catch((error: unknown) => {
		if (error instanceof OAuthProviderError) throw new AppError("oauth_failed");
		throw error;
	});
	const t = c.get("t");
	const app = c.get("deps").config.APP_NAME;
	const body = html`<p>${t("pages.link.prompt", { provider: provider.name, app, email: maskEmail(found.email) })}</p>
<p>${t("pages.link.notice", { app })}</p>
<form method="post" action="/v1/auth/oauth/${provider.id}/link?lang=${c.get("lang")}">
<input type="hidden" name="ticket" value="${ticket}">
<button type="submit">${t("pages.link.button", { provider: provider.name })}</button>
</form>`;
	const headers = { ...PAGE_HEADERS, "Content-Security-Policy": pageCsp([origin]) };
	return pageResponse(c, t("pages.link.title", { provider: provider.name }), body, 200, headers);
});

const startRoute = createRoute({
	method: "post",
	path: "/{provider}/link",
	operationId: "startAccountLinkInBrowser",
	summary: "The linking page's button: spends the ticket and starts the provider flow in this browser",
	tags: ["OAuth"],
	...PUBLIC,
	middleware: [rateLimit] as const,
	request: {
		params: providerParam,
		body: { required: true, content: { "application/x-www-form-urlencoded": { schema: ticketForm } } },
	},
	responses: {
		302: REDIRECT,
		400: htmlPage("No such ticket, a malformed form, or the provider cannot be reached (without redirect_uri)"),
		404: htmlPage("No such provider"),
		410: htmlPage("The ticket was used or has expired"),
		413: htmlPage("The form is larger than 64 KB"),
		429: htmlPage("Too many requests from this address (Retry-After)"),
		503: htmlPage("Storage unavailable (Retry-After)"),
	},
});

oauthLinkRoutes.openapi(startRoute, async (c) => {
	const provider = providerOf(c, c.req.valid("param").provider);
	const spent = await spendLinkTicket(c.get("deps").db, c.req.valid("form").ticket, provider.id);
	if (spent.locale) preferUserLocale(c, spent.locale);
	if (!spent.ok) return deadTicketPage(c, provider, spent.state);
	c.header("Cache-Control", "no-store");
	try {
		// The flow cookie goes to this browser: the callback completes only where the button was pressed.
		const url = await startBrowserFlow(c, provider, {
			redirectUri: spent.redirectUri,
			link: { userId: spent.userId, sessionId: spent.sessionId },
		});
		return c.redirect(url.toString(), 302);
	} catch (error) {
		if (!(error instanceof OAuthProviderError)) throw error;
		log("warn", "oauth_start_failed", { requestId: c.get("requestId"), provider: provider.id, reason: error.message });
		if (!spent.redirectUri) throw new AppError("oauth_failed");
		const back = new URL(spent.redirectUri);
		back.searchParams.set("error", "oauth_failed");
		return c.redirect(back.toString(), 302);
	}
});

/** Whatever refuses a request here (validation, rate limit, outage) answers as a page, same status. */
oauthLinkRoutes.onError(async (error, c) => asProblemPage(c, await onError(error, c)));
