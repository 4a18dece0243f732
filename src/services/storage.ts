import { log } from "../lib/log";

/** R2 key prefix of everything a user owns. */
export function userPrefix(userId: string): string {
	return `users/${userId}/`;
}

/** R2 key of an image's bytes. Filenames never appear in keys. */
export function imageKey(userId: string, imageId: string): string {
	return `users/${userId}/images/${imageId}`;
}

/** R2 key prefix of every variant of an image (all of its versions). */
export function variantsPrefix(userId: string, imageId: string): string {
	return `users/${userId}/variants/${imageId}/`;
}

/** R2 key of one variant of one version (etag) of an image; `name` comes from lib/variants.ts. */
export function variantKey(userId: string, imageId: string, etag: string, name: string): string {
	return `${variantsPrefix(userId, imageId)}${etag}/${name}`;
}

/** R2 key of a user's avatar. */
export function avatarKey(userId: string): string {
	return `users/${userId}/avatar`;
}

/**
 * Deletes every object under the user's prefix, a page (up to 1000 keys, R2's batch limit) at a
 * time, so a user with thousands of images is removed in a bounded number of calls.
 */
export async function deleteUserObjects(bucket: R2Bucket, userId: string): Promise<number> {
	let deleted = 0;
	let cursor: string | undefined;
	do {
		const page = await bucket.list({ prefix: userPrefix(userId), cursor, limit: 1000 });
		const keys = page.objects.map((object) => object.key);
		if (keys.length > 0) {
			await bucket.delete(keys);
			deleted += keys.length;
		}
		cursor = page.truncated ? page.cursor : undefined;
	} while (cursor);
	return deleted;
}

/** Deletes an object whose row is gone; a failure only leaves work for the sweep. */
export async function deleteObjectQuietly(bucket: R2Bucket, key: string): Promise<void> {
	try {
		await bucket.delete(key);
	} catch (error) {
		log("warn", "object_delete_failed", { key, message: error instanceof Error ? error.message : String(error) });
	}
}
