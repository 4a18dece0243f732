import { eq } from "drizzle-orm";
import type { Database } from "../db/client";
import { users } from "../db/schema";
import { log } from "../lib/log";
import { auditInsert } from "./audit";
import { deleteUserObjects } from "./storage";

/**
 * Deletes an account and everything it owns. Objects go first: if R2 fails, the account still
 * exists and the request can simply be retried. The user row then goes (its sessions, images,
 * tokens, outbox mail and trail cascade with it) in one batch with an anonymous audit row.
 *
 * An upload streaming meanwhile checks the user in D1 only after its put lands: either that check
 * ran before the row was deleted, so its object landed before the second pass below (which removes
 * it), or it runs after and finds no user (the upload then deletes its own object). Either way no
 * object outlives the account; if the second pass fails, the sweep removes what it missed.
 */
export async function deleteAccount(
	db: Database,
	bucket: R2Bucket,
	userId: string,
	/** Who asked: the user (DELETE /v1/me) or the app's backend (DELETE /v1/admin/users/:id). */
	actor: "self" | "admin" = "self",
): Promise<{ objects: number }> {
	const objects = await deleteUserObjects(bucket, userId);
	await db.batch([
		db.delete(users).where(eq(users.id, userId)),
		auditInsert(db, { userId: null, type: "account_deleted", detail: { objects, actor } }),
	]);
	let late = 0;
	try {
		late = await deleteUserObjects(bucket, userId);
	} catch (error) {
		log("warn", "account_objects_second_pass_failed", { message: error instanceof Error ? error.message : "" });
	}
	return { objects: objects + late };
}
