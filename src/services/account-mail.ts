import type { Config } from "../config";
import type { Database } from "../db/client";
import type { User } from "../db/schema";
import { defaultLocale, directionOf, matchLocale, translator } from "../lib/i18n";
import { type MailKind, type NoticeKind, renderActionMail, renderNoticeMail } from "../lib/mail-templates";
import { type Mailer, enqueueMail } from "./outbox";
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
	const lang = matchLocale(user.locale) ?? defaultLocale(config.DEFAULT_LOCALE);
	return {
		to: user.email,
		// Until the address is confirmed, the name is whatever a stranger typed at registration:
		// it must not reach someone else's mailbox.
		name: user.emailConfirmedAt ? user.name : null,
		t: translator(lang),
		lang,
		dir: directionOf(lang),
		appName: config.APP_NAME,
	};
}
