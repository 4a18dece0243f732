import { html } from "hono/html";
import type { MailMessage } from "./mail-types";
import type { Direction, Translate } from "./i18n";

export type MailKind = "confirm" | "exists" | "reset" | "magic_link" | "magic_signup" | "email_change";

/**
 * Builds a transactional email (HTML and plain text) in the recipient's language. The link is
 * always built by the caller from APP_URL, never from the request's Host header.
 */
export async function renderActionMail(input: {
	kind: MailKind;
	to: string;
	name: string | null;
	t: Translate;
	lang: string;
	dir: Direction;
	appName: string;
	link: string;
	ttlMinutes?: number;
	/** A one-time code to type instead of opening the link (magic link mails). */
	code?: string;
}): Promise<MailMessage> {
	const { t, appName: app } = input;
	const codeLine = input.code ? t("email.code", { code: input.code }) : "";
	const subject = t(`email.${input.kind}.subject`, { app });
	const greeting = t("email.greeting", { name: input.name ?? input.to });
	const intro = t(`email.${input.kind}.intro`, { app });
	const action = t(`email.${input.kind}.action`, { app });
	const expiry = input.ttlMinutes ? t("email.expiry", { minutes: input.ttlMinutes }) : "";
	const fallback = t("email.link_fallback");
	const footer = t("email.footer", { app });
	const text = [greeting, "", intro, "", `${action}: ${input.link}`, "", codeLine, "", expiry, "", footer]
		.filter((line, index, all) => line !== "" || all[index - 1] !== "")
		.join("\n");
	const body = await html`<!doctype html>
<html lang="${input.lang}" dir="${input.dir}">
<head><meta charset="utf-8"><title>${subject}</title></head>
<body style="font-family:system-ui,sans-serif;line-height:1.5;color:#1a1a1a">
<p>${greeting}</p>
<p>${intro}</p>
<p><a href="${input.link}" style="display:inline-block;padding:.6rem 1.2rem;background:#2b59c3;color:#fff;border-radius:.4rem;text-decoration:none">${action}</a></p>
${codeLine ? html`<p style="font-size:1.1em">${codeLine}</p>` : ""}
${expiry ? html`<p>${expiry}</p>` : ""}
<p style="font-size:.9em;color:#555">${fallback}<br><a href="${input.link}">${input.link}</a></p>
<p style="font-size:.9em;color:#555">${footer}</p>
</body>
</html>`;
	return { to: input.to, subject, html: body.toString(), text };
}

/** Security notices: mail that reports a change to the account and carries no link. */
export type NoticeKind =
	| "mfa_enabled"
	| "mfa_disabled"
	| "recovery_codes_regenerated"
	| "email_change_requested"
	| "passkey_added"
	| "passkey_removed";

/**
 * Builds a security notice (HTML and plain text) in the recipient's language: what changed, and
 * what to do if it was not them. No link, so nothing in it is worth stealing.
 */
export async function renderNoticeMail(input: {
	kind: NoticeKind;
	to: string;
	name: string | null;
	t: Translate;
	lang: string;
	dir: Direction;
	appName: string;
	/** Extra ICU parameters of the intro (e.g. the requested new address). */
	params?: Record<string, string>;
}): Promise<MailMessage> {
	const { t, appName: app } = input;
	const subject = t(`email.notice.${input.kind}.subject`, { app });
	const greeting = t("email.greeting", { name: input.name ?? input.to });
	const intro = t(`email.notice.${input.kind}.intro`, { app, ...input.params });
	const warning = t("email.notice.not_you", { app });
	const text = [greeting, "", intro, "", warning].join("\n");
	const body = await html`<!doctype html>
<html lang="${input.lang}" dir="${input.dir}">
<head><meta charset="utf-8"><title>${subject}</title></head>
<body style="font-family:system-ui,sans-serif;line-height:1.5;color:#1a1a1a">
<p>${greeting}</p>
<p>${intro}</p>
<p style="font-size:.9em;color:#555">${warning}</p>
</body>
</html>`;
	return { to: input.to, subject, html: body.toString(), text };
}
