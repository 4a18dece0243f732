import type { Config } from "../config";
import type { Database } from "../db/client";
import type { User } from "../db/schema";
import { defaultLocale, directionOf, matchLocale, translator } from "../lib/i18n";
import { type MailKind, type NoticeKind, renderActionMail, renderNoticeMail } from "../lib/mail-templates";
import { type Mailer, enqueueMail } from "./outbox";
import { issueMagicLink } from "./magic-links";
import { issueVerificationToken } from "./verification";

/**
 * Issues the token a mail needs (if any), renders the mail in the RECIPIENT's saved locale (not
 * the request's) and records it in the outbox. `redirectTo` (already allowed) is remembered with
 * the token, for the result page's link back to the app. Returns the outbox id to deliver after the response.
 */
export async function queueAccountMail(
	db: Database,
	config: Config,
	user: User,
	kind: MailKind,
	redirectTo: string | null = null,
): Promise<string> {
	const mailer: Pick<Mailer, "encryptionKey"> = { encryptionKey: config.ENCRYPTION_KEY };
	let link: string;
	let ttlSeconds: number;
	if (kind === "confirm") {
		ttlSeconds = config.CONFIRMATION_TTL_SECONDS;
		const token = await issueVerificationToken(db, user.id, "confirm_email", ttlSeconds, redirectTo);
		link = actionLink(config, "/v1/auth/confirm", token);
	} else {
		// The "you already have an account" notice carries a reset link too: the likeliest reason
		// to register again is a forgotten password.
		ttlSeconds = config.RESET_TTL_SECONDS;
		const token = await issueVerificationToken(db, user.id, "reset_password", ttlSeconds, redirectTo);
		link = actionLink(config, "/v1/auth/password/reset", token);
	}
	const message = await renderActionMail({
		kind,
		...recipient(config, user),
		link,
		ttlMinutes: Math.round(ttlSeconds / 60),
	});
	return enqueueMail(db, mailer, message, { userId: user.id, expiresAt: new Date(Date.now() + ttlSeconds * 1000) });
}

/**
 * Issues a magic link with its code for `email` (replacing older ones) and records the mail: to an
 * account, in its saved locale; to an address without one (a sign-up link), in `fallbackLocale`
 * (the request's `locale`, else its language). Returns the outbox id to deliver after the response.
 */
export async function queueMagicLinkMail(
	db: Database,
	config: Config,
	input: { email: string; user: User | null; fallbackLocale: string; redirectTo: string | null },
): Promise<string> {
	const ttlSeconds = config.MAGIC_LINK_SECONDS;
	const to = input.user
		? recipient(config, input.user)
		: recipientOf(config, { email: input.email, locale: input.fallbackLocale, name: null });
	const { token, code } = await issueMagicLink(db, {
		email: input.email,
		userId: input.user?.id ?? null,
		locale: to.lang,
		redirectTo: input.redirectTo,
		ttlSeconds,
	});
	const message = await renderActionMail({
		kind: input.user ? "magic_link" : "magic_signup",
		...to,
		link: actionLink(config, "/v1/auth/magic-link", token),
		code,
		ttlMinutes: Math.round(ttlSeconds / 60),
	});
	return enqueueMail(db, { encryptionKey: config.ENCRYPTION_KEY }, message, {
		userId: input.user?.id ?? null,
		expiresAt: new Date(Date.now() + ttlSeconds * 1000),
	});
}

/**
 * An email change: the link to the NEW address (it proves the new mailbox) and a notice to the
 * current one, both in the user's saved locale; with `noticeOnly`, the notice alone. Returns the
 * outbox ids to deliver.
 */
export async function queueEmailChangeMails(
	db: Database,
	config: Config,
	user: User,
	newEmail: string,
	options: { noticeOnly?: boolean } = {},
): Promise<string[]> {
	const mailer = { encryptionKey: config.ENCRYPTION_KEY };
	const to = recipient(config, user);
	const notice = await renderNoticeMail({ kind: "email_change_requested", ...to, params: { email: newEmail } });
	const noticeId = await enqueueMail(db, mailer, notice, { userId: user.id, expiresAt: null });
	if (options.noticeOnly) return [noticeId];
	const ttlSeconds = config.EMAIL_CHANGE_TTL_SECONDS;
	const token = await issueVerificationToken(db, user.id, "change_email", ttlSeconds, null, newEmail);
	const link = await renderActionMail({
		kind: "email_change",
		...to,
		to: newEmail,
		link: actionLink(config, "/v1/auth/email/confirm", token),
		ttlMinutes: Math.round(ttlSeconds / 60),
	});
	const linkId = await enqueueMail(db, mailer, link, {
		userId: user.id,
		expiresAt: new Date(Date.now() + ttlSeconds * 1000),
	});
	return [linkId, noticeId];
}

function actionLink(config: Config, path: string, token: string): string {
	const url = new URL(path, config.appUrl);
	url.searchParams.set("token", token);
	return url.toString();
}

/**
 * Renders a security notice in the recipient's saved locale and records it in the outbox. Returns
 * the outbox id to deliver after the response. It holds no link, so it never expires.
 */
export async function queueNoticeMail(db: Database, config: Config, user: User, kind: NoticeKind): Promise<string> {
	const message = await renderNoticeMail({ kind, ...recipient(config, user) });
	return enqueueMail(db, { encryptionKey: config.ENCRYPTION_KEY }, message, { userId: user.id, expiresAt: null });
}

/** Who a mail goes to and in which language: the recipient's saved locale, never the request's. */
function recipient(config: Config, user: User) {
	// Until the address is confirmed, the name is whatever a stranger typed at registration:
	// it must not reach someone else's mailbox.
	return recipientOf(config, {
		email: user.email,
		locale: user.locale,
		name: user.emailConfirmedAt ? user.name : null,
	});
}

function recipientOf(config: Config, person: { email: string; locale: string; name: string | null }) {
	const lang = matchLocale(person.locale) ?? defaultLocale(config.DEFAULT_LOCALE);
	return {
		to: person.email,
		name: person.name,
		t: translator(lang),
		lang,
		dir: directionOf(lang),
		appName: config.APP_NAME,
	};
}
