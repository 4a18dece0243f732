import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import { html } from "hono/html";
import { describeError } from "../lib/error-info";
import { AppError } from "../lib/errors";
import { statusMessage } from "../lib/html";
import { log } from "../lib/log";
import {
	AUTH_ERRORS,
	BEARER,
	BODY_ERRORS,
	OUTAGE,
	PUBLIC,
	htmlPage,
	json,
	jsonBody,
	jsonOrFormRequest,
	problems,
	problemsOrPage,
} from "../lib/openapi";
import { audit } from "../middleware/audit";
import { assertFreshToken, requireAuth } from "../middleware/auth";
import { formAwareOnError } from "../middleware/errors";
import { preferUserLocale } from "../middleware/language";
import { enforceRateLimit } from "../middleware/rate-limit";
import { isFormRequest, jsonOrFormBody, validateJsonOrForm, validationHook } from "../middleware/validate";
import { emailChangeBody, messageResponse, tokenBody, tokenQuery } from "../schemas";
import { confirmEmailChange, requestEmailChange } from "../services/email-change";
import { deliverMail } from "../services/outbox";
import { normalizeEmail } from "../services/users";
import { inspectVerificationToken } from "../services/verification";
import type { AppEnv } from "../types";
import { pageResponse } from "../middleware/page";

/** /v1/me/email: the signed-in user asks to move the account to another address. */
export const emailChangeRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

emailChangeRoutes.use("*", requireAuth());

const requestRoute = createRoute({
	method: "post",
	path: "/",
	operationId: "requestEmailChange",
	summary: "Change the email address (fresh token): a link goes to the new address, a notice to the current one",
	tags: ["accounts"],
	...BEARER,
	request: { body: jsonBody(emailChangeBody) },
	responses: {
		202: json("Accepted, whether or not the new address is free", messageResponse),
		...problems(...BODY_ERRORS, ...AUTH_ERRORS, "fresh_token_required", "rate_limited", OUTAGE),
	},
});

emailChangeRoutes.openapi(requestRoute, async (c) => {
	assertFreshToken(c);
	const { user } = c.get("auth");
	const newEmail = normalizeEmail(c.req.valid("json").new_email);
	await enforceRateLimit(c, "email_change_user", user.id, c.get("deps").config.RATE_LIMIT_MAIL_EMAIL);
	// After the response, as the other mail-sending routes do: whether the new address is taken
	// decides what is mailed, and that must not show in the answer's timing.
	const db = c.get("deps").db;
	const config = c.get("deps").config;
	const mail = c.get("deps").mail;
	const requestId = c.get("requestId");
	const work = async () => {
		await new Promise((resolve) => setTimeout(resolve, 0));
		const outboxIds = await requestEmailChange(db, config, user, newEmail);
		if (outboxIds.length > 0) await deliverMail(db, mail, outboxIds);
	};
	c.executionCtx.waitUntil(
		work().catch((error: unknown) => log("error", "email_change_mail_failed", { requestId, ...describeError(error) })),
	);
	audit(c, "email_change_requested", user.id);
	return c.json({ message: c.get("t")("messages.email_change_requested") }, 202);
});

/** /v1/auth/email: the link mailed to the new address (no sign-in needed: the mailbox is the proof). */
export const emailConfirmRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

emailConfirmRoutes.openAPIRegistry.register("EmailChangeTokenBody", tokenBody);

const pageRoute = createRoute({
	method: "get",
	path: "/confirm",
	operationId: "emailChangePage",
	summary: "Email change page (spends nothing)",
	tags: ["confirmation"],
	...PUBLIC,
	request: { query: tokenQuery },
	responses: {
		200: htmlPage("A page with a button that posts the token, or why the link cannot be used"),
		...problems("validation_failed", OUTAGE),
	},
});

// GET never spends: mail scanners prefetch links.
emailConfirmRoutes.openapi(pageRoute, async (c) => {
	const token = c.req.valid("query").token ?? "";
	const { state, locale } = token
		? await inspectVerificationToken(c.get("deps").db, token, "change_email")
		: { state: "invalid" as const, locale: undefined };
	if (locale) preferUserLocale(c, locale);
	const t = c.get("t");
	if (state === "expired")
		return pageResponse(
			c,
			c.get("t")("pages.email_change.title"),
			statusMessage(t("pages.email_change.expired"), "error"),
		);
	if (state !== "valid")
		return pageResponse(
			c,
			c.get("t")("pages.email_change.title"),
			statusMessage(t("pages.email_change.invalid"), "error"),
		);
	return pageResponse(
		c,
		c.get("t")("pages.email_change.title"),
		html`<p>${t("pages.email_change.prompt")}</p>
<form method="post" action="/v1/auth/email/confirm?lang=${c.get("lang")}">
<input type="hidden" name="token" value="${token}">
<button type="submit">${t("pages.email_change.button")}</button>
</form>`,
	);
});

const confirmRoute = createRoute({
	method: "post",
	path: "/confirm",
	operationId: "confirmEmailChange",
	summary: "Spend an email-change token: the account moves to the new address",
	tags: ["confirmation"],
	...PUBLIC,
	middleware: [validateJsonOrForm(tokenBody)] as const,
	request: jsonOrFormRequest("EmailChangeTokenBody"),
	responses: {
		200: {
			description: "The email changed",
			headers: htmlPage("").headers,
			content: {
				"application/json": { schema: messageResponse },
				"text/html": { schema: { type: "string" as const } },
			},
		},
		...problemsOrPage(
			"validation_failed",
			"payload_too_large",
			"token_invalid",
			["token_expired", 410],
			"email_in_use",
			OUTAGE,
		),
	},
});

emailConfirmRoutes.openapi(confirmRoute, async (c) => {
	const { token } = jsonOrFormBody(c, tokenBody);
	const result = await confirmEmailChange(c.get("deps").db, c.get("events"), token);
	if (result.ok) {
		preferUserLocale(c, result.user.locale);
		audit(c, "email_changed", result.user.id);
	}
	const t = c.get("t");
	if (isFormRequest(c.req.header("Content-Type"))) {
		if (result.ok)
			return pageResponse(c, c.get("t")("pages.email_change.title"), statusMessage(t("pages.email_change.success")));
		if (result.reason === "expired")
			return pageResponse(
				c,
				c.get("t")("pages.email_change.title"),
				statusMessage(t("pages.email_change.expired"), "error"),
				410,
			);
		if (result.reason === "invalid")
			return pageResponse(
				c,
				c.get("t")("pages.email_change.title"),
				statusMessage(t("pages.email_change.invalid"), "error"),
				400,
			);
	}
	if (!result.ok) {
		if (result.reason === "expired") throw new AppError("token_expired", { status: 410 });
		if (result.reason === "email_in_use") throw new AppError("email_in_use");
		throw new AppError("token_invalid");
	}
	return c.json({ message: t("messages.email_changed") }, 200);
});

/** A form post never gets JSON back: whatever refuses it is an HTML page in the page's language. */
emailConfirmRoutes.onError(formAwareOnError("pages.email_change.title"));
