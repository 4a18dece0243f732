import { pruneMagicLinks } from "./magic-links";
import { pruneOAuthStates } from "./oauth/flow";
import { pruneLinkTickets } from "./oauth/link-tickets";
import type { EventBody } from "../schemas";
import { desc, eq, lt, sql } from "drizzle-orm";
import type { Config } from "../config";
import type { Database } from "../db/client";
import { auditEvents } from "../db/schema";
import { newId } from "../lib/crypto";
import { pruneMfaChallenges } from "./mfa";
import { pruneSettledOutbox } from "./outbox";
import { prunePasskeyChallenges } from "./passkeys";
import { pruneRateLimits } from "./rate-limit";

/** Everything the trail records; the names are part of GET /v1/me/activity. */
export type AuditEventType =
	| "register"
	| "register_existing"
	| "email_confirmed"
	| "login"
	| "login_failed"
	| "refresh_token_reused"
	| "logout"
	| "logout_all"
	| "password_changed"
	| "password_change_failed"
	| "password_reset"
	| "oauth_linked"
	| "oauth_unlinked"
	| "image_deleted"
	| "avatar_deleted"
	| "account_deleted"
	| "mfa_enabled"
	| "mfa_disabled"
	| "mfa_failed"
	| "recovery_codes_regenerated"
	| "recovery_code_used"
	| "session_revoked"
	/** Admin API actions; their detail carries `actor: "admin"`. */
	| "account_disabled"
	| "account_enabled"
	| "sessions_revoked"
	| "magic_link_failed"
	| "email_change_requested"
	| "email_changed"
	| "passkey_added"
	| "passkey_removed";

/** Non-secret context only: ids, provider names, methods, counts. Never tokens, passwords or emails. */
export type AuditDetail = Record<string, string | number | boolean | null>;

export type AuditEvent = {
	/** Null for rows that must outlive their user (account deletion). */
	userId: string | null;
	type: AuditEventType;
	ip?: string | null;
	userAgent?: string | null;
	detail?: AuditDetail;
};

const MAX_USER_AGENT = 512;
const MAX_DETAIL_STRING = 200;

function detailJson(detail: AuditDetail | undefined): string | null {
	if (!detail || Object.keys(detail).length === 0) return null;
	const bounded = Object.fromEntries(
		Object.entries(detail).map(([key, value]) => [
			key,
			typeof value === "string" ? value.slice(0, MAX_DETAIL_STRING) : value,
		]),
	);
	return JSON.stringify(bounded);
}

/** The INSERT of one event, unexecuted, for callers that batch it with the statement it records. */
export function auditInsert(db: Database, event: AuditEvent) {
	return db.insert(auditEvents).values({
		id: newId(),
		userId: event.userId,
		type: event.type,
		ip: event.ip ?? null,
		userAgent: event.userAgent?.slice(0, MAX_USER_AGENT) ?? null,
		detail: detailJson(event.detail),
		createdAt: new Date(),
	});
}

/** Records one event. Route code runs it after the response (waitUntil), so it adds no latency. */
export async function recordEvent(db: Database, event: AuditEvent): Promise<void> {
	await auditInsert(db, event);
}

export type AuditRow = typeof auditEvents.$inferSelect;

/** A user's events, newest first (insertion order breaks ties within a millisecond). */
export async function listEvents(db: Database, userId: string, limit?: number): Promise<AuditRow[]> {
	const query = db
		.select()
		.from(auditEvents)
		.where(eq(auditEvents.userId, userId))
		.orderBy(desc(auditEvents.createdAt), sql`rowid desc`);
	return limit === undefined ? query : query.limit(limit);
}

/** The public shape of an event (GET /v1/me/activity, the export). */
export function presentEvent(row: AuditRow): EventBody {
	return {
		id: row.id,
		type: row.type,
		created_at: row.createdAt.toISOString(),
		ip: row.ip,
		user_agent: row.userAgent,
		detail: row.detail ? (JSON.parse(row.detail) as AuditDetail) : {},
	};
}

/** Deletes events older than `before`. */
export async function pruneAuditEvents(db: Database, before: Date): Promise<number> {
	const result = await db.delete(auditEvents).where(lt(auditEvents.createdAt, before));
	return result.meta.changes;
}

/**
 * The cron's retention job: audit events past AUDIT_RETENTION_DAYS, rate-limit windows that ended
 * second-step and passkey challenges, linking tickets and magic links that can no longer be used,
 * and settled outbox rows (mail and webhooks) past the same retention.
 */
export async function pruneSecurityRecords(
	db: Database,
	config: Pick<Config, "AUDIT_RETENTION_DAYS">,
	now = Date.now(),
) {
	const before = new Date(now - config.AUDIT_RETENTION_DAYS * 86_400_000);
	const deleting = {
		auditEventsDeleted: pruneAuditEvents(db, before),
		rateLimitsDeleted: pruneRateLimits(db, now),
		mfaChallengesDeleted: pruneMfaChallenges(db, now),
		oauthStatesDeleted: pruneOAuthStates(db, new Date(now)),
		linkTicketsDeleted: pruneLinkTickets(db, new Date(now)),
		magicLinksDeleted: pruneMagicLinks(db, new Date(now)),
		passkeyChallengesDeleted: prunePasskeyChallenges(db, now),
		outboxRowsDeleted: pruneSettledOutbox(db, before),
	};
	// All at once; the report names each count once, by the key it was started under.
	const counts = await Promise.all(Object.entries(deleting).map(async ([name, count]) => [name, await count] as const));
	return Object.fromEntries(counts) as { [Name in keyof typeof deleting]: number };
}
