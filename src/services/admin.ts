import { and, desc, eq, gt, isNotNull, isNull, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { type User, sessions, users } from "../db/schema";
import type { AdminUserBody } from "../schemas";
import { type AuditEventType, auditInsert } from "./audit";
import type { KeysetCursor } from "../lib/cursors";
import { type EventRecorder, eventStatements } from "./events";
import { normalizeEmail, presentUser } from "./users";

/** A user with what the admin object adds: providers, second factors and the live-session count. */
export type AdminUserRow = {
	user: User;
	providers: string[];
	totp: boolean;
	recoveryCodesLeft: number;
	sessions: number;
};

/** Same position type as the image list: (created_at, id), newest first. */
export type UserCursor = KeysetCursor;

// Written out qualified: selecting from users alone, Drizzle would render ${users.id} as a bare
// "id", which inside a subquery names the subquery's own table.
function adminColumns() {
	const now = Date.now();
	return {
		user: users,
		providers: sql<string>`(select json_group_array(provider) from oauth_accounts where oauth_accounts.user_id = users.id)`,
		totp: sql<number>`(select count(*) from mfa_totp where mfa_totp.user_id = users.id and enabled_at is not null)`,
		recoveryCodesLeft: sql<number>`(select count(*) from mfa_recovery_codes where mfa_recovery_codes.user_id = users.id and used_at is null)`,
		sessions: sql<number>`(select count(*) from sessions where sessions.user_id = users.id and sessions.revoked_at is null and sessions.expires_at > ${now})`,
	};
}

type RawRow = { user: User; providers: string; totp: number; recoveryCodesLeft: number; sessions: number };

function toRow(raw: RawRow): AdminUserRow {
	return {
		user: raw.user,
		providers: JSON.parse(raw.providers) as string[],
		totp: raw.totp > 0,
		recoveryCodesLeft: raw.recoveryCodesLeft,
		sessions: raw.sessions,
	};
}

/**
 * One page of users, newest first (keyset on the users_created_idx order), or the one user whose
 * stored email equals `email` normalized the way login normalizes it.
 */
export async function listUsers(
	db: Database,
	query: { email?: string; limit: number; after?: UserCursor },
): Promise<{ users: AdminUserRow[]; next: UserCursor | null }> {
	const { after } = query;
	const rows = await db
		.select(adminColumns())
		.from(users)
		.where(
			and(
				query.email === undefined ? undefined : eq(users.email, normalizeEmail(query.email)),
				after ? sql`(${users.createdAt}, ${users.id}) < (${after.createdAt}, ${after.id})` : undefined,
			),
		)
		.orderBy(desc(users.createdAt), desc(users.id))
		.limit(query.limit + 1)
		.all();
	const items = rows.slice(0, query.limit).map(toRow);
	const last = items.at(-1);
	const next =
		rows.length > query.limit && last ? { createdAt: last.user.createdAt.getTime(), id: last.user.id } : null;
	return { users: items, next };
}

/** One user with the admin fields, or null for an unknown id. */
export async function findAdminUser(db: Database, id: string): Promise<AdminUserRow | null> {
	const row = await db.select(adminColumns()).from(users).where(eq(users.id, id)).get();
	return row ? toRow(row) : null;
}

const ADMIN = { actor: "admin" } as const;

/** Whether a user with this id exists (one primary-key lookup). */
export async function userExists(db: Database, userId: string): Promise<boolean> {
	return (await db.select({ id: users.id }).from(users).where(eq(users.id, userId)).get()) !== undefined;
}

function revokeAll(db: Database, userId: string, at: Date) {
	return db
		.update(sessions)
		.set({ revokedAt: at })
		.where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, at)));
}

function adminAudit(db: Database, userId: string, type: AuditEventType) {
	return auditInsert(db, { userId, type, detail: ADMIN });
}

/**
 * Disables an account: the flag and the revocation of every session land in one batch with the
 * audit row, so no session outlives the flag. Disabling again keeps the first disable's time
 * and records no second user.disabled event (there is no user.enabled: the contract has none).
 * False for an unknown id (checked first: the audit row's foreign key needs the user).
 */
export async function disableUser(db: Database, events: EventRecorder, userId: string): Promise<boolean> {
	if (!(await userExists(db, userId))) return false;
	const now = new Date();
	const enabled = sql`exists (select 1 from ${users} where ${users.id} = ${userId} and ${users.disabledAt} is null)`;
	const disabled = await eventStatements(db, events, { type: "user.disabled", userId, actor: "admin" }, enabled);
	await db.batch([
		adminAudit(db, userId, "account_disabled"),
		...disabled,
		db
			.update(users)
			.set({ disabledAt: sql`coalesce(${users.disabledAt}, ${now.getTime()})`, updatedAt: now })
			.where(eq(users.id, userId)),
		revokeAll(db, userId, now),
	]);
	return true;
}

/** Lets a disabled account sign in again (its old sessions stay revoked). False for an unknown id. */
export async function enableUser(db: Database, userId: string): Promise<boolean> {
	if (!(await userExists(db, userId))) return false;
	await db.batch([
		db
			.update(users)
			.set({ disabledAt: null, updatedAt: new Date() })
			.where(and(eq(users.id, userId), isNotNull(users.disabledAt))),
		adminAudit(db, userId, "account_enabled"),
	]);
	return true;
}

/** Revokes every live session of a user; false for an unknown id. */
export async function revokeSessionsAsAdmin(db: Database, userId: string): Promise<boolean> {
	if (!(await userExists(db, userId))) return false;
	await db.batch([revokeAll(db, userId, new Date()), adminAudit(db, userId, "sessions_revoked")]);
	return true;
}

/** The admin representation of a user. */
export function presentAdminUser(row: AdminUserRow, appUrl: URL): AdminUserBody {
	return {
		...presentUser(row.user, row.providers, appUrl),
		mfa: {
			totp: row.totp,
			recovery_codes_left: row.totp ? row.recoveryCodesLeft : 0,
			passkeys: 0,
		},
		disabled: row.user.disabledAt !== null,
		last_login_at: row.user.lastLoginAt?.toISOString() ?? null,
		sessions: row.sessions,
	};
}
