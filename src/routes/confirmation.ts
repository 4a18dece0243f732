import { Hono } from "hono";
import type { Context } from "hono";
import { html } from "hono/html";
import type { User } from "../db/schema";
import { describeError } from "../lib/error-info";
import { AppError } from "../lib/errors";
import { PAGE_HEADERS, renderPage, statusMessage } from "../lib/html";
import { directionOf } from "../lib/i18n";
import { log } from "../lib/log";
import type { MailKind } from "../lib/mail-templates";
import { hashPassword } from "../lib/password";
import { passwordEqualsEmail } from "../lib/password-policy";
import { audit } from "../middleware/audit";
import { doc } from "../middleware/doc";
import { enforceRateLimit, limitPerClient, rateLimitKey } from "../middleware/rate-limit";
import { isFormRequest, validate, validateJsonOrForm } from "../middleware/validate";
import { PASSWORD_MAX, PASSWORD_MIN, emailBody, resetBody, tokenBody, tokenQuery } from "../schemas";
import { queueAccountMail } from "../services/account-mail";
import { deliverMail } from "../services/outbox";
import { clear } from "../services/rate-limit";
import { findUserById, findUserByEmail, normalizeEmail } from "../services/users";
import {
	type TokenState,
	confirmEmailEffect,
	inspectVerificationToken,
	resetPasswordEffect,
	spendVerificationToken,
} from "../services/verification";
import type { AppEnv } from "../types";

export const confirmationRoutes = new Hono<AppEnv>();

type Outcome = "ok" | "expired" | "invalid" | "already";

const OUTCOME_ERROR: Record<Exclude<Outcome, "ok">, AppError> = {
	expired: new AppError("token_expired", { status: 410 }),
	invalid: new AppError("token_invalid"),
	already: new AppError("already_confirmed"),
};

function page(c: Context<AppEnv>, title: string, body: ReturnType<typeof html>, status: 200 | 400 | 409 | 410 = 200) {
	const lang = c.get("lang");
	return c.html(renderPage({ lang, dir: directionOf(lang), title, body }), status, PAGE_HEADERS);
}

/** A form that asks for a new link (confirmation resend or password forgot). */
function requestLinkForm(c: Context<AppEnv>, action: string, buttonKey: string) {
	const t = c.get("t");
	// The answer page stays in this page's language, whatever the browser's Accept-Language says.
	return html`<form method="post" action="${action}?lang=${c.get("lang")}">
<label for="email">${t("pages.resend.label")}</label>
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
) {
	const { expired: expiredKey, invalid, action, button } = LINK_FLOWS[flow];
	const t = c.get("t");
	const body = html`${statusMessage(t(expired ? expiredKey : invalid), "error")}${requestLinkForm(c, action, button)}`;
	return page(c, title, body, status);
}

async function confirmationState(c: Context<AppEnv>, token: string): Promise<TokenState | "confirmed"> {
	const db = c.get("db");
	const { state, userId } = await inspectVerificationToken(db, token, "confirm_email");
	if (state !== "spent" || !userId) return state;
	const user = await findUserById(db, userId);
	return user?.emailConfirmedAt ? "confirmed" : "invalid";
}

// GET never spends: mail scanners prefetch links. It shows a button that POSTs the token.
confirmationRoutes.get(
	"/confirm",
	doc({ summary: "Confirmation page (spends nothing)", tags: ["confirmation"] }),
	validate("query", tokenQuery),
	async (c) => {
		const token = c.req.valid("query").token ?? "";
		const state = token ? await confirmationState(c, token) : "invalid";
		if (!c.req.header("Accept")?.includes("text/html") && c.req.header("Accept")?.includes("application/json")) {
			return c.json({ status: state === "spent" ? "invalid" : state });
		}
		const t = c.get("t");
		const title = t("pages.confirm.title");
		if (state === "valid") {
			return page(
				c,
				title,
				html`<p>${t("pages.confirm.prompt")}</p>
<form method="post" action="/v1/auth/confirm?lang=${c.get("lang")}">
<input type="hidden" name="token" value="${token}">
<button type="submit">${t("pages.confirm.button")}</button>
</form>`,
			);
		}
		if (state === "confirmed") return page(c, title, statusMessage(t("pages.confirm.already")));
		return deadLinkPage(c, "confirm", title, state === "expired");
	},
);

confirmationRoutes.post(
	"/confirm",
	doc({ summary: "Spend a confirmation token", tags: ["confirmation"] }),
	validateJsonOrForm(tokenBody),
	async (c) => {
		const { token } = c.req.valid("json");
		const db = c.get("db");
		const spent = await spendVerificationToken(db, token, "confirm_email", confirmEmailEffect(db));
		let outcome: Outcome = "ok";
		if (spent.ok) audit(c, "email_confirmed", spent.userId);
		if (!spent.ok) {
			const state = spent.state === "spent" ? await confirmationState(c, token) : spent.state;
			outcome = state === "confirmed" ? "already" : state === "expired" ? "expired" : "invalid";
		}
		const t = c.get("t");
		if (isFormRequest(c.req.header("Content-Type"))) {
			const title = t("pages.confirm.title");
			if (outcome === "ok") return page(c, title, statusMessage(t("pages.confirm.success")));
			if (outcome === "already") return page(c, title, statusMessage(t("pages.confirm.already")), 409);
			return deadLinkPage(c, "confirm", title, outcome === "expired", outcome === "expired" ? 410 : 400);
		}
		if (outcome !== "ok") throw OUTCOME_ERROR[outcome];
		return c.json({ message: t("messages.email_confirmed") });
	},
);

confirmationRoutes.post(
	"/confirm/resend",
	doc({
		summary: "Send a new confirmation link (always 202)",
		tags: ["confirmation"],
		responses: { 202: "Accepted", 429: "rate_limited" },
	}),
	limitPerClient("resend_ip", (config) => config.RATE_LIMIT_MAIL_IP),
	validateJsonOrForm(emailBody),
	async (c) => {
		const email = normalizeEmail(c.req.valid("json").email);
		await enforceRateLimit(c, "resend_email", email, c.get("config").RATE_LIMIT_MAIL_EMAIL);
		mailOwnerAfterResponse(c, email, (user) => (user.emailConfirmedAt ? null : "confirm"));
		return accepted(c, "messages.confirmation_resent", "pages.confirm.title");
	},
);

confirmationRoutes.post(
	"/password/forgot",
	doc({
		summary: "Mail a password reset link (always 202)",
		tags: ["confirmation"],
		responses: { 202: "Accepted", 429: "rate_limited" },
	}),
	limitPerClient("forgot_ip", (config) => config.RATE_LIMIT_MAIL_IP),
	validateJsonOrForm(emailBody),
	async (c) => {
		const email = normalizeEmail(c.req.valid("json").email);
		await enforceRateLimit(c, "forgot_email", email, c.get("config").RATE_LIMIT_MAIL_EMAIL);
		mailOwnerAfterResponse(c, email, () => "reset");
		return accepted(c, "messages.reset_requested", "pages.reset.title");
	},
);

/**
 * Looks the address up and mails its owner (when `kindFor` says so) after the response, in
 * waitUntil: the lookup and the mail's writes would otherwise make a known address measurably
 * slower to answer than an unknown one (bench/enumeration-timing.mjs). It first yields one timer
 * tick, so rendering the mail cannot hold the isolate while the response is still on its way out.
 * A failure is logged; the person can simply ask again.
 */
function mailOwnerAfterResponse(c: Context<AppEnv>, email: string, kindFor: (user: User) => MailKind | null): void {
	const db = c.get("db");
	const config = c.get("config");
	const mail = c.get("mail");
	const requestId = c.get("requestId");
	const work = async () => {
		await new Promise((resolve) => setTimeout(resolve, 0));
		const user = await findUserByEmail(db, email);
		const kind = user ? kindFor(user) : null;
		if (!user || !kind) return;
		const outboxId = await queueAccountMail(db, config, user, kind);
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
		const lang = c.get("lang");
		return c.html(
			renderPage({ lang, dir: directionOf(lang), title: t(titleKey), body: statusMessage(t(messageKey)) }),
			202,
			PAGE_HEADERS,
		);
	}
	return c.json({ message: t(messageKey) }, 202);
}

confirmationRoutes.get(
	"/password/reset",
	doc({ summary: "Password reset page (spends nothing)", tags: ["confirmation"] }),
	validate("query", tokenQuery),
	async (c) => {
		const token = c.req.valid("query").token ?? "";
		const { state } = token
			? await inspectVerificationToken(c.get("db"), token, "reset_password")
			: { state: "invalid" };
		const t = c.get("t");
		const title = t("pages.reset.title");
		if (state === "valid") {
			return page(
				c,
				title,
				html`<p>${t("pages.reset.prompt")}</p>
<form method="post" action="/v1/auth/password/reset?lang=${c.get("lang")}">
<input type="hidden" name="token" value="${token}">
<label for="password">${t("pages.reset.label")}</label>
<input id="password" name="password" type="password" autocomplete="new-password" minlength="${PASSWORD_MIN}" maxlength="${PASSWORD_MAX}" required aria-describedby="password-hint">
<p id="password-hint">${t("pages.reset.hint", { min: PASSWORD_MIN, max: PASSWORD_MAX })}</p>
<button type="submit">${t("pages.reset.button")}</button>
</form>`,
			);
		}
		return deadLinkPage(c, "reset", title, state === "expired");
	},
);

confirmationRoutes.post(
	"/password/reset",
	doc({ summary: "Set a new password with a reset token", tags: ["confirmation"] }),
	validateJsonOrForm(resetBody),
	async (c) => {
		const { token, password } = c.req.valid("json");
		const outcome = await resetPassword(c, token, password);
		const t = c.get("t");
		if (isFormRequest(c.req.header("Content-Type"))) {
			const title = t("pages.reset.title");
			if (outcome === "ok") return page(c, title, statusMessage(t("pages.reset.success")));
			return deadLinkPage(c, "reset", title, outcome === "expired", outcome === "expired" ? 410 : 400);
		}
		if (outcome !== "ok") throw OUTCOME_ERROR[outcome];
		return c.json({ message: t("messages.password_reset") });
	},
);

/** Checks the token cheaply before paying for the hash, then spends it atomically with its effects. */
async function resetPassword(
	c: Context<AppEnv>,
	token: string,
	password: string,
): Promise<Exclude<Outcome, "already">> {
	const db = c.get("db");
	const peek = await inspectVerificationToken(db, token, "reset_password");
	if (peek.state === "expired") return "expired";
	if (peek.state !== "valid" || !peek.userId) return "invalid";
	const user = await findUserById(db, peek.userId);
	if (user && passwordEqualsEmail(password, user.email)) {
		throw new AppError("validation_failed", {
			params: { count: 1 },
			issues: [{ path: "password", code: "password_equals_email", key: "validation.password_equals_email" }],
		});
	}
	const passwordHash = await hashPassword(password);
	const spent = await spendVerificationToken(db, token, "reset_password", resetPasswordEffect(db, passwordHash));
	if (spent.ok) {
		audit(c, "password_reset", spent.userId);
		// Proving control of the mailbox lifts a lockout of password logins (someone else's guesses).
		if (user) c.executionCtx.waitUntil(clear(db, rateLimitKey("login_account", user.email)).catch(() => {}));
		return "ok";
	}
	return spent.state === "expired" ? "expired" : "invalid";
}
