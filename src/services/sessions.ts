import { and, desc, eq, getTableColumns, gt, isNull, ne, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { refreshTokens, type Session, sessions, type User, users } from "../db/schema";
import { hashToken, newId, newSecretToken } from "../lib/crypto";
import type { SessionBody } from "../schemas";

export type NewSession = { session: Session; refreshToken: string };

export type NewSessionInput = {
	userId: string;
	lifetimeSeconds: number;
	userAgent?: string | null;
	ip?: string | null;
};

/**
 * Starts a session (a sign-in) with an absolute lifetime and its first refresh token: the writes,
 * unexecuted, for a sign-in that batches them with its other writes (counter reset, audit events):
 * the session, its first refresh token, the user's last sign-in time.
 */
export function newSessionStatements(db: Database, input: NewSessionInput) {
	const now = Date.now();
	const session: Session = {
		id: newId(),
		userId: input.userId,
		expiresAt: new Date(now + input.lifetimeSeconds * 1000),
		revokedAt: null,
		userAgent: input.userAgent?.slice(0, 512) ?? null,
		ip: input.ip ?? null,
		createdAt: new Date(now),
		lastUsedAt: null,
	};
	const refreshToken = newSecretToken();
	const statements = [
		db.insert(sessions).values(session),
		db.insert(refreshTokens).values({ tokenHash: hashToken(refreshToken), sessionId: session.id }),
		db.update(users).set({ lastLoginAt: session.createdAt }).where(eq(users.id, input.userId)),
	] as const;
	return { session, refreshToken, statements };
}

export type RotateResult =
	| { ok: true; session: Session; user: User; providers: string[]; refreshToken: string }
	| { ok: false; reason: "invalid" }
	| { ok: false; reason: "reused"; userId: string };

/**
 * Spends a refresh token and issues a successor. The spend is one conditional UPDATE: a live token
 * is stamped spent, and a token spent less than `reuseSeconds` ago (two tabs, a retried request)
 * passes again with its original stamp, so concurrent refreshes each get their own working pair in
 * the same session and the interval never stretches. A token spent longer ago is reuse: treated as
 * theft, it revokes the session. The pair is only returned after the session is read back live, so
 * a 200 never carries tokens of a session revoked in the meantime.
 */
export async function rotateRefreshToken(db: Database, token: string, reuseSeconds: number): Promise<RotateResult> {
	const tokenHash = hashToken(token);
	const now = Date.now();
	const reusableAfter = now - reuseSeconds * 1000;
	const spent = await db
		.update(refreshTokens)
		.set({ spentAt: sql`coalesce(${refreshTokens.spentAt}, ${now})` })
		.where(
			and(
				eq(refreshTokens.tokenHash, tokenHash),
				sql`(${refreshTokens.spentAt} is null or ${refreshTokens.spentAt} > ${reusableAfter})`,
				// Correlated on the token's own session: an uncorrelated `in (select ...)` makes SQLite
				// build the list of every live session first, a full scan (test/db/query-plans.test.ts).
				sql`exists (select 1 from ${sessions} where ${sessions.id} = ${refreshTokens.sessionId} and ${sessions.revokedAt} is null and ${sessions.expiresAt} > ${now})`,
			),
		)
		.returning({ sessionId: refreshTokens.sessionId });
	const winner = spent[0];
	if (winner) {
		const next = newSecretToken();
		// The session's last use is written here, once per refresh, never on ordinary requests. The
		// read-back shares the batch (one round trip, one transaction), after the writes.
		const [, , rows] = await db.batch([
			db.insert(refreshTokens).values({ tokenHash: hashToken(next), sessionId: winner.sessionId }),
			db
				.update(sessions)
				.set({ lastUsedAt: new Date(now) })
				.where(eq(sessions.id, winner.sessionId)),
			activeSessionQuery(db, winner.sessionId),
		]);
		const active = activeSessionOf(rows[0]);
		if (!active) return { ok: false, reason: "invalid" };
		return { ok: true, ...active, refreshToken: next };
	}
	const known = await db
		.select({ spentAt: refreshTokens.spentAt, session: sessions })
		.from(refreshTokens)
		.innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
		.where(eq(refreshTokens.tokenHash, tokenHash))
		.get();
	const live = known && known.session.revokedAt === null && known.session.expiresAt.getTime() > now;
	if (known?.spentAt && live) {
		await revokeSession(db, known.session.id);
		return { ok: false, reason: "reused", userId: known.session.userId };
	}
	return { ok: false, reason: "invalid" };
}

/** Revokes one session; its access and refresh tokens stop working on the next request. */
export async function revokeSession(db: Database, sessionId: string): Promise<void> {
	await db
		.update(sessions)
		.set({ revokedAt: new Date() })
		.where(and(eq(sessions.id, sessionId), isNull(sessions.revokedAt)));
}

/** Revokes every live session of a user, optionally sparing the caller's own. */
export async function revokeUserSessions(db: Database, userId: string, exceptSessionId?: string): Promise<void> {
	const conditions = [eq(sessions.userId, userId), isNull(sessions.revokedAt)];
	if (exceptSessionId) conditions.push(ne(sessions.id, exceptSessionId));
	await db
		.update(sessions)
		.set({ revokedAt: new Date() })
		.where(and(...conditions));
}

export type ActiveSession = {
	session: Session;
	user: User;
	providers: string[];
	/** The user's second factors, read in the same statement (GET /v1/me answers them). */
	mfa: { totp: boolean; recovery_codes_left: number; passkeys: number };
};

/**
 * Loads a live session with its user, linked providers and second factors in ONE statement: this runs on every
 * authenticated request, and revocation must be seen at once, so no row is cached (only the
 * statement's SQL). `userId`, when given, must own the session (the access token's `sub`). `db` is
 * the primary client (`createDb`), which picks its D1 handle when a statement runs, not when it is
 * prepared.
 */
export async function findActiveSession(
	db: Database,
	sessionId: string,
	userId?: string,
): Promise<ActiveSession | null> {
	const prepared = preparedActiveSession(db, userId !== undefined);
	return activeSessionOf(await prepared.get({ sessionId, userId, now: Date.now() }));
}

type Placeholder = ReturnType<typeof sql.placeholder>;
type PreparedActiveSession = ReturnType<ReturnType<typeof activeSessionQuery>["prepare"]>;

// Building the statement's SQL through drizzle was about a sixth of the isolate's JavaScript time on
// GET /v1/me (profiled); it runs on every authenticated request, so it is built once per database
// client (with or without the owner check) and only bound per request.
const preparedActiveSessions = new WeakMap<Database, Map<boolean, PreparedActiveSession>>();

function preparedActiveSession(db: Database, withUser: boolean): PreparedActiveSession {
	let byShape = preparedActiveSessions.get(db);
	if (!byShape) {
		byShape = new Map();
		preparedActiveSessions.set(db, byShape);
	}
	let prepared = byShape.get(withUser);
	if (!prepared) {
		const userId = withUser ? sql.placeholder("userId") : undefined;
		prepared = activeSessionQuery(db, sql.placeholder("sessionId"), userId, sql.placeholder("now")).prepare();
		byShape.set(withUser, prepared);
	}
	return prepared;
}

// The session's columns named apart from the user's: D1 answers a batch's rows as objects keyed
// by column name, so two "id" (or "created_at") columns of one statement would collapse into one.
const sessionColumns = {
	...getTableColumns(sessions),
	id: sql<string>`${sessions.id}`.as("session_id"),
	createdAt: sql`${sessions.createdAt}`.mapWith(sessions.createdAt).as("session_created_at"),
};

/** The one statement of `findActiveSession`, unexecuted (a refresh batches it after its writes). */
function activeSessionQuery(
	db: Database,
	sessionId: string | Placeholder,
	userId?: string | Placeholder,
	now: Date | Placeholder = new Date(),
) {
	return db
		.select({
			session: sessionColumns,
			user: users,
			providers: sql<string>`(select json_group_array(provider) from oauth_accounts where user_id = ${users.id})`,
			totp: sql<number>`(select count(*) from mfa_totp where user_id = ${users.id} and enabled_at is not null)`,
			recoveryCodesLeft: sql<number>`(select count(*) from mfa_recovery_codes where user_id = ${users.id} and used_at is null)`,
			passkeys: sql<number>`(select count(*) from passkeys where user_id = ${users.id})`,
		})
		.from(sessions)
		.innerJoin(users, eq(users.id, sessions.userId))
		.where(
			and(
				eq(sessions.id, sessionId),
				userId === undefined ? undefined : eq(sessions.userId, userId),
				isNull(sessions.revokedAt),
				gt(sessions.expiresAt, now),
				// A disabled account's sessions are dead even if one was started while it was disabled.
				isNull(users.disabledAt),
			),
		);
}

type ActiveSessionRow = Awaited<ReturnType<ReturnType<typeof activeSessionQuery>["get"]>>;

function activeSessionOf(row: ActiveSessionRow): ActiveSession | null {
	if (!row) return null;
	const totp = row.totp > 0;
	return {
		session: row.session,
		user: row.user,
		providers: JSON.parse(row.providers) as string[],
		mfa: { totp, recovery_codes_left: totp ? row.recoveryCodesLeft : 0, passkeys: row.passkeys },
	};
}

/** A user's live sessions (not revoked, not expired), newest first. */
export async function listLiveSessions(db: Database, userId: string): Promise<Session[]> {
	return db
		.select()
		.from(sessions)
		.where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, new Date())))
		.orderBy(desc(sessions.createdAt), desc(sessions.id));
}

/**
 * Revokes one live session of `userId`; false when there is none with that id (unknown, another
 * user's, already revoked or expired). The user id is in the WHERE, so nobody revokes a stranger's.
 */
export async function revokeOwnSession(db: Database, userId: string, sessionId: string): Promise<boolean> {
	const revoked = await db
		.update(sessions)
		.set({ revokedAt: new Date() })
		.where(
			and(
				eq(sessions.id, sessionId),
				eq(sessions.userId, userId),
				isNull(sessions.revokedAt),
				gt(sessions.expiresAt, new Date()),
			),
		)
		.returning({ id: sessions.id });
	return revoked.length > 0;
}

/** The public shape of a session (GET /v1/me/sessions); `currentId` is the caller's own. */
export function presentSession(session: Session, currentId: string): SessionBody {
	return {
		id: session.id,
		current: session.id === currentId,
		created_at: session.createdAt.toISOString(),
		last_used_at: session.lastUsedAt?.toISOString() ?? null,
		user_agent: session.userAgent,
		ip: session.ip,
	};
}
