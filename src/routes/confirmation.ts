import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import { html } from "hono/html";
import type { User } from "../db/schema";
import { describeError } from "../lib/error-info";
import { AppError, fieldError } from "../lib/errors";
import { PAGE_HEADERS, statusMessage } from "../lib/html";
import { log } from "../lib/log";
import type { ProblemBody } from "../lib/problem";
import type { MailKind } from "../lib/mail-templates";
import { hashPassword } from "../lib/password";
import { passwordEqualsEmail } from "../lib/password-policy";
import { continueUrl } from "../lib/redirects";
import { appRedirect } from "../middleware/app-redirect";
import { audit } from "../middleware/audit";
import { onError } from "../middleware/errors";
import { preferUserLocale } from "../middleware/language";
import { enforceRateLimit, limitPerClient, rateLimitKey } from "../middleware/rate-limit";
import { isFormRequest, jsonOrFormBody, validateJsonOrForm, validationHook } from "../middleware/validate";
import { type DocumentedError, OUTAGE, PUBLIC, htmlPage, jsonOrFormRequest, problems } from "../lib/openapi";
import { PASSWORD_MAX, PASSWORD_MIN, emailBody, messageResponse, resetBody, tokenBody, tokenQuery } from "../schemas";
import { z } from "zod";
import { queueAccountMail } from "../services/account-mail";
import { deliverMail } from "../services/outbox";
import { clear } from "../services/rate-limit";
import { findUserById, findUserByEmail, normalizeEmail } from "../services/users";
import {
	type TokenState,
	confirmEmail,
	inspectVerificationToken,
	resetPasswordEffect,
	spendVerificationToken,
} from "../services/verification";
import type { AppEnv } from "../types";
import { pageResponse } from "../middleware/page";

export const confirmationRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

// Bodies that come as JSON (apps) or as an HTML form (the pages): documented once, referenced by
// both media types, and validated by validateJsonOrForm rather than by the library (see there).
confirmationRoutes.openAPIRegistry.register("TokenBody", tokenBody);
confirmationRoutes.openAPIRegistry.register("EmailBody", emailBody);
confirmationRoutes.openAPIRegistry.register("ResetBody", resetBody);

/** Problem responses that a form post receives as an HTML page instead. */
function problemsOrPage(...errors: DocumentedError[]) {
	const responses = problems(...errors);
	for (const [status, response] of Object.entries(responses)) {
		responses[status] = {
			...response,
			description: `${response.description} (a form post gets an HTML page)`,
			content: { ...response.content, "text/html": { schema: { type: "string" as const } } },
		};
	}
	return responses;
}

/** Both ways of answering a JSON-or-form post: JSON for apps, an HTML page for a form. */
function messageOrPage(description: string) {
	return {
		description,
		headers: htmlPage("").headers,
		content: { "application/json": { schema: messageResponse }, "text/html": { schema: { type: "string" as const } } },
	};
}

/** Failures common to the JSON-or-form posts (the /v1/auth body limit applies). */
const FORM_BODY_ERRORS: DocumentedError[] = ["validation_failed", "payload_too_large"];

type Outcome = "ok" | "expired" | "invalid" | "already";

/** The error a failed outcome is answered with, built where it is thrown (a fresh stack each time). */
function outcomeError(outcome: Exclude<Outcome, "ok">): AppError {
	if (outcome === "expired") return new AppError("token_expired", { status: 410 });
	return new AppError(outcome === "invalid" ? "token_invalid" : "already_confirmed");
}

/** The "continue" link of a result page back to the app page the link was requested from. */
function continueLink(c: Context<AppEnv>, redirectTo: string | null, status: "confirmed" | "password_reset") {
	if (!redirectTo) return "";
	return html`<p><a href="${continueUrl(redirectTo, status)}">${c.get("t")("pages.continue", { app: c.get("deps").config.APP_NAME })}</a></p>`;
}

/**
 * A form that asks for a new link (confirmation resend or password forgot), carrying the dead
 * link's redirect_to along so the new link leads back to the same app page.
 */
function requestLinkForm(c: Context<AppEnv>, action: string, buttonKey: string, redirectTo: string | null) {
	const t = c.get("t");
	const back = redirectTo
		? html`<input type="hidden" name="redirect_to" value="${redirectTo}">
`
		: "";
	// The answer page stays in this page's language, whatever the browser's Accept-Language says.
	return html`<form method="post" action="${action}?lang=${c.get("lang")}">
${back}<label for="email">${t("pages.resend.label")}</label>
<input id="email" name="email" type="email" autocomplete="email" required>
<button type="submit">${t(buttonKey)}</button>
</form>`;
}

const LINK_FLOWS = {
	confirm: {
		expired: "pages.confirm.expired",
		invalid: "pages.confirm.invalid",
		action: "/v1/auth/confirm/resend",
		button: "pages.resend.button",
	},
	reset: {
		expired: "pages.reset.expired",
		invalid: "pages.reset.invalid",
		action: "/v1/auth/password/forgot",
		button: "pages.reset.forgot_button",
	},
} as const;

/** The page of a link that can no longer be used: why, and a form to mail a new one. */
function deadLinkPage(
	c: Context<AppEnv>,
	flow: keyof typeof LINK_FLOWS,
	title: string,
	expired: boolean,
	status: 200 | 400 | 410 = 200,
	redirectTo: string | null = null,
) {
	const { expired: expiredKey, invalid, action, button } = LINK_FLOWS[flow];
	const t = c.get("t");
	const form = requestLinkForm(c, action, button, redirectTo);
	const body = html`${statusMessage(t(expired ? expiredKey : invalid), "error")}${form}`;
	return pageResponse(c, title, body, status);
}

/** A confirmation link's state, and the app page it was requested from (null when unknown). */
async function confirmationState(
	c: Context<AppEnv>,
	token: string,
): Promise<{ state: TokenState | "confirmed"; redirectTo: string | null }> {
	const db = c.get("deps").db;
	const { state, userId, locale, redirectTo = null } = await inspectVerificationToken(db, token, "confirm_email");
	if (locale) preferUserLocale(c, locale);
	if (state !== "spent" || !userId) return { state, redirectTo };
	const user = await findUserById(db, userId);
	return { state: user?.emailConfirmedAt ? "confirmed" : "invalid", redirectTo };
}

// GET never spends: mail scanners prefetch links. It shows a button that POSTs the token.
const confirmPageRoute = createRoute({
	method: "get",
	path: "/confirm",
	operationId: "confirmationPage",
	summary: "Confirmation page (spends nothing); JSON {status} with Accept: application/json",
	tags: ["confirmation"],
	...PUBLIC,
	request: { query: tokenQuery },
	responses: {
		200: {
			description: "A page with a button that posts the token, or the link's state as JSON",
			headers: htmlPage("").headers,
			content: {
				"text/html": { schema: { type: "string" as const } },
				"application/json": {
					schema: z.object({ status: z.enum(["valid", "expired", "invalid", "confirmed"]) }),
				},
			},
		},
		...problems("validation_failed", OUTAGE),
	},
});

confirmationRoutes.openapi(confirmPageRoute, async (c) => {
	const token = c.req.valid("query").token ?? "";
	const { state, redirectTo } = token ? await confirmationState(c, token) : { state: "invalid", redirectTo: null };
	if (!c.req.header("Accept")?.includes("text/html") && c.req.header("Accept")?.includes("application/json")) {
		return c.json({ status: state === "spent" ? "invalid" : state }, 200);
	}
	const t = c.get("t");
	const title = t("pages.confirm.title");
	if (state === "valid") {
		return pageResponse(
			c,
			title,
			html`<p>${t("pages.confirm.prompt")}</p>
<form method="post" action="/v1/auth/confirm?lang=${c.get("lang")}">
<input type="hidden" name="token" value="${token}">
<button type="submit">${t("pages.confirm.button")}</button>
</form>`,
		);
	}
	if (state === "confirmed") return pageResponse(c, title, statusMessage(t("pages.confirm.already")));
	return deadLinkPage(c, "confirm", title, state === "expired", 200, redirectTo);
});

const confirmRoute = createRoute({
	method: "post",
	path: "/confirm",
	operationId: "confirmEmail",
	summary: "Spend a confirmation token",
	tags: ["confirmation"],
	...PUBLIC,
	middleware: [validateJsonOrForm(tokenBody)] as const,
	request: jsonOrFormRequest("TokenBody"),
	responses: {
		200: messageOrPage("Confirmed"),
		...problemsOrPage(...FORM_BODY_ERRORS, "token_invalid", "already_confirmed", ["token_expired", 410], OUTAGE),
	},
});

confirmationRoutes.openapi(confirmRoute, async (c) => {
	const { token } = jsonOrFormBody(c, tokenBody);
	const db = c.get("deps").db;
	const spent = await confirmEmail(db, c.get("events"), token);
	let outcome: Outcome = "ok";
	let deadRedirectTo: string | null = null;
	if (spent.ok) audit(c, "email_confirmed", spent.userId);
	if (!spent.ok) {
		const known = spent.state === "spent" ? await confirmationState(c, token) : spent;
		deadRedirectTo = known.redirectTo ?? null;
		outcome = known.state === "confirmed" ? "already" : known.state === "expired" ? "expired" : "invalid";
	}
	const t = c.get("t");
	if (isFormRequest(c.req.header("Content-Type"))) {
		const title = t("pages.confirm.title");
		if (outcome === "ok") {
			const back = spent.ok ? continueLink(c, spent.redirectTo, "confirmed") : "";
			return pageResponse(c, title, html`${statusMessage(t("pages.confirm.success"))}${back}`);
		}
		if (outcome === "already") return pageResponse(c, title, statusMessage(t("pages.confirm.already")), 409);
		const status = outcome === "expired" ? 410 : 400;
		return deadLinkPage(c, "confirm", title, outcome === "expired", status, deadRedirectTo);
	}
	if (outcome !== "ok") throw outcomeError(outcome);
	return c.json({ message: t("messages.email_confirmed") }, 200);
});

const resendRoute = createRoute({
	method: "post",
	path: "/confirm/resend",
	operationId: "resendConfirmation",
	summary: "Send a new confirmation link (always 202)",
	tags: ["confirmation"],
	...PUBLIC,
	middleware: [
		limitPerClient("resend_ip", (config) => config.RATE_LIMIT_MAIL_IP),
		validateJsonOrForm(emailBody),
	] as const,
	request: jsonOrFormRequest("EmailBody"),
	responses: {
		202: messageOrPage("Accepted, whether or not the address has an unconfirmed account"),
		...problemsOrPage(...FORM_BODY_ERRORS, "redirect_uri_not_allowed", "rate_limited", OUTAGE),
	},
});

confirmationRoutes.openapi(resendRoute, async (c) => {
	const body = jsonOrFormBody(c, emailBody);
	const redirectTo = appRedirect(c, body.redirect_to);
	const email = normalizeEmail(body.email);
	await enforceRateLimit(c, "resend_email", email, c.get("deps").config.RATE_LIMIT_MAIL_EMAIL);
	mailOwnerAfterResponse(c, email, (user) => (user.emailConfirmedAt ? null : "confirm"), redirectTo);
	return accepted(c, "messages.confirmation_resent", "pages.confirm.title");
});

const forgotRoute = createRoute({
	method: "post",
	path: "/password/forgot",
	operationId: "forgotPassword",
	summary: "Mail a password reset link (always 202)",
	tags: ["confirmation"],
	...PUBLIC,
	middleware: [
		limitPerClient("forgot_ip", (config) => config.RATE_LIMIT_MAIL_IP),
		validateJsonOrForm(emailBody),
	] as const,
	request: jsonOrFormRequest("EmailBody"),
	responses: {
		202: messageOrPage("Accepted, whether or not the address has an account"),
		...problemsOrPage(...FORM_BODY_ERRORS, "redirect_uri_not_allowed", "rate_limited", OUTAGE),
	},
});

confirmationRoutes.openapi(forgotRoute, async (c) => {
	const body = jsonOrFormBody(c, emailBody);
	const redirectTo = appRedirect(c, body.redirect_to);
	const email = normalizeEmail(body.email);
	await enforceRateLimit(c, "forgot_email", email, c.get("deps").config.RATE_LIMIT_MAIL_EMAIL);
	mailOwnerAfterResponse(c, email, () => "reset", redirectTo);
	return accepted(c, "messages.reset_requested", "pages.reset.title");
});

/**
 * Looks the address up and mails its owner (when `kindFor` says so) after the response, in
 * waitUntil: the lookup and the mail's writes would otherwise make a known address measurably
 * slower to answer than an unknown one (bench/enumeration-timing.mjs). It first yields one timer
 * tick, so rendering the mail cannot hold the isolate while the response is still on its way out.
 * A failure is logged; the person can simply ask again.
 */
function mailOwnerAfterResponse(
	c: Context<AppEnv>,
	email: string,
	kindFor: (user: User) => MailKind | null,
	redirectTo: string | null,
): void {
	const db = c.get("deps").db;
	const config = c.get("deps").config;
	const mail = c.get("deps").mail;
	const requestId = c.get("requestId");
	const work = async () => {
		await new Promise((resolve) => setTimeout(resolve, 0));
		const user = await findUserByEmail(db, email);
		const kind = user ? kindFor(user) : null;
		if (!user || !kind) return;
		const outboxId = await queueAccountMail(db, config, user, kind, redirectTo);
		await deliverMail(db, mail, [outboxId]);
	};
	c.executionCtx.waitUntil(
		work().catch((error: unknown) => log("error", "account_mail_failed", { requestId, ...describeError(error) })),
	);
}

/** The same 202 for known and unknown addresses (no account enumeration). */
function accepted(c: Context<AppEnv>, messageKey: string, titleKey: string) {
	const t = c.get("t");
	if (isFormRequest(c.req.header("Content-Type"))) {
		return pageResponse(c, t(titleKey), statusMessage(t(messageKey)), 202);
	}
	return c.json({ message: t(messageKey) }, 202);
}

const resetPageRoute = createRoute({
	method: "get",
	path: "/password/reset",
	operationId: "passwordResetPage",
	summary: "Password reset page (spends nothing)",
	tags: ["confirmation"],
	...PUBLIC,
	request: { query: tokenQuery },
	responses: {
		200: htmlPage("A form for the new password, or why the link cannot be used"),
		...problems("validation_failed", OUTAGE),
	},
});

confirmationRoutes.openapi(resetPageRoute, async (c) => {
	const token = c.req.valid("query").token ?? "";
	const {
		state,
		locale,
		redirectTo = null,
	} = token
		? await inspectVerificationToken(c.get("deps").db, token, "reset_password")
		: { state: "invalid", locale: undefined };
	if (locale) preferUserLocale(c, locale);
	const t = c.get("t");
	const title = t("pages.reset.title");
	if (state === "valid") return pageResponse(c, title, resetForm(c, token));
	return deadLinkPage(c, "reset", title, state === "expired", 200, redirectTo);
});

/** The new-password form of a reset link, under the reasons a previous try was refused, if any. */
function resetForm(c: Context<AppEnv>, token: string, refusals: string[] = []) {
	const t = c.get("t");
	return html`${refusals.map((text) => statusMessage(text, "error"))}<p>${t("pages.reset.prompt")}</p>
<form method="post" action="/v1/auth/password/reset?lang=${c.get("lang")}">
<input type="hidden" name="token" value="${token}">
<label for="password">${t("pages.reset.label")}</label>
<input id="password" name="password" type="password" autocomplete="new-password" minlength="${PASSWORD_MIN}" maxlength="${PASSWORD_MAX}" required aria-describedby="password-hint">
<p id="password-hint">${t("pages.reset.hint", { min: PASSWORD_MIN, max: PASSWORD_MAX })}</p>
<button type="submit">${t("pages.reset.button")}</button>
</form>`;
}

/**
 * A form post never gets JSON back: whatever refuses it (a refused password, a malformed body, a
 * rate limit, an outage) is answered with the same status as an HTML page in the page's language.
 * A refused new password shows the reset form again, with the reasons, for the same link.
 */
confirmationRoutes.onError(async (error, c) => {
	const res = await onError(error, c);
	if (c.req.method !== "POST" || !isFormRequest(c.req.header("Content-Type"))) return res;
	const problem = (await res.json()) as ProblemBody;
	const headers: Record<string, string> = { ...PAGE_HEADERS };
	const retryAfter = res.headers.get("Retry-After");
	if (retryAfter) headers["Retry-After"] = retryAfter;
	const reasons = problem.errors?.length ? problem.errors.map((issue) => issue.message) : [problem.detail];
	const token = c.req.path.endsWith("/password/reset") ? await formToken(c) : null;
	const body =
		token && problem.code === "validation_failed"
			? resetForm(c, token, reasons)
			: html`${reasons.map((text) => statusMessage(text, "error"))}`;
	const title = token ? c.get("t")("pages.reset.title") : problem.title;
	return pageResponse(c, title, body, res.status as 400, headers);
});

/** The `token` field of the form post being answered, when it is a plausible token. */
async function formToken(c: Context<AppEnv>): Promise<string | null> {
	try {
		const token = (await c.req.parseBody()).token;
		return typeof token === "string" && token.length > 0 && token.length <= 512 ? token : null;
	} catch {
		return null;
	}
}

const resetRoute = createRoute({
	method: "post",
	path: "/password/reset",
	operationId: "resetPassword",
	summary: "Set a new password with a reset token; every session is revoked",
	tags: ["confirmation"],
	...PUBLIC,
	middleware: [validateJsonOrForm(resetBody)] as const,
	request: jsonOrFormRequest("ResetBody"),
	responses: {
		200: messageOrPage("Password set"),
		...problemsOrPage(...FORM_BODY_ERRORS, "token_invalid", ["token_expired", 410], OUTAGE),
	},
});

confirmationRoutes.openapi(resetRoute, async (c) => {
	const { token, password } = jsonOrFormBody(c, resetBody);
	const { outcome, redirectTo } = await resetPassword(c, token, password);
	const t = c.get("t");
	if (isFormRequest(c.req.header("Content-Type"))) {
		const title = t("pages.reset.title");
		if (outcome === "ok") {
			const back = continueLink(c, redirectTo, "password_reset");
			return pageResponse(c, title, html`${statusMessage(t("pages.reset.success"))}${back}`);
		}
		const status = outcome === "expired" ? 410 : 400;
		return deadLinkPage(c, "reset", title, outcome === "expired", status, redirectTo);
	}
	if (outcome !== "ok") throw outcomeError(outcome);
	return c.json({ message: t("messages.password_reset") }, 200);
});

/** Checks the token cheaply before paying for the hash, then spends it atomically with its effects. */
async function resetPassword(
	c: Context<AppEnv>,
	token: string,
	password: string,
): Promise<{ outcome: Exclude<Outcome, "already">; redirectTo: string | null }> {
	const db = c.get("deps").db;
	const peek = await inspectVerificationToken(db, token, "reset_password");
	// A dead link's redirect_to still matters: its page's "new link" form carries it along.
	if (peek.state === "expired") return { outcome: "expired", redirectTo: peek.redirectTo ?? null };
	if (peek.state !== "valid" || !peek.userId) return { outcome: "invalid", redirectTo: peek.redirectTo ?? null };
	const user = await findUserById(db, peek.userId);
	if (user && passwordEqualsEmail(password, user.email)) {
		throw fieldError("password", "password_equals_email");
	}
	const passwordHash = await hashPassword(password, c.get("deps").config.PASSWORD_SCRYPT);
	const spent = await spendVerificationToken(
		db,
		token,
		"reset_password",
		resetPasswordEffect(db, passwordHash, { recorder: c.get("events"), userId: peek.userId }),
	);
	if (spent.ok) {
		audit(c, "password_reset", spent.userId);
		// Proving control of the mailbox lifts a lockout of password logins (someone else's guesses).
		if (user) c.executionCtx.waitUntil(clear(db, rateLimitKey("login_account", user.email)).catch(() => {}));
		return { outcome: "ok", redirectTo: spent.redirectTo };
	}
	return { outcome: spent.state === "expired" ? "expired" : "invalid", redirectTo: spent.redirectTo ?? null };
}
