import { eq } from "drizzle-orm";
import type { Database } from "../db/client";
import { users } from "../db/schema";
import { log } from "../lib/log";
import { auditInsert } from "./audit";
import { type EventRecorder, eventStatements, userExists } from "./events";
import { deleteUserObjects } from "./storage";

/**
 * Deletes an account and everything it owns. Objects go first: if R2 fails, the account still
 * exists and the request can simply be retried. The user row then goes (its sessions, images,
 * tokens, outbox mail and trail cascade with it) in one batch with an anonymous audit row and the
 * user.deleted event (recorded only if the row was still there: a concurrent deletion reports once).
 *
 * An upload streaming meanwhile checks the user in D1 only after its put lands: either that check
 * ran before the row was deleted, so its object landed before the second pass below (which removes
 * it), or it runs after and finds no user (the upload then deletes its own object). Either way no
 * object outlives the account; if the second pass fails, the sweep removes what it missed.
 */
export async function deleteAccount(
	db: Database,
	bucket: R2Bucket,
	events: EventRecorder,
	userId: string,
	/** Who asked: the user (DELETE /v1/me) or the app's backend (DELETE /v1/admin/users/:id). */
	actor: "self" | "admin" = "self",
): Promise<{ objects: number }> {
	const objects = await deleteUserObjects(bucket, userId);
	const deleted = await eventStatements(db, events, { type: "user.deleted", userId, actor }, userExists(userId));
	// The event's condition reads the user row, so it runs before the delete.
	await db.batch([
		auditInsert(db, { userId: null, type: "account_deleted", detail: { objects, actor } }),
		...deleted,
		db.delete(users).where(eq(users.id, userId)),
	]);
	let late = 0;
	try {
		late = await deleteUserObjects(bucket, userId);
	} catch (error) {
		log("warn", "account_objects_second_pass_failed", { message: error instanceof Error ? error.message : "" });
	}
	return { objects: objects + late };
}
