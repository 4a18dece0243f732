import { and, eq, gt, isNull, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Database } from "../db/client";
import { sessions, users, verificationTokens } from "../db/schema";
import { hashToken, newSecretToken } from "../lib/crypto";
import { type EventRecorder, confirmedEvent, eventStatements } from "./events";

export type TokenPurpose = "confirm_email" | "reset_password" | "oauth_login" | "change_email";

/**
 * Issues a single-use token for `purpose` and deletes every older one of the same user and
 * purpose in the same batch: a new link always replaces the previous links.
 */
export async function issueVerificationToken(
	db: Database,
	userId: string,
	purpose: TokenPurpose,
	ttlSeconds: number,
	redirectTo: string | null = null,
	newEmail: string | null = null,
): Promise<string> {
	const token = newSecretToken();
	await db.batch([
		db
			.delete(verificationTokens)
			.where(and(eq(verificationTokens.userId, userId), eq(verificationTokens.purpose, purpose))),
		db.insert(verificationTokens).values({
			tokenHash: hashToken(token),
			userId,
			purpose,
			expiresAt: new Date(Date.now() + ttlSeconds * 1000),
			redirectTo,
			newEmail,
		}),
	]);
	return token;
}

export type TokenState = "valid" | "expired" | "invalid" | "spent";

/** Reads a token's state without spending it (GET pages must never spend). */
export async function inspectVerificationToken(
	db: Database,
	token: string,
	purpose: TokenPurpose,
): Promise<{ state: TokenState; userId?: string; locale?: string; redirectTo?: string | null }> {
	// The recipient's saved locale comes along in the same statement: pages opened from a mailed
	// link speak the recipient's language, whatever the browser says.
	const found = await db
		.select({ row: verificationTokens, locale: users.locale })
		.from(verificationTokens)
		.leftJoin(users, eq(users.id, verificationTokens.userId))
		.where(and(eq(verificationTokens.tokenHash, hashToken(token)), eq(verificationTokens.purpose, purpose)))
		.get();
	if (!found) return { state: "invalid" };
	const { row } = found;
	const locale = found.locale ?? undefined;
	const { userId, redirectTo } = row;
	if (row.spentAt) return { state: "spent", userId, locale, redirectTo };
	if (row.expiresAt.getTime() <= Date.now()) return { state: "expired", userId, locale, redirectTo };
	return { state: "valid", userId, locale, redirectTo };
}

export type SpendResult =
	| { ok: true; userId: string; redirectTo: string | null }
	| { ok: false; state: Exclude<TokenState, "valid">; redirectTo?: string | null };

/**
 * Spends a token atomically together with its effects. The spend is a conditional UPDATE stamped
 * with a unique time; `effects` get that stamp and must only touch rows of the spending user via
 * `spentBy(stamp)`, so when a concurrent request wins, the loser's effects match nothing. All of it
 * runs as one D1 batch (one transaction).
 */
export async function spendVerificationToken(
	db: Database,
	token: string,
	purpose: TokenPurpose,
	effects: (
		spentBy: ReturnType<typeof spentBySubquery>,
		spend: SpendMark,
	) => BatchItem<"sqlite">[] | Promise<BatchItem<"sqlite">[]> = () => [],
): Promise<SpendResult> {
	const tokenHash = hashToken(token);
	// A unique stamp (ms plus a random sub-ms fraction) tells this spend apart from a concurrent one.
	const stamp = Date.now() + Math.random();
	const spend = db
		.update(verificationTokens)
		.set({ spentAt: sql`${stamp}` })
		.where(
			and(
				eq(verificationTokens.tokenHash, tokenHash),
				eq(verificationTokens.purpose, purpose),
				isNull(verificationTokens.spentAt),
				gt(verificationTokens.expiresAt, new Date()),
			),
		)
		.returning({ userId: verificationTokens.userId, redirectTo: verificationTokens.redirectTo });
	const [spent] = await db.batch([spend, ...(await effects(spentBySubquery(tokenHash, stamp), { tokenHash, stamp }))]);
	const winner = spent[0];
	if (winner) return { ok: true, userId: winner.userId, redirectTo: winner.redirectTo };
	const { state, redirectTo } = await inspectVerificationToken(db, token, purpose);
	return { ok: false, state: state === "valid" ? "spent" : state, redirectTo };
}

/** Which row a spend marked: effects that need more of the spent row than its user select it by these. */
export type SpendMark = { tokenHash: string; stamp: number };

/** SQL selecting the user id of the token spent with `stamp` (empty when another request won). */
export function spentBySubquery(tokenHash: string, stamp: number) {
	return sql`(select ${verificationTokens.userId} from ${verificationTokens} where ${verificationTokens.tokenHash} = ${tokenHash} and ${verificationTokens.spentAt} = ${stamp})`;
}

/** Effect: mark the spending user's email as confirmed. */
export function confirmEmailEffect(db: Database) {
	return (spentBy: ReturnType<typeof spentBySubquery>) => [
		db
			.update(users)
			.set({ emailConfirmedAt: new Date(), updatedAt: new Date() })
			.where(and(sql`${users.id} = ${spentBy}`, isNull(users.emailConfirmedAt))),
	];
}

/**
 * Spends a confirmation link: confirms the email and, when that flips it, records user.confirmed in
 * the same batch. The event names its user before the spend (a token's user never changes); the
 * event's condition still requires this spend to have won.
 */
export async function confirmEmail(db: Database, events: EventRecorder, token: string): Promise<SpendResult> {
	const userId = events.webhook ? (await inspectVerificationToken(db, token, "confirm_email")).userId : undefined;
	return spendVerificationToken(db, token, "confirm_email", async (spentBy) => [
		...(userId ? await confirmedEvent(db, events, userId, sql`${spentBy} = ${userId}`) : []),
		...confirmEmailEffect(db)(spentBy),
	]);
}

/**
 * Effect: set the spending user's password hash, revoke all of their sessions, end every other
 * outstanding reset link, and confirm the email (following the link proved the mailbox). With the
 * user known beforehand (`events`), records user.password_changed, and user.confirmed when
 * the email was not confirmed yet, both only if this spend wins.
 */
export function resetPasswordEffect(
	db: Database,
	passwordHash: string,
	events?: { recorder: EventRecorder; userId: string },
) {
	return async (spentBy: ReturnType<typeof spentBySubquery>) => {
		const now = new Date();
		const recorded = [];
		if (events) {
			const { recorder, userId } = events;
			const won = sql`${spentBy} = ${userId}`;
			const changed = { type: "user.password_changed", userId, actor: "self", data: { via: "reset" } } as const;
			recorded.push(
				...(await confirmedEvent(db, recorder, userId, won)),
				...(await eventStatements(db, recorder, changed, won)),
			);
		}
		return [
			...recorded,
			db
				.update(users)
				.set({
					passwordHash,
					emailConfirmedAt: sql`coalesce(${users.emailConfirmedAt}, ${now.getTime()})`,
					updatedAt: now,
				})
				.where(sql`${users.id} = ${spentBy}`),
			db
				.update(sessions)
				.set({ revokedAt: now })
				.where(and(sql`${sessions.userId} = ${spentBy}`, isNull(sessions.revokedAt))),
			// The spent token itself keeps its row (spent_at is set), so replaying it still reads as spent.
			db
				.delete(verificationTokens)
				.where(
					and(
						sql`${verificationTokens.userId} = ${spentBy}`,
						eq(verificationTokens.purpose, "reset_password"),
						isNull(verificationTokens.spentAt),
					),
				),
		];
	};
}

/**
 * Statement ending every outstanding password-reset link of a user: part of any password change,
 * so a link mailed before the change cannot take the account back.
 */
export function endResetLinks(db: Database, userId: string) {
	return db
		.delete(verificationTokens)
		.where(
			and(
				eq(verificationTokens.userId, userId),
				eq(verificationTokens.purpose, "reset_password"),
				isNull(verificationTokens.spentAt),
			),
		);
}
