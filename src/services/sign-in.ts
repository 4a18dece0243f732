import { eq, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Config } from "../config";
import type { Database } from "../db/client";
import { mfaTotp, type User, users } from "../db/schema";
import type { MfaRequiredBody, TokenBody } from "../schemas";
import { auditInsert } from "./audit";
import { createMfaChallenge, mfaChallengeStatement, totpEnabled } from "./mfa";
import { type RateLimitRule, clearStatement, hitResult, hitStatement } from "./rate-limit";
import { newSessionStatements } from "./sessions";
import { issueTokenResponse } from "./tokens";
import { checkPassword, normalizeEmail } from "./users";

/** One-time login codes handed to an app in a redirect: short, since they travel in a URL. */
export const LOGIN_CODE_SECONDS = 60;

/** An `mfa_token` lives 5 minutes (the contract's number, not a setting). */
export const MFA_TOKEN_SECONDS = 300;

export type SignInInput = {
	user: User;
	providers?: string[];
	/** The first factor passed: "password" or a provider id (kept on the challenge for the audit trail). */
	method: string;
	userAgent?: string | null;
	ip?: string | null;
};

/** A disabled account (admin API): no sign-in path may start a session for it. */
export type AccountDisabled = { mfa: false; disabled: true };

export type SignInOutcome =
	| { mfa: true; disabled?: false; body: MfaRequiredBody }
	| { mfa: false; disabled?: false; body: TokenBody }
	| AccountDisabled;

export type StartSessionOutcome = { disabled?: false; body: TokenBody } | AccountDisabled;

const DISABLED: AccountDisabled = { mfa: false, disabled: true };

/**
 * Ends a first factor (password, OAuth, magic link): with TOTP on, a challenge and the
 * `mfa_required` answer and no tokens; otherwise a new session with fresh tokens. A disabled
 * account gets neither; the result type makes every caller answer that case.
 */
export async function signInOrChallenge(db: Database, config: Config, input: SignInInput): Promise<SignInOutcome> {
	if (input.user.disabledAt) return DISABLED;
	if (await totpEnabled(db, input.user.id)) {
		const token = await createMfaChallenge(db, {
			userId: input.user.id,
			method: input.method,
			ttlSeconds: MFA_TOKEN_SECONDS,
		});
		return {
			mfa: true,
			body: { mfa_required: true, mfa_token: token, expires_in: MFA_TOKEN_SECONDS, methods: ["totp", "recovery_code"] },
		};
	}
	const started = await startSession(db, config, input);
	return started.disabled ? started : { mfa: false, body: started.body };
}

/**
 * A new session with fresh tokens: the end of a completed sign-in (after the MFA step, a passkey),
 * refused for a disabled account. `input.user` is read by the same request; a disable landing in
 * between still wins, since findActiveSession never returns a session of a disabled user.
 */
export async function startSession(
	db: Database,
	config: Config,
	input: SignInInput,
	/** Writes that go with the sign-in either way (counter reset, audit events): in the session's batch. */
	alongside: BatchItem<"sqlite">[] = [],
): Promise<StartSessionOutcome> {
	if (input.user.disabledAt) {
		const [first, ...rest] = alongside;
		if (first) await db.batch([first, ...rest]);
		return DISABLED;
	}
	const created = newSessionStatements(db, {
		userId: input.user.id,
		lifetimeSeconds: config.REFRESH_TOKEN_SECONDS,
		userAgent: input.userAgent,
		ip: input.ip,
	});
	await db.batch([...created.statements, ...alongside]);
	const { session, refreshToken } = created;
	const body = await issueTokenResponse(config, {
		user: input.user,
		session,
		refreshToken,
		fresh: true,
		providers: input.providers,
	});
	return { body };
}

/** A rate-limit counter a password sign-in counts: its key and rule. */
export type CountedLimit = { key: string; rule: RateLimitRule };

export type PasswordSignInInput = {
	email: string;
	password: string;
	/** Counted on every attempt (per client address). */
	clientLimit: CountedLimit;
	/** Counted on every attempt within the client limit, forgotten after a right password (per account). */
	accountLimit: CountedLimit;
	userAgent?: string | null;
	ip?: string | null;
};

export type PasswordSignInOutcome =
	| { ok: false; reason: "rate_limited"; limit: "client" | "account"; count: number; retryAfterSeconds: number }
	/** `userId` names the account when there is one (for its audit trail; never shown to the caller). */
	| { ok: false; reason: "invalid_credentials"; userId?: string }
	| { ok: false; reason: "email_not_confirmed" | "account_disabled" }
	| { ok: true; mfa: boolean; userId: string; body: TokenBody | MfaRequiredBody };

/**
 * POST /v1/auth/login in two D1 round trips (login is hot and each one costs latency): first one
 * batch that counts both limits and reads the account with whether TOTP is on; then, after the
 * password check (same scrypt work for unknown emails), one batch with every write: the account
 * counter's reset, a rehashed password, and either the MFA challenge or the session, its refresh
 * token, the last sign-in time and the `login` audit event. Both limits are counted before the
 * password is checked, so parallel guesses cannot overshoot them, and the unknown-email path reads
 * and counts exactly like the known one.
 */
export async function passwordSignIn(
	db: Database,
	config: Config,
	input: PasswordSignInInput,
): Promise<PasswordSignInOutcome> {
	const { clientLimit, accountLimit } = input;
	const now = Date.now();
	const [clientRows, accountRows, accounts] = await db.batch([
		hitStatement(db, clientLimit.key, clientLimit.rule, now),
		hitStatement(db, accountLimit.key, accountLimit.rule, now, {
			key: clientLimit.key,
			limit: clientLimit.rule.limit,
		}),
		db
			.select({
				user: users,
				totp: sql<number>`exists (select 1 from ${mfaTotp} where ${mfaTotp.userId} = ${users.id} and ${mfaTotp.enabledAt} is not null)`,
			})
			.from(users)
			.where(eq(users.email, normalizeEmail(input.email))),
	]);
	const client = clientRows[0] && hitResult(clientRows[0], clientLimit.rule.limit, now);
	if (!client) throw new Error("the rate-limit upsert returned no row");
	if (!client.allowed) return { ok: false, reason: "rate_limited", limit: "client", ...client };
	// Counted only within the client limit, so present here.
	const account = accountRows[0] && hitResult(accountRows[0], accountLimit.rule.limit, now);
	if (!account) throw new Error("the rate-limit upsert returned no row");
	if (!account.allowed) return { ok: false, reason: "rate_limited", limit: "account", ...account };

	const found = accounts[0];
	const check = await checkPassword(found?.user, input.password, config.PASSWORD_SCRYPT);
	if (!found || !check.ok) return { ok: false, reason: "invalid_credentials", userId: found?.user.id };
	const user = check.rehashed ? { ...found.user, passwordHash: check.rehashed } : found.user;
	// A right password forgets the failures (only failures add up), whatever comes next.
	const writes: BatchItem<"sqlite">[] = [clearStatement(db, accountLimit.key)];
	if (check.rehashed) {
		writes.push(
			db.update(users).set({ passwordHash: check.rehashed, updatedAt: new Date() }).where(eq(users.id, user.id)),
		);
	}
	const done = async () => {
		await db.batch(writes as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
	};
	// Only after a right password, so these answers reveal nothing to someone guessing.
	if (!user.emailConfirmedAt || user.disabledAt) {
		await done();
		return { ok: false, reason: user.emailConfirmedAt ? "account_disabled" : "email_not_confirmed" };
	}
	if (found.totp) {
		const challenge = mfaChallengeStatement(db, { userId: user.id, method: "password", ttlSeconds: MFA_TOKEN_SECONDS });
		writes.push(challenge.statement);
		await done();
		return {
			ok: true,
			mfa: true,
			userId: user.id,
			body: {
				mfa_required: true,
				mfa_token: challenge.token,
				expires_in: MFA_TOKEN_SECONDS,
				methods: ["totp", "recovery_code"],
			},
		};
	}
	const origin = { userAgent: input.userAgent, ip: input.ip };
	const created = newSessionStatements(db, {
		userId: user.id,
		lifetimeSeconds: config.REFRESH_TOKEN_SECONDS,
		...origin,
	});
	writes.push(
		...created.statements,
		auditInsert(db, { userId: user.id, type: "login", ...origin, detail: { method: "password" } }),
	);
	await done();
	const body = await issueTokenResponse(config, {
		user,
		session: created.session,
		refreshToken: created.refreshToken,
		fresh: true,
	});
	return { ok: true, mfa: false, userId: user.id, body };
}
