import { and, count, eq, gt, isNotNull, isNull, lt, sql } from "drizzle-orm";
import { decodeBase32IgnorePadding, encodeBase32LowerCaseNoPadding, encodeBase32NoPadding } from "@oslojs/encoding";
import type { Database } from "../db/client";
import { mfaChallenges, mfaRecoveryCodes, mfaTotp, passkeys } from "../db/schema";
import { hashToken, newSecretToken, randomBytes } from "../lib/crypto";
import { decryptText, encryptText } from "../lib/encryption";
import { matchTotpStep, totpUri } from "../lib/totp";

/** How many recovery codes an enrolment or a regeneration hands out. */
export const RECOVERY_CODE_COUNT = 10;
/** Wrong codes an `mfa_token` survives; the fifth spends it. */
export const MFA_TOKEN_TRIES = 5;
/** RFC 4226 recommends at least 128 bits; 160 is what authenticator apps expect for SHA-1. */
const SECRET_BYTES = 20;

/** What a second step accepts: a TOTP code or a recovery code. */
export type MfaCode = { totp: string } | { recoveryCode: string };

export type MfaStatus = { totp: boolean; recovery_codes_left: number; passkeys: number };

// The encrypted secret is bound to its user: a ciphertext copied to another row does not decrypt.
const secretContext = (userId: string) => `totp:${userId}`;

/**
 * A recovery code: 80 random bits as four groups of four base32 letters. With that much entropy
 * one SHA-256 is enough to store it (no guessing attack on the hash is practical).
 */
function newRecoveryCode(): string {
	const raw = encodeBase32LowerCaseNoPadding(randomBytes(10));
	return raw.match(/.{4}/g)?.join("-") ?? raw;
}

/** Case, spaces and dashes do not matter when a user types a recovery code back. */
function recoveryCodeHash(code: string): string {
	return hashToken(code.toLowerCase().replace(/[^a-z2-7]/g, ""));
}

/** The user's TOTP state, recovery codes left and how many passkeys, for GET /v1/me. */
export async function mfaStatus(db: Database, userId: string): Promise<MfaStatus> {
	const [totp, left, keys] = await Promise.all([
		db.select({ enabledAt: mfaTotp.enabledAt }).from(mfaTotp).where(eq(mfaTotp.userId, userId)).get(),
		db
			.select({ n: count() })
			.from(mfaRecoveryCodes)
			.where(and(eq(mfaRecoveryCodes.userId, userId), isNull(mfaRecoveryCodes.usedAt)))
			.get(),
		db.select({ n: count() }).from(passkeys).where(eq(passkeys.userId, userId)).get(),
	]);
	const enabled = Boolean(totp?.enabledAt);
	return { totp: enabled, recovery_codes_left: enabled ? (left?.n ?? 0) : 0, passkeys: keys?.n ?? 0 };
}

/** True when a sign-in of this user needs the second step. */
export async function totpEnabled(db: Database, userId: string): Promise<boolean> {
	const row = await db
		.select({ userId: mfaTotp.userId })
		.from(mfaTotp)
		.where(and(eq(mfaTotp.userId, userId), isNotNull(mfaTotp.enabledAt)))
		.get();
	return row !== undefined;
}

export type EnrolResult = { ok: true; secret: string; otpauthUri: string } | { ok: false; reason: "already_enabled" };

/**
 * Starts (or restarts) an enrolment: a new secret, stored encrypted and pending until a code
 * verifies. One conditional upsert, so an enabled factor is never overwritten.
 */
export async function startTotpEnrolment(
	db: Database,
	key: CryptoKey,
	input: { userId: string; issuer: string; accountName: string },
): Promise<EnrolResult> {
	const secret = randomBytes(SECRET_BYTES);
	const encoded = encodeBase32NoPadding(secret);
	const sealed = await encryptText(key, encoded, secretContext(input.userId));
	const written = await db
		.insert(mfaTotp)
		.values({ userId: input.userId, secret: sealed })
		.onConflictDoUpdate({
			target: mfaTotp.userId,
			set: { secret: sealed, lastUsedStep: null },
			setWhere: isNull(mfaTotp.enabledAt),
		})
		.returning({ userId: mfaTotp.userId });
	if (written.length === 0) return { ok: false, reason: "already_enabled" };
	return { ok: true, secret: encoded, otpauthUri: totpUri(input.issuer, input.accountName, secret) };
}

async function readSecret(key: CryptoKey, userId: string, sealed: string): Promise<Uint8Array> {
	return decodeBase32IgnorePadding(await decryptText(key, sealed, secretContext(userId)));
}

/**
 * Accepts `code` for the user's secret at most once: the matched step is stored with a
 * conditional UPDATE that only moves forward, so a replayed code (or two requests racing with
 * one code) finds the step taken. `state` says which factor row may match (pending or enabled).
 */
async function acceptTotp(
	db: Database,
	key: CryptoKey,
	userId: string,
	code: string,
	state: "pending" | "enabled",
	now: number,
): Promise<number | null> {
	const row = await db.select().from(mfaTotp).where(eq(mfaTotp.userId, userId)).get();
	if (!row || (state === "enabled") !== (row.enabledAt !== null)) return null;
	const step = matchTotpStep(await readSecret(key, userId, row.secret), code, now);
	if (step === null) return null;
	const taken = await db
		.update(mfaTotp)
		.set({ lastUsedStep: step })
		.where(
			and(
				eq(mfaTotp.userId, userId),
				state === "enabled" ? isNotNull(mfaTotp.enabledAt) : isNull(mfaTotp.enabledAt),
				eq(mfaTotp.secret, row.secret),
				sql`(${mfaTotp.lastUsedStep} is null or ${mfaTotp.lastUsedStep} < ${step})`,
			),
		)
		.returning({ userId: mfaTotp.userId });
	return taken.length > 0 ? step : null;
}

/** Fresh recovery codes: the statements replacing the stored hashes, and the codes to show once. */
function recoveryCodeStatements(db: Database, userId: string) {
	const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
	const statements = [
		db.delete(mfaRecoveryCodes).where(eq(mfaRecoveryCodes.userId, userId)),
		// 10 rows x 2 parameters: well inside D1's 100 bound parameters per statement.
		db.insert(mfaRecoveryCodes).values(codes.map((code) => ({ codeHash: recoveryCodeHash(code), userId }))),
	] as const;
	return { codes, statements };
}

export type VerifyEnrolmentResult =
	| { ok: true; recoveryCodes: string[] }
	| { ok: false; reason: "code_invalid" | "already_enabled" };

/** Completes an enrolment with a first code: TOTP is on, with a new set of recovery codes. */
export async function verifyTotpEnrolment(
	db: Database,
	key: CryptoKey,
	userId: string,
	code: string,
	now = Date.now(),
): Promise<VerifyEnrolmentResult> {
	if (await totpEnabled(db, userId)) return { ok: false, reason: "already_enabled" };
	const step = await acceptTotp(db, key, userId, code, "pending", now);
	if (step === null) return { ok: false, reason: "code_invalid" };
	const { codes, statements } = recoveryCodeStatements(db, userId);
	// One batch (one transaction): TOTP never turns on without its recovery codes.
	await db.batch([
		db
			.update(mfaTotp)
			.set({ enabledAt: new Date(now) })
			.where(and(eq(mfaTotp.userId, userId), isNull(mfaTotp.enabledAt))),
		...statements,
	]);
	return { ok: true, recoveryCodes: codes };
}

/**
 * Checks a second-factor code of a user with TOTP on, and spends it: a TOTP code's step is taken,
 * a recovery code is stamped used in one conditional UPDATE (two requests racing with one code:
 * exactly one wins).
 */
export async function spendMfaCode(db: Database, key: CryptoKey, userId: string, code: MfaCode, now = Date.now()) {
	if ("totp" in code) return (await acceptTotp(db, key, userId, code.totp, "enabled", now)) !== null;
	if (!(await totpEnabled(db, userId))) return false;
	const used = await db
		.update(mfaRecoveryCodes)
		.set({ usedAt: new Date(now) })
		.where(
			and(
				eq(mfaRecoveryCodes.codeHash, recoveryCodeHash(code.recoveryCode)),
				eq(mfaRecoveryCodes.userId, userId),
				isNull(mfaRecoveryCodes.usedAt),
			),
		)
		.returning({ codeHash: mfaRecoveryCodes.codeHash });
	return used.length > 0;
}

/** Turns TOTP off: the secret and every recovery code are deleted (one batch). */
export async function disableTotp(db: Database, userId: string): Promise<void> {
	await db.batch([
		db.delete(mfaTotp).where(eq(mfaTotp.userId, userId)),
		db.delete(mfaRecoveryCodes).where(eq(mfaRecoveryCodes.userId, userId)),
	]);
}

/** Replaces the recovery codes of a user with TOTP on; the old ones stop working. */
export async function regenerateRecoveryCodes(
	db: Database,
	userId: string,
): Promise<{ ok: true; recoveryCodes: string[] } | { ok: false; reason: "not_enabled" }> {
	if (!(await totpEnabled(db, userId))) return { ok: false, reason: "not_enabled" };
	const { codes, statements } = recoveryCodeStatements(db, userId);
	await db.batch([...statements]);
	return { ok: true, recoveryCodes: codes };
}

/** Issues the `mfa_token` of a sign-in that passed its first factor (`method`). */
export async function createMfaChallenge(
	db: Database,
	input: { userId: string; method: string; ttlSeconds: number },
): Promise<string> {
	const { token, statement } = mfaChallengeStatement(db, input);
	await statement;
	return token;
}

/** The insert of `createMfaChallenge`, unexecuted (a password sign-in batches it), and its token. */
export function mfaChallengeStatement(db: Database, input: { userId: string; method: string; ttlSeconds: number }) {
	const token = newSecretToken();
	const statement = db.insert(mfaChallenges).values({
		tokenHash: hashToken(token),
		userId: input.userId,
		method: input.method,
		expiresAt: new Date(Date.now() + input.ttlSeconds * 1000),
	});
	return { token, statement };
}

export type Challenge = { tokenHash: string; userId: string; method: string };

/** The live challenge of an `mfa_token` (unspent, unexpired, fewer than 5 wrong codes), or null. */
export async function findMfaChallenge(db: Database, token: string, now = Date.now()): Promise<Challenge | null> {
	const row = await mfaChallengeQuery(db, token, now).get();
	return row ?? null;
}

/** The read of `findMfaChallenge`, unexecuted (the MFA step batches it with its rate-limit count). */
export function mfaChallengeQuery(db: Database, token: string, now: number) {
	return db
		.select({ tokenHash: mfaChallenges.tokenHash, userId: mfaChallenges.userId, method: mfaChallenges.method })
		.from(mfaChallenges)
		.where(liveChallenge(hashToken(token), now));
}

function liveChallenge(tokenHash: string, now: number) {
	return and(
		eq(mfaChallenges.tokenHash, tokenHash),
		isNull(mfaChallenges.spentAt),
		gt(mfaChallenges.expiresAt, new Date(now)),
		lt(mfaChallenges.failures, MFA_TOKEN_TRIES),
	);
}

/** Counts a wrong code against the challenge; the fifth spends it. */
export async function recordMfaFailure(db: Database, tokenHash: string, now = Date.now()): Promise<void> {
	await db
		.update(mfaChallenges)
		.set({
			failures: sql`${mfaChallenges.failures} + 1`,
			spentAt: sql`case when ${mfaChallenges.failures} + 1 >= ${MFA_TOKEN_TRIES} then ${now} else null end`,
		})
		.where(and(eq(mfaChallenges.tokenHash, tokenHash), isNull(mfaChallenges.spentAt)));
}

/** Spends a challenge on success; false when it was spent, expired or exhausted meanwhile. */
export async function completeMfaChallenge(db: Database, tokenHash: string, now = Date.now()): Promise<boolean> {
	const spent = await db
		.update(mfaChallenges)
		.set({ spentAt: new Date(now) })
		.where(liveChallenge(tokenHash, now))
		.returning({ tokenHash: mfaChallenges.tokenHash });
	return spent.length > 0;
}

/** Deletes challenges that can no longer be used (spent, exhausted or expired): the cron's job. */
export async function pruneMfaChallenges(db: Database, now = Date.now()): Promise<number> {
	const result = await db
		.delete(mfaChallenges)
		// `spent_at >= 0` rather than `is not null`: a range SQLite serves from the index, so with the
		// expiry index the `or` is answered from two indexes instead of reading every row.
		.where(sql`${mfaChallenges.spentAt} >= 0 or ${mfaChallenges.expiresAt} <= ${now}`);
	return result.meta.changes;
}
