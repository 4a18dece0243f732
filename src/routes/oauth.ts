import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import { z } from "zod";
import { AppError, type ErrorCode } from "../lib/errors";
import { log } from "../lib/log";
import { audit, requestOrigin } from "../middleware/audit";
import { statusMessage } from "../lib/html";
import {
	BODY_ERRORS,
	CONTENT_LANGUAGE,
	type DocumentedError,
	htmlPage,
	OUTAGE,
	PUBLIC,
	json,
	jsonBody,
	problems,
} from "../lib/openapi";
import { validationHook } from "../middleware/validate";
import { signInResponse } from "../schemas";
import { enabledProviders, type OAuthIdentity, type OAuthProvider, OAuthProviderError } from "../services/oauth";
import { linkedProviders, linkOAuthIdentity, resolveOAuthLogin } from "../services/oauth/accounts";
import { startBrowserFlow, takeBrowserFlow } from "../middleware/oauth-flow-cookie";
import { allowedRedirectUri, requireProvider } from "./shared";
import type { FlowState } from "../services/oauth/flow";
import { findActiveSession } from "../services/sessions";
import { LOGIN_CODE_SECONDS, signInOrChallenge } from "../services/sign-in";
import { findUserById } from "../services/users";
import { issueVerificationToken, spendVerificationToken } from "../services/verification";
import type { AppEnv } from "../types";
import { pageResponse } from "../middleware/page";

export const oauthRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

const NO_STORE = { "Cache-Control": "no-store" };

const startQuery = z.object({ redirect_uri: z.string().max(2048).optional() });

const callbackQuery = z.object({
	code: z.string().max(2048).optional(),
	state: z.string().max(512).optional(),
	error: z.string().max(256).optional(),
	error_description: z.string().max(2048).optional(),
});

const exchangeBody = z.object({ code: z.string().min(1).max(512) });

const providerParam = z.object({
	provider: z
		.string()
		.max(64)
		.meta({ param: { name: "provider", in: "path" }, example: "github" }),
});

const REDIRECT = {
	description: "To the provider, or back to the app",
	headers: { Location: { description: "Where the browser goes next", schema: { type: "string" as const } } },
};

/**
 * Starts a flow (cookie set, authorization URL built); null, logged, when the provider cannot be
 * reached (e.g. OIDC discovery fails), so each route can answer in its own way.
 */
export async function tryStartFlow(
	c: Context<AppEnv>,
	provider: OAuthProvider,
	options: Parameters<typeof startBrowserFlow>[2],
): Promise<URL | null> {
	try {
		return await startBrowserFlow(c, provider, options);
	} catch (error) {
		if (!(error instanceof OAuthProviderError)) throw error;
		log("warn", "oauth_start_failed", { requestId: c.get("requestId"), provider: provider.id, reason: error.message });
		return null;
	}
}

/** `base` with extra query parameters, keeping any it already has. */
function withParams(base: string, params: Record<string, string>): string {
	const url = new URL(base);
	for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
	return url.toString();
}

/**
 * Ends a flow that had a valid state but failed: back to the app with `?error=` when it gave a
 * redirect_uri (the state proved that URL is the one it asked for), else problem+json.
 */
function flowFailure(c: Context<AppEnv>, flow: FlowState, code: ErrorCode): Response | Promise<Response> {
	if (flow.redirectUri) return c.redirect(withParams(flow.redirectUri, { error: code }), 302);
	// A link flow runs in a browser that pressed the linking page's button: it gets a page too.
	if (flow.link) {
		const error = new AppError(code);
		const t = c.get("t");
		const body = statusMessage(t(`errors.${code}.detail`, error.params), "error");
		return pageResponse(c, t(`errors.${code}.title`, error.params), body, error.status as 400);
	}
	throw new AppError(code);
}

/** Problem responses that a link flow without redirect_uri receives as an HTML page instead. */
function problemsOrLinkPage(...errors: DocumentedError[]) {
	const responses = problems(...errors);
	for (const [status, response] of Object.entries(responses)) {
		if (status === "404" || status === "503") continue;
		responses[status] = {
			...response,
			description: `${response.description} (a link flow without redirect_uri gets an HTML page)`,
			content: { ...response.content, "text/html": { schema: { type: "string" as const } } },
		};
	}
	return responses;
}

const providersRoute = createRoute({
	method: "get",
	path: "/",
	operationId: "listOAuthProviders",
	summary: "List the sign-in providers of this deployment",
	tags: ["OAuth"],
	...PUBLIC,
	responses: {
		200: json("Providers", z.object({ providers: z.array(z.object({ id: z.string(), name: z.string() })) })),
	},
});

oauthRoutes.openapi(providersRoute, (c) => {
	const providers = enabledProviders(c.get("deps").config).map(({ id, name }) => ({ id, name }));
	return c.json({ providers }, 200);
});

const exchangeRoute = createRoute({
	method: "post",
	path: "/exchange",
	operationId: "exchangeLoginCode",
	summary: "Exchange a one-time login code for tokens",
	tags: ["OAuth"],
	...PUBLIC,
	request: { body: jsonBody(exchangeBody) },
	responses: {
		200: json("Tokens, as from login, or the mfa_required answer when TOTP is on", signInResponse),
		...problems(...BODY_ERRORS, "token_invalid", "account_disabled", OUTAGE),
	},
});

oauthRoutes.openapi(exchangeRoute, async (c) => {
	const spent = await spendVerificationToken(c.get("deps").db, c.req.valid("json").code, "oauth_login");
	if (!spent.ok) throw new AppError("token_invalid");
	return c.json(await signIn(c, spent.userId, "oauth"), 200, NO_STORE);
});

const startRoute = createRoute({
	method: "get",
	path: "/{provider}",
	operationId: "startOAuthLogin",
	summary: "Start signing in with a provider (open in the browser)",
	tags: ["OAuth"],
	...PUBLIC,
	request: { params: providerParam, query: startQuery },
	responses: {
		302: REDIRECT,
		// No D1 here (the flow lives in a signed cookie), so no 503 either.
		...problems("validation_failed", "redirect_uri_not_allowed", "oauth_failed", "provider_not_found"),
	},
});

oauthRoutes.openapi(startRoute, async (c) => {
	const provider = requireProvider(c, c.req.valid("param").provider);
	const redirectUri = allowedRedirectUri(c, c.req.valid("query").redirect_uri);
	const url = await tryStartFlow(c, provider, { redirectUri });
	if (!url) {
		if (redirectUri) return c.redirect(withParams(redirectUri, { error: "oauth_failed" }), 302);
		throw new AppError("oauth_failed");
	}
	c.header("Cache-Control", "no-store");
	return c.redirect(url.toString(), 302);
});

const callbackRoute = createRoute({
	method: "get",
	path: "/{provider}/callback",
	operationId: "oauthCallback",
	summary: "Provider callback (the provider sends the browser here)",
	tags: ["OAuth"],
	...PUBLIC,
	request: { params: providerParam, query: callbackQuery },
	responses: {
		200: {
			description:
				"Without redirect_uri: the tokens of a login (or the mfa_required answer when TOTP is on), or a page saying the account is linked",
			headers: CONTENT_LANGUAGE,
			content: {
				"application/json": { schema: signInResponse },
				"text/html": { schema: { type: "string" as const } },
			},
		},
		302: { ...REDIRECT, description: "To the app: ?code= (login), ?linked= (link) or ?error=" },
		...problemsOrLinkPage(
			"validation_failed",
			"oauth_state_mismatch",
			"oauth_denied",
			"oauth_failed",
			"provider_not_found",
			"email_in_use",
			"account_disabled",
			OUTAGE,
		),
		// Only a link flow can find its session ended, and without redirect_uri it ends on a page.
		401: htmlPage("A link flow whose session was signed out or revoked before the provider answered"),
	},
});

oauthRoutes.openapi(callbackRoute, async (c) => {
	const provider = requireProvider(c, c.req.valid("param").provider);
	const query = c.req.valid("query");
	const flow = await takeBrowserFlow(c, provider.id, query.state);
	if (!flow) throw new AppError("oauth_state_mismatch");
	c.header("Cache-Control", "no-store");
	if (query.error) return flowFailure(c, flow, query.error === "access_denied" ? "oauth_denied" : "oauth_failed");
	if (!query.code) return flowFailure(c, flow, "oauth_failed");

	const identity = await redeemCode(c, provider, flow, query.code);
	if (!identity) return flowFailure(c, flow, "oauth_failed");
	return flow.link ? finishLink(c, provider, flow, flow.link, identity) : finishLogin(c, provider, flow, identity);
});

/** The provider's verified identity for `code`, or null (logged) when the provider fails in any way. */
async function redeemCode(
	c: Context<AppEnv>,
	provider: OAuthProvider,
	flow: FlowState,
	code: string,
): Promise<OAuthIdentity | null> {
	try {
		return await provider.validateCallback(code, flow.codeVerifier, flow.nonce);
	} catch (error) {
		if (!(error instanceof OAuthProviderError)) throw error;
		log("warn", "oauth_callback_failed", {
			requestId: c.get("requestId"),
			provider: provider.id,
			reason: error.message,
		});
		return null;
	}
}

/**
 * Signs the identity in to its account (see `resolveOAuthLogin`): with a redirect_uri the app gets
 * a one-time code in the URL (never tokens), without one the tokens come back directly.
 */
async function finishLogin(
	c: Context<AppEnv>,
	provider: OAuthProvider,
	flow: FlowState,
	identity: OAuthIdentity,
): Promise<Response> {
	const db = c.get("deps").db;
	const result = await resolveOAuthLogin(db, provider.id, identity, { locale: c.get("lang"), events: c.get("events") });
	if (!result.ok) return flowFailure(c, flow, result.reason === "no_email" ? "oauth_failed" : "email_in_use");
	const { id: userId } = result.user;
	// Refused before a login code is issued: the app learns it at once (?error=account_disabled).
	if (result.user.disabledAt) return flowFailure(c, flow, "account_disabled");
	log("info", "oauth_login", { requestId: c.get("requestId"), provider: provider.id, userId, outcome: result.outcome });
	audit(c, "login", userId, { method: provider.id, outcome: result.outcome });
	if (!flow.redirectUri) return c.json(await signIn(c, userId, provider.id), 200);
	const code = await issueVerificationToken(db, userId, "oauth_login", LOGIN_CODE_SECONDS);
	return c.redirect(withParams(flow.redirectUri, { code }), 302);
}

/** Links the identity to the user who started the flow, if their session is still live. */
async function finishLink(
	c: Context<AppEnv>,
	provider: OAuthProvider,
	flow: FlowState,
	link: NonNullable<FlowState["link"]>,
	identity: OAuthIdentity,
): Promise<Response> {
	const db = c.get("deps").db;
	const active = await findActiveSession(db, link.sessionId, link.userId);
	if (!active) return flowFailure(c, flow, "unauthorized");
	const result = await linkOAuthIdentity(db, link.userId, provider.id, identity);
	if (!result.ok) return flowFailure(c, flow, "email_in_use");
	log("info", "oauth_linked", { requestId: c.get("requestId"), provider: provider.id, userId: link.userId });
	audit(c, "oauth_linked", link.userId, { provider: provider.id });
	if (flow.redirectUri) return c.redirect(withParams(flow.redirectUri, { linked: provider.id }), 302);
	const message = c.get("t")("messages.oauth_linked", { provider: provider.name });
	return pageResponse(c, message, statusMessage(message), 200);
}

/**
 * A new session with fresh tokens (an OAuth login counts as a login for fresh-token routes), or,
 * with TOTP on, the mfa_required answer: the provider is only the first factor.
 */
async function signIn(c: Context<AppEnv>, userId: string, method: string) {
	const db = c.get("deps").db;
	const [user, providers] = await Promise.all([findUserById(db, userId), linkedProviders(db, userId)]);
	if (!user) throw new AppError("token_invalid");
	const result = await signInOrChallenge(db, c.get("deps").config, {
		user,
		providers,
		method,
		...requestOrigin(c),
	});
	if (result.disabled) throw new AppError("account_disabled");
	return result.body;
}
