import { and, eq, isNull, sql } from "drizzle-orm";
import type { Config } from "../config";
import type { Database } from "../db/client";
import { type User, users, verificationTokens } from "../db/schema";
import { hashToken } from "../lib/crypto";
import { queueEmailChangeMails } from "./account-mail";
import { type EventRecorder, confirmedEvent, eventStatements } from "./events";
import { endMagicLinks } from "./magic-links";
import { findUserByEmail, findUserById } from "./users";
import { type SpendMark, inspectVerificationToken, spendVerificationToken, type spentBySubquery } from "./verification";

/**
 * Records the mails of an email change request: a link to the new address and a notice to the
 * current one. An address that another account uses gets nothing (Atrium never mails a stranger
 * because someone typed their address), but the current address gets the same notice either way,
 * so neither the answer nor the requester's own mailbox tells whether the address is taken.
 * Returns the outbox ids to deliver (none when the address is already the account's).
 */
export async function requestEmailChange(
	db: Database,
	config: Config,
	user: User,
	newEmail: string,
): Promise<string[]> {
	if (newEmail === user.email) return [];
	const taken = await findUserByEmail(db, newEmail);
	if (!taken) return queueEmailChangeMails(db, config, user, newEmail);
	return queueEmailChangeMails(db, config, user, newEmail, { noticeOnly: true });
}

export type EmailChangeResult =
	| { ok: true; user: User; previousEmail: string }
	| { ok: false; reason: "invalid" | "expired" | "email_in_use" };

/**
 * Spends an email-change link and moves the account to its new address in one D1 batch. The
 * unique index on users.email re-checks the address at that moment: if another account took it
 * since the request, the batch fails as a whole (the link stays unspent) and the answer is
 * `email_in_use`. A completed change ends every outstanding mailed link of the account
 * (confirmation, reset, other email changes, login codes) and every magic link of the account,
 * of its old address and of its new one.
 */
export async function confirmEmailChange(
	db: Database,
	events: EventRecorder,
	token: string,
): Promise<EmailChangeResult> {
	const peek = await inspectVerificationToken(db, token, "change_email");
	if (peek.state === "expired") return { ok: false, reason: "expired" };
	if (peek.state !== "valid" || !peek.userId) return { ok: false, reason: "invalid" };
	const before = await findUserById(db, peek.userId);
	if (!before) return { ok: false, reason: "invalid" };
	let spent: Awaited<ReturnType<typeof spendVerificationToken>>;
	try {
		spent = await spendVerificationToken(
			db,
			token,
			"change_email",
			changeEmailEffect(db, events, before.id, await newEmailOf(db, token)),
		);
	} catch (error) {
		if (isUniqueViolation(error)) return { ok: false, reason: "email_in_use" };
		throw error;
	}
	if (!spent.ok) return { ok: false, reason: spent.state === "expired" ? "expired" : "invalid" };
	const user = await findUserById(db, spent.userId);
	if (!user) return { ok: false, reason: "invalid" };
	return { ok: true, user, previousEmail: before.email };
}

/** The address an email-change link moves to (the event's body is written before the spend). */
async function newEmailOf(db: Database, token: string): Promise<string | null> {
	const row = await db
		.select({ newEmail: verificationTokens.newEmail })
		.from(verificationTokens)
		.where(eq(verificationTokens.tokenHash, hashToken(token)))
		.get();
	return row?.newEmail ?? null;
}

/**
 * The effects of a spent email-change link, each selecting its rows through the spend (see
 * spendVerificationToken), with user.email_changed (and user.confirmed when the account was not
 * confirmed yet) recorded only if this spend wins.
 */
function changeEmailEffect(db: Database, events: EventRecorder, userId: string, email: string | null) {
	return async (spentBy: ReturnType<typeof spentBySubquery>, mark: SpendMark) => {
		const now = new Date();
		const newEmail = sql`(select ${verificationTokens.newEmail} from ${verificationTokens} where ${verificationTokens.tokenHash} = ${mark.tokenHash} and ${verificationTokens.spentAt} = ${mark.stamp})`;
		const oldEmail = sql`(select ${users.email} from ${users} where ${users.id} = ${spentBy})`;
		const won = sql`${spentBy} = ${userId}`;
		const changed = { type: "user.email_changed", userId, actor: "self", data: { email } } as const;
		return [
			...(await eventStatements(db, events, changed, won)),
			...(await confirmedEvent(db, events, userId, won)),
			// Before the address moves, while the old one can still be read.
			endMagicLinks(db, spentBy, [oldEmail, newEmail]),
			db
				.update(users)
				.set({
					email: newEmail,
					// Following the link proved the new mailbox.
					emailConfirmedAt: sql`coalesce(${users.emailConfirmedAt}, ${now.getTime()})`,
					updatedAt: now,
				})
				.where(sql`${users.id} = ${spentBy}`),
			db
				.delete(verificationTokens)
				.where(and(sql`${verificationTokens.userId} = ${spentBy}`, isNull(verificationTokens.spentAt))),
		];
	};
}

/** True for a UNIQUE constraint violation, however drizzle and D1 wrap it. */
function isUniqueViolation(error: unknown): boolean {
	for (let current = error; current instanceof Error; current = current.cause) {
		if (/UNIQUE constraint failed|SQLITE_CONSTRAINT/i.test(current.message)) return true;
	}
	return false;
}
