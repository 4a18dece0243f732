import { and, eq, isNotNull } from "drizzle-orm";
import type { Database } from "../db/client";
import { type User, users } from "../db/schema";
import type { ImageStore } from "./images";
import { avatarKey, deleteObjectQuietly } from "./storage";
import {
	type InspectedUpload,
	type Outcome,
	type UploadSource,
	inspectUpload,
	objectMetadata,
	refuse,
	storeUpload,
} from "./uploads";

/**
 * Sets a user's avatar: same checks as an image (type, size, dimensions), but no quota. The
 * object goes first, then the user row points at it; if that write fails for a first avatar, the
 * object is removed again.
 */
export async function setAvatar(
	store: Pick<ImageStore, "db" | "bucket" | "limits">,
	user: User,
	source: UploadSource,
): Promise<Outcome<User>> {
	const { db, bucket, limits } = store;
	const inspected = await inspectUpload(source, limits.maxPixels);
	if (!inspected.ok) return inspected;
	const upload: InspectedUpload = inspected.value;
	const key = avatarKey(user.id);
	const stored = await storeUpload(bucket, key, upload, {
		maxBytes: limits.maxBytes,
		byteBudget: Number.POSITIVE_INFINITY,
		httpMetadata: { contentType: upload.type },
		customMetadata: objectMetadata(upload, limits.stripMetadata),
		strip: limits.stripMetadata,
	});
	if (!stored.ok) return stored;
	const now = new Date();
	let updated: User | undefined;
	try {
		updated = await db
			.update(users)
			.set({ avatarEtag: stored.value.etag, avatarContentType: upload.type, avatarUpdatedAt: now, updatedAt: now })
			.where(eq(users.id, user.id))
			.returning()
			.get();
	} catch (cause) {
		if (!user.avatarEtag) await deleteObjectQuietly(bucket, key);
		throw cause;
	}
	if (!updated) {
		// The account was deleted while the bytes streamed: nothing may stay behind for it.
		await deleteObjectQuietly(bucket, key);
		return refuse({ reason: "account_gone" });
	}
	return { ok: true, value: updated };
}

/** Removes a user's avatar; false when there was none. */
export async function deleteAvatar(db: Database, bucket: R2Bucket, userId: string): Promise<boolean> {
	const cleared = await db
		.update(users)
		.set({ avatarEtag: null, avatarContentType: null, avatarUpdatedAt: null, updatedAt: new Date() })
		.where(and(eq(users.id, userId), isNotNull(users.avatarEtag)))
		.returning({ id: users.id })
		.get();
	if (!cleared) return false;
	await deleteObjectQuietly(bucket, avatarKey(userId));
	return true;
}

/** The avatar of a user, for the public avatar route; undefined when there is none. */
export async function findAvatar(
	db: Database,
	userId: string,
): Promise<{ etag: string; contentType: string } | undefined> {
	const row = await db
		.select({ etag: users.avatarEtag, contentType: users.avatarContentType })
		.from(users)
		.where(and(eq(users.id, userId), isNotNull(users.avatarEtag)))
		.get();
	return row?.etag ? { etag: row.etag, contentType: row.contentType ?? "image/*" } : undefined;
}
