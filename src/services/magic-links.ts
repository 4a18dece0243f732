import { and, eq, gt, isNull, lte, or, type SQL, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { magicLinks, oauthAccounts, sessions, type User, users, verificationTokens } from "../db/schema";
import type { BatchItem } from "drizzle-orm/batch";
import { hashToken, newId, newSecretToken, randomBytes } from "../lib/crypto";
import { type EventRecorder, confirmedEvent, eventStatements, userExists } from "./events";

/** A code allows this many wrong tries; the last one spends it (contract number, not a setting). */
export const MAGIC_CODE_TRIES = 5;

/** A uniformly random 6-digit code (rejection sampling: no modulo bias). */
export function newEmailCode(): string {
	for (;;) {
		const [a = 0, b = 0, c = 0] = randomBytes(3);
		const value = (a << 16) | (b << 8) | c;
		if (value < 16_000_000) return String(value % 1_000_000).padStart(6, "0");
	}
}

/**
 * The stored form of a code: bound to its address, so the code check is one indexed statement.
 * Six digits cannot resist an offline search of a leaked table, so what protects a code is its
 * short life and the five-try rule, not the hash; the hash only keeps codes out of plain sight.
 */
function codeHash(email: string, code: string): string {
	return hashToken(`${email}:${code}`);
}

/**
 * Issues a link and its code for `email` and deletes every older one of that address in the same
 * batch: a new request replaces the older ones. `userId` is the account known now (null for a
 * sign-up link).
 */
export async function issueMagicLink(
	db: Database,
	input: { email: string; userId: string | null; locale: string; redirectTo: string | null; ttlSeconds: number },
): Promise<{ token: string; code: string }> {
	const token = newSecretToken();
	const code = newEmailCode();
	await db.batch([
		db.delete(magicLinks).where(eq(magicLinks.email, input.email)),
		db.insert(magicLinks).values({
			tokenHash: hashToken(token),
			email: input.email,
			userId: input.userId,
			codeHash: codeHash(input.email, code),
			locale: input.locale,
			redirectTo: input.redirectTo,
			expiresAt: new Date(Date.now() + input.ttlSeconds * 1000),
		}),
	]);
	return { token, code };
}

export type MagicLinkState = "valid" | "expired" | "invalid";

/** A link's state without spending it (the GET page), with the language and app page it was mailed with. */
export async function inspectMagicLink(
	db: Database,
	token: string,
): Promise<{ state: MagicLinkState; locale?: string; redirectTo?: string | null }> {
	const row = await db
		.select({
			spentAt: magicLinks.spentAt,
			expiresAt: magicLinks.expiresAt,
			locale: magicLinks.locale,
			redirectTo: magicLinks.redirectTo,
		})
		.from(magicLinks)
		.where(eq(magicLinks.tokenHash, hashToken(token)))
		.get();
	if (!row || row.spentAt) return { state: "invalid", locale: row?.locale };
	if (row.expiresAt.getTime() <= Date.now()) return { state: "expired", locale: row.locale };
	return { state: "valid", locale: row.locale, redirectTo: row.redirectTo };
}

export type MagicSpendResult =
	| { ok: true; user: User; created: boolean; claimed: boolean; redirectTo: string | null }
	| { ok: false; reason: "invalid" | "expired" };

/** Spends a link by its token (the mailed URL, or the page's button). */
export async function spendMagicLinkToken(
	db: Database,
	events: EventRecorder,
	token: string,
): Promise<MagicSpendResult> {
	const tokenHash = hashToken(token);
	const stamp = uniqueStamp();
	const spend = db
		.update(magicLinks)
		.set({ spentAt: sql`${stamp}` })
		.where(and(eq(magicLinks.tokenHash, tokenHash), isNull(magicLinks.spentAt), gt(magicLinks.expiresAt, new Date())))
		.returning({ email: magicLinks.email, locale: magicLinks.locale, redirectTo: magicLinks.redirectTo });
	const spentEmail = sql`(select ${magicLinks.email} from ${magicLinks} where ${magicLinks.tokenHash} = ${tokenHash} and ${magicLinks.spentAt} = ${stamp})`;
	// The events' bodies need the account before the spend: the link's address says which it is.
	const email = events.webhook
		? ((await db.select({ email: magicLinks.email }).from(magicLinks).where(eq(magicLinks.tokenHash, tokenHash)).get())
				?.email ?? null)
		: null;
	const result = await runSpend(db, events, spend, spentEmail, email);
	if (result) return result;
	const { state } = await inspectMagicLink(db, token);
	return { ok: false, reason: state === "expired" ? "expired" : "invalid" };
}

/**
 * Spends the live link of `email` with its code. One conditional UPDATE checks the code and counts
 * a wrong one, so parallel guesses are counted one after the other and the fifth wrong code spends
 * the link whatever the timing.
 */
export async function spendMagicLinkCode(
	db: Database,
	events: EventRecorder,
	email: string,
	code: string,
): Promise<MagicSpendResult> {
	const stamp = uniqueStamp();
	const right = sql`${magicLinks.codeHash} = ${codeHash(email, code)}`;
	const now = Date.now();
	const live = and(eq(magicLinks.email, email), isNull(magicLinks.spentAt), gt(magicLinks.expiresAt, new Date(now)));
	const attempt = db
		.update(magicLinks)
		.set({
			failures: sql`${magicLinks.failures} + (case when ${right} then 0 else 1 end)`,
			spentAt: sql`case when ${right} then ${stamp} when ${magicLinks.failures} + 1 >= ${MAGIC_CODE_TRIES} then ${now} else null end`,
		})
		.where(live)
		.returning({ email: magicLinks.email, locale: magicLinks.locale, redirectTo: magicLinks.redirectTo });
	const spentEmail = sql`(select ${magicLinks.email} from ${magicLinks} where ${magicLinks.email} = ${email} and ${magicLinks.spentAt} = ${stamp})`;
	const result = await runSpend(db, events, attempt, spentEmail, email);
	if (result) return result;
	// No live link took the code: expired (the newest link of the address ran out) or simply wrong.
	const newest = await db
		.select({ expiresAt: magicLinks.expiresAt, spentAt: magicLinks.spentAt })
		.from(magicLinks)
		.where(eq(magicLinks.email, email))
		.get();
	const expired = newest && !newest.spentAt && newest.expiresAt.getTime() <= now;
	return { ok: false, reason: expired ? "expired" : "invalid" };
}

/** Milliseconds plus a random fraction: tells this spend apart from a concurrent one. */
function uniqueStamp(): number {
	return Date.now() + Math.random();
}

type SpendStatement = Parameters<Database["batch"]>[0][0];

/**
 * Runs the spend and its effects as one D1 batch (one transaction). Every effect selects its rows
 * through `spentEmail`, which is empty unless this very spend won, so a losing concurrent request
 * changes nothing. An address without an account gets one right after (a sign-up link), in one
 * batch with its user.created and user.confirmed; an existing account that was not confirmed yet
 * gets user.confirmed in the spend's batch, recorded only if this spend wins.
 */
async function runSpend(
	db: Database,
	events: EventRecorder,
	spend: SpendStatement,
	spentEmail: SQL,
	email: string | null,
): Promise<MagicSpendResult | null> {
	const confirmed = await claimEvents(db, events, email, spentEmail);
	const [spent, ...effects] = await db.batch([spend, ...claimStatements(db, spentEmail, confirmed)]);
	const row = (spent as { email: string; locale: string; redirectTo: string | null }[])[0];
	const claim = claimOutcome(effects, confirmed.length);
	// The confirm statement matches a user only when this spend won (a wrong code also returns its
	// row from the UPDATE, so the spend's own answer is not enough).
	if (claim) return row ? { ok: true, ...claim, created: false, redirectTo: row.redirectTo } : null;
	if (!row) return null;
	// Without an account to confirm, whether this spend won is read back from the stamp it left.
	const won = await db.get<{ email: string | null }>(sql`select ${spentEmail} as email`);
	if (!won?.email) return null;
	const now = new Date();
	const userId = newId();
	const insert = db
		.insert(users)
		.values({ id: userId, email: row.email, locale: row.locale, emailConfirmedAt: now, updatedAt: now })
		.onConflictDoNothing()
		.returning();
	const signedUp = {
		type: "user.created",
		userId,
		actor: "self",
		data: { email: row.email, via: "magic_link" },
	} as const;
	const [[created]] = await db.batch([
		insert,
		...(await eventStatements(db, events, signedUp, userExists(userId))),
		...(await eventStatements(db, events, { type: "user.confirmed", userId, actor: "self" }, userExists(userId))),
	]);
	if (created) return { ok: true, user: created, created: true, claimed: false, redirectTo: row.redirectTo };
	// Someone registered the address between the spend and now: the mailbox owner wins here too.
	const claimedLate = await claimEvents(db, events, row.email, sql`${row.email}`);
	const late = await db.batch(claimStatements(db, sql`${row.email}`, claimedLate));
	const again = claimOutcome(late, claimedLate.length);
	return again ? { ok: true, ...again, created: false, redirectTo: row.redirectTo } : null;
}

/**
 * The effects of a used link on the account of `email` (an SQL expression), in order:
 * - if it never confirmed its email, it loses what its registrant set up (password, sessions,
 *   linked identities, pending mailed links): the mailbox owner wins, as with a verified OAuth
 *   email (src/services/oauth/accounts.ts);
 * - the email is confirmed, and any other live link of the address ends.
 * `events` (its user.confirmed) go right after the first statement, before anything changes.
 */
function claimStatements(db: Database, email: SQL, events: BatchItem<"sqlite">[]) {
	const now = new Date();
	const owner = sql`(select ${users.id} from ${users} where ${users.email} = ${email})`;
	const unconfirmed = sql`exists (select 1 from ${users} where ${users.email} = ${email} and ${users.emailConfirmedAt} is null)`;
	return [
		db.select({ confirmedAt: users.emailConfirmedAt }).from(users).where(sql`${users.email} = ${email}`),
		...events,
		db
			.update(sessions)
			.set({ revokedAt: now })
			.where(and(sql`${sessions.userId} = ${owner}`, isNull(sessions.revokedAt), unconfirmed)),
		db.delete(oauthAccounts).where(and(sql`${oauthAccounts.userId} = ${owner}`, unconfirmed)),
		db.delete(verificationTokens).where(and(sql`${verificationTokens.userId} = ${owner}`, unconfirmed)),
		db
			.update(users)
			.set({
				passwordHash: sql`case when ${users.emailConfirmedAt} is null then null else ${users.passwordHash} end`,
				emailConfirmedAt: sql`coalesce(${users.emailConfirmedAt}, ${now.getTime()})`,
				updatedAt: now,
			})
			.where(sql`${users.email} = ${email}`)
			.returning(),
		db.delete(magicLinks).where(and(sql`${magicLinks.email} = ${email}`, isNull(magicLinks.spentAt))),
	] as const;
}

/**
 * user.confirmed for the account of `email`, if there is one and it is unconfirmed, recorded only
 * if `won` (the spent link's address; null when another request won) is that address.
 */
async function claimEvents(
	db: Database,
	events: EventRecorder,
	email: string | null,
	won: SQL,
): Promise<BatchItem<"sqlite">[]> {
	if (!events.webhook || !email) return [];
	const owner = await db.select({ id: users.id }).from(users).where(eq(users.email, email)).get();
	return owner ? confirmedEvent(db, events, owner.id, sql`${won} = ${email}`) : [];
}

/** The account a claim batch (with `events` event statements in it) confirmed, and whether it was unconfirmed before; null when none matched. */
function claimOutcome(results: readonly unknown[], events: number): { user: User; claimed: boolean } | null {
	const before = (results[0] as { confirmedAt: Date | null }[])[0];
	const user = (results[4 + events] as User[])[0];
	if (!user) return null;
	return { user, claimed: before !== undefined && before.confirmedAt === null };
}

/**
 * Statement ending every outstanding magic link of an account and of the given addresses (its
 * old and new email): part of an email change.
 */
export function endMagicLinks(db: Database, userId: SQL | string, emails: (SQL | string)[]) {
	const byEmail = emails.map((email) => sql`${magicLinks.email} = ${email}`);
	return db
		.delete(magicLinks)
		.where(and(isNull(magicLinks.spentAt), or(sql`${magicLinks.userId} = ${userId}`, ...byEmail)));
}

/** Deletes links that ended (spent or expired) before `cutoff` (the cron's job). */
export async function pruneMagicLinks(db: Database, cutoff: Date): Promise<number> {
	const result = await db.delete(magicLinks).where(lte(magicLinks.expiresAt, cutoff));
	return result.meta.changes;
}
