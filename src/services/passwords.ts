import { and, eq, isNull, ne } from "drizzle-orm";
import type { Database } from "../db/client";
import { sessions, type User, users } from "../db/schema";
import { hashPassword, PASSWORD_PARAMS, type ScryptParams, verifyPassword } from "../lib/password";
import { passwordEqualsEmail } from "../lib/password-policy";
import { type RateLimitRule, clear, hit } from "./rate-limit";
import { type EventRecorder, eventStatements } from "./events";
import { endResetLinks } from "./verification";

export type ChangePasswordResult =
	| { ok: true }
	| { ok: false; reason: "password_equals_email" | "current_password_required" | "invalid_credentials" }
	| { ok: false; reason: "rate_limited"; retryAfterSeconds: number };

/**
 * Changes (or sets a first) password for a signed-in user. A wrong current password is a password
 * guess like a failed login: it counts against the same per-account counter (`failures`, counted
 * before the check so parallel guesses cannot overshoot, forgotten after a right one). The new
 * hash, the revocation of every other session and the end of every outstanding reset link are one
 * D1 batch with the user.password_changed event, so no mailed link or other session outlives the change.
 */
export async function changePassword(
	db: Database,
	events: EventRecorder,
	input: {
		user: User;
		keepSessionId: string;
		currentPassword: string | undefined;
		newPassword: string;
		failures: { key: string; rule: RateLimitRule };
	},
	passwordParams: ScryptParams = PASSWORD_PARAMS,
): Promise<ChangePasswordResult> {
	const { user } = input;
	if (passwordEqualsEmail(input.newPassword, user.email)) return { ok: false, reason: "password_equals_email" };
	if (user.passwordHash) {
		if (!input.currentPassword) return { ok: false, reason: "current_password_required" };
		const { key, rule } = input.failures;
		const counted = await hit(db, key, rule.limit, rule.windowSeconds);
		if (!counted.allowed) return { ok: false, reason: "rate_limited", retryAfterSeconds: counted.retryAfterSeconds };
		if (!(await verifyPassword(user.passwordHash, input.currentPassword))) {
			return { ok: false, reason: "invalid_credentials" };
		}
		await clear(db, key);
	}
	const passwordHash = await hashPassword(input.newPassword, passwordParams);
	const now = new Date();
	const via = user.passwordHash ? "change" : "first_password";
	const changed = { type: "user.password_changed", userId: user.id, actor: "self", data: { via } } as const;
	await db.batch([
		db.update(users).set({ passwordHash, updatedAt: now }).where(eq(users.id, user.id)),
		...(await eventStatements(db, events, changed)),
		db
			.update(sessions)
			.set({ revokedAt: now })
			.where(and(eq(sessions.userId, user.id), isNull(sessions.revokedAt), ne(sessions.id, input.keepSessionId))),
		endResetLinks(db, user.id),
	]);
	return { ok: true };
}
