import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import { html } from "hono/html";
import { describeError } from "../lib/error-info";
import { AppError } from "../lib/errors";
import { PAGE_HEADERS, pageCspWithFormTargets, statusMessage } from "../lib/html";
import { log } from "../lib/log";
import {
	BODY_ERRORS,
	OUTAGE,
	PUBLIC,
	htmlPage,
	json,
	jsonOrFormRequest,
	problems,
	problemsOrPage,
} from "../lib/openapi";
import { appRedirect } from "../middleware/app-redirect";
import { audit, requestOrigin } from "../middleware/audit";
import { formAwareOnError } from "../middleware/errors";
import { preferUserLocale } from "../middleware/language";
import { enforceRateLimit, limitPerClient } from "../middleware/rate-limit";
import { isFormRequest, jsonOrFormBody, validateJsonOrForm, validationHook } from "../middleware/validate";
import { magicLinkBody, magicVerifyBody, messageResponse, signInResponse, tokenQuery } from "../schemas";
import { queueMagicLinkMail } from "../services/account-mail";
import {
	type MagicSpendResult,
	inspectMagicLink,
	spendMagicLinkCode,
	spendMagicLinkToken,
} from "../services/magic-links";
import { linkedProviders } from "../services/oauth/accounts";
import { deliverMail } from "../services/outbox";
import { LOGIN_CODE_SECONDS, signInOrChallenge } from "../services/sign-in";
import { findUserByEmail, normalizeEmail } from "../services/users";
import { issueVerificationToken } from "../services/verification";
import type { AppEnv } from "../types";
import { pageResponse } from "../middleware/page";

/** /v1/auth/magic-link: passwordless sign-in by a mailed link or the 6-digit code in the same mail. */
export const magicLinkRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

magicLinkRoutes.openAPIRegistry.register("MagicVerifyBody", magicVerifyBody);

const NO_STORE = { "Cache-Control": "no-store" };

const requestRoute = createRoute({
	method: "post",
	path: "/",
	operationId: "requestMagicLink",
	summary: "Mail a sign-in link and code (always 202, whether or not the address has an account)",
	tags: ["accounts"],
	...PUBLIC,
	middleware: [limitPerClient("magic_ip", (config) => config.RATE_LIMIT_MAIL_IP)] as const,
	request: { body: { required: true, content: { "application/json": { schema: magicLinkBody } } } },
	responses: {
		202: json("Accepted; a mail is on its way if the address can sign in or sign up", messageResponse),
		...problems(...BODY_ERRORS, "redirect_uri_not_allowed", "rate_limited", OUTAGE),
	},
});

magicLinkRoutes.openapi(requestRoute, async (c) => {
	const body = c.req.valid("json");
	const redirectTo = appRedirect(c, body.redirect_to);
	const email = normalizeEmail(body.email);
	// Counted for every address, known or not, so the limit itself reveals nothing.
	await enforceRateLimit(c, "magic_email", email, c.get("deps").config.RATE_LIMIT_MAIL_EMAIL);
	mailAfterResponse(c, email, body.locale ?? c.get("lang"), redirectTo);
	return c.json({ message: c.get("t")("messages.magic_link_sent") }, 202);
});

/**
 * Looks the address up and mails it after the response (waitUntil), as the reset and resend
 * routes do: the lookup and the mail's writes would otherwise make a known address measurably
 * slower to answer than an unknown one (bench/enumeration-timing.mjs). An unknown address gets a
 * sign-up link, or nothing with MAGIC_LINK_SIGNUP=off.
 */
function mailAfterResponse(c: Context<AppEnv>, email: string, locale: string, redirectTo: string | null): void {
	const db = c.get("deps").db;
	const config = c.get("deps").config;
	const mail = c.get("deps").mail;
	const requestId = c.get("requestId");
	const work = async () => {
		await new Promise((resolve) => setTimeout(resolve, 0));
		const user = (await findUserByEmail(db, email)) ?? null;
		if (!user && config.MAGIC_LINK_SIGNUP === "off") return;
		const outboxId = await queueMagicLinkMail(db, config, { email, user, fallbackLocale: locale, redirectTo });
		await deliverMail(db, mail, [outboxId]);
	};
	c.executionCtx.waitUntil(
		work().catch((error: unknown) => log("error", "magic_link_mail_failed", { requestId, ...describeError(error) })),
	);
}

const pageRoute = createRoute({
	method: "get",
	path: "/",
	operationId: "magicLinkPage",
	summary: "Magic link page (spends nothing)",
	tags: ["accounts"],
	...PUBLIC,
	request: { query: tokenQuery },
	responses: {
		200: htmlPage(
			"With redirect_to: a button that signs in and returns to the app with ?code=; without: type the mailed code in the app",
		),
		...problems("validation_failed", OUTAGE),
	},
});

// GET never spends: mail scanners prefetch links.
magicLinkRoutes.openapi(pageRoute, async (c) => {
	const token = c.req.valid("query").token ?? "";
	const link = token ? await inspectMagicLink(c.get("deps").db, token) : { state: "invalid" as const };
	if (link.locale) preferUserLocale(c, link.locale);
	const t = c.get("t");
	if (link.state !== "valid") {
		return pageResponse(
			c,
			c.get("t")("pages.magic.title"),
			statusMessage(t(link.state === "expired" ? "pages.magic.expired" : "pages.magic.invalid"), "error"),
		);
	}
	if (!link.redirectTo)
		return pageResponse(c, c.get("t")("pages.magic.title"), statusMessage(t("pages.magic.type_code")));
	// The button's post ends in a redirect to the app: the CSP must let the form go there.
	const headers = {
		...PAGE_HEADERS,
		"Content-Security-Policy": pageCspWithFormTargets([new URL(link.redirectTo).origin]),
	};
	return pageResponse(
		c,
		c.get("t")("pages.magic.title"),
		html`<p>${t("pages.magic.prompt", { app: c.get("deps").config.APP_NAME })}</p>
<form method="post" action="/v1/auth/magic-link/verify?lang=${c.get("lang")}">
<input type="hidden" name="token" value="${token}">
<button type="submit">${t("pages.magic.button")}</button>
</form>`,
		200,
		headers,
	);
});

const verifyRoute = createRoute({
	method: "post",
	path: "/verify",
	operationId: "verifyMagicLink",
	summary: "Sign in with a magic link's token or the mailed code",
	tags: ["accounts"],
	...PUBLIC,
	middleware: [
		limitPerClient("magic_verify_ip", (config) => config.RATE_LIMIT_LOGIN_IP),
		validateJsonOrForm(magicVerifyBody),
	] as const,
	request: jsonOrFormRequest("MagicVerifyBody"),
	responses: {
		200: json("Access and refresh tokens (a fresh sign-in), or, with TOTP on, the mfa_required answer", signInResponse),
		302: {
			description:
				"A form post from the page: to redirect_to with ?code= (a one-time login code for /v1/auth/oauth/exchange)",
			headers: { Location: { description: "The app page", schema: { type: "string" as const } } },
		},
		// JSON or a form, like the confirmation posts: any other type is read as JSON (so no 415).
		...problemsOrPage(
			"validation_failed",
			"payload_too_large",
			"token_invalid",
			["token_expired", 410],
			"account_disabled",
			"rate_limited",
			OUTAGE,
		),
	},
});

magicLinkRoutes.openapi(verifyRoute, async (c) => {
	const body = jsonOrFormBody(c, magicVerifyBody);
	const db = c.get("deps").db;
	const form = isFormRequest(c.req.header("Content-Type"));
	if (form) return verifyFromPage(c, body.token ?? "");
	const method = body.token !== undefined ? "magic_link" : "email_code";
	const result =
		body.token !== undefined
			? await spendMagicLinkToken(db, c.get("events"), body.token)
			: await spendMagicLinkCode(db, c.get("events"), normalizeEmail(body.email ?? ""), body.code ?? "");
	if (!result.ok) {
		if (method === "email_code") auditWrongCode(c, normalizeEmail(body.email ?? ""));
		if (result.reason === "expired") throw new AppError("token_expired", { status: 410 });
		throw new AppError("token_invalid");
	}
	auditSpend(c, result, method);
	const providers = await linkedProviders(db, result.user.id);
	const signIn = await signInOrChallenge(db, c.get("deps").config, {
		user: result.user,
		providers,
		method,
		...requestOrigin(c),
	});
	if (signIn.disabled) throw new AppError("account_disabled");
	// With a second step pending, the sign-in is audited when POST /v1/auth/mfa completes it.
	if (!signIn.mfa) audit(c, "login", result.user.id, { method });
	return c.json(signIn.body, 200, NO_STORE);
});

/**
 * The page's button: spends the link and sends the browser back to the app with a one-time login
 * code (never tokens in a URL); the app exchanges it at /v1/auth/oauth/exchange, which ends the
 * sign-in through the same signInOrChallenge (TOTP answers mfa_required there).
 */
async function verifyFromPage(c: Context<AppEnv>, token: string) {
	const db = c.get("deps").db;
	const t = c.get("t");
	const peek = token ? await inspectMagicLink(db, token) : { state: "invalid" as const, redirectTo: null };
	if (peek.locale) preferUserLocale(c, peek.locale);
	// Without an app to return to, a button cannot help: the page said to type the code instead.
	if (peek.state === "valid" && !peek.redirectTo)
		return pageResponse(c, c.get("t")("pages.magic.title"), statusMessage(t("pages.magic.type_code")));
	const result = peek.state === "valid" ? await spendMagicLinkToken(db, c.get("events"), token) : null;
	if (!result?.ok || !result.redirectTo) {
		const expired = result ? !result.ok && result.reason === "expired" : peek.state === "expired";
		return pageResponse(
			c,
			c.get("t")("pages.magic.title"),
			statusMessage(t(expired ? "pages.magic.expired" : "pages.magic.invalid"), "error"),
			expired ? 410 : 400,
		);
	}
	auditSpend(c, result, "magic_link");
	const code = await issueVerificationToken(db, result.user.id, "oauth_login", LOGIN_CODE_SECONDS);
	const target = new URL(result.redirectTo);
	target.searchParams.set("code", code);
	c.header("Cache-Control", "no-store");
	c.header("Referrer-Policy", "no-referrer");
	return c.redirect(target.toString(), 302);
}

/** The audit trail of a used link or code: a sign-up, or a confirmation of the address. */
function auditSpend(c: Context<AppEnv>, result: Extract<MagicSpendResult, { ok: true }>, method: string) {
	if (result.created) audit(c, "register", result.user.id, { method });
	else if (result.claimed) audit(c, "email_confirmed", result.user.id, { method, claimed: true });
}

/**
 * A wrong code is recorded on the account of the address, when there is one: looked up after the
 * response, so a wrong code costs the same for known and unknown addresses.
 */
function auditWrongCode(c: Context<AppEnv>, email: string): void {
	c.executionCtx.waitUntil(
		findUserByEmail(c.get("deps").db, email)
			.then((user) => {
				if (user) audit(c, "magic_link_failed", user.id, { method: "email_code" });
			})
			.catch(() => {}),
	);
}

/** A form post never gets JSON back: whatever refuses it is an HTML page in the page's language. */
magicLinkRoutes.onError(formAwareOnError("pages.magic.title"));
