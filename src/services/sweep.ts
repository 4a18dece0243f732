import { encodeHexLowerCase } from "@oslojs/encoding";
import { and, eq, gt, isNotNull, or, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { images, users } from "../db/schema";
import { avatarKey, userPrefix } from "./storage";

/** How old a half-written pair must be before the sweep touches it: far longer than any upload takes. */
export const SWEEP_GRACE_MS = 60 * 60 * 1000;

/**
 * The cron fires every five minutes for mail; the sweep lists a user's whole folder, so it runs
 * only on the first tick of each hour.
 */
export function isSweepDue(scheduledTime: number): boolean {
	return new Date(scheduledTime).getUTCMinutes() < 5;
}

export type SweepOptions = {
	/** Pairs younger than this are left alone: an upload or delete may still be in flight. */
	graceMs: number;
	now?: Date | number;
};

export type SweepReport = {
	/** User folders and users with stored data that were compared. */
	users: number;
	/** Objects without a row (images) or without a user pointing at them (avatars). */
	objectsDeleted: number;
	/** Image rows whose object is gone. */
	rowsDeleted: number;
	/** Users whose avatar fields pointed at a missing object. */
	avatarsCleared: number;
	/** Rows rebuilt from their object after a replacement whose row update failed. */
	rowsRepaired: number;
};

const DELETE_BATCH = 1000;
const USER_PAGE = 500;

/**
 * Reconciles R2 with D1 in both directions, one user at a time so memory stays bounded by one
 * user's folder (which the quota bounds): objects without a row are deleted, rows without an
 * object are deleted, and rows that describe older bytes than their object holds are rebuilt from
 * the object. Only pairs last written before `now - graceMs` are touched, and every row change is
 * conditional on the etag that was read, so an upload or replacement racing the sweep wins.
 */
export async function sweepOrphans(db: Database, bucket: R2Bucket, options: SweepOptions): Promise<SweepReport> {
	const now = options.now === undefined ? Date.now() : new Date(options.now).getTime();
	const cutoff = now - options.graceMs;
	const report: SweepReport = { users: 0, objectsDeleted: 0, rowsDeleted: 0, avatarsCleared: 0, rowsRepaired: 0 };
	for await (const userId of mergeSorted(userFolders(bucket), usersWithStorage(db))) {
		report.users++;
		await sweepUser(db, bucket, userId, cutoff, report);
	}
	return report;
}

type ListedObject = Pick<R2Object, "key" | "etag" | "size" | "uploaded" | "httpMetadata" | "customMetadata">;

async function sweepUser(db: Database, bucket: R2Bucket, userId: string, cutoff: number, report: SweepReport) {
	// Objects first, rows second: a pair created in between shows up as a young row without an
	// object, which the grace period protects.
	const objects = await listFolder(bucket, userPrefix(userId));
	const [rows, owner] = await Promise.all([
		db
			.select({ id: images.id, etag: images.etag, updatedAt: images.updatedAt })
			.from(images)
			.where(eq(images.userId, userId))
			.all(),
		db
			.select({ avatarEtag: users.avatarEtag, avatarUpdatedAt: users.avatarUpdatedAt })
			.from(users)
			.where(eq(users.id, userId))
			.get(),
	]);
	const rowsById = new Map(rows.map((row) => [row.id, row]));
	// Variants live while their image does and still has the bytes they were made from.
	const currentEtags = new Map(rows.map((row) => [row.id, row.etag]));
	const imagesPrefix = `${userPrefix(userId)}images/`;
	const variantsPrefix = `${userPrefix(userId)}variants/`;
	const orphans: string[] = [];
	let avatarObject: ListedObject | undefined;

	for (const object of objects) {
		const old = object.uploaded.getTime() < cutoff;
		if (object.key === avatarKey(userId)) {
			avatarObject = object;
			if (!owner?.avatarEtag) {
				if (old) orphans.push(object.key);
			} else if (owner.avatarEtag !== object.etag && old && isOld(owner.avatarUpdatedAt, cutoff)) {
				const repaired = await db
					.update(users)
					.set({ avatarEtag: object.etag, avatarContentType: object.httpMetadata?.contentType ?? null })
					.where(and(eq(users.id, userId), eq(users.avatarEtag, owner.avatarEtag)))
					.returning({ id: users.id });
				report.rowsRepaired += repaired.length;
			}
			continue;
		}
		if (object.key.startsWith(variantsPrefix)) {
			// users/<user>/variants/<image>/<etag>/<name>
			const [variantOf, sourceEtag, name, ...rest] = object.key.slice(variantsPrefix.length).split("/");
			const live = name !== undefined && rest.length === 0 && currentEtags.get(variantOf ?? "") === sourceEtag;
			if (!live && old) orphans.push(object.key);
			continue;
		}
		const imageId = object.key.startsWith(imagesPrefix) ? object.key.slice(imagesPrefix.length) : "";
		const row = imageId.includes("/") ? undefined : rowsById.get(imageId);
		rowsById.delete(imageId);
		if (!row) {
			// Includes keys that follow no known layout: nothing in the app can reach them.
			if (old) orphans.push(object.key);
		} else if (row.etag !== object.etag && old && isOld(row.updatedAt, cutoff)) {
			if (await repairRow(db, bucket, userId, imageId, row.etag, object)) report.rowsRepaired++;
		}
	}

	for (const row of rowsById.values()) {
		if (!isOld(row.updatedAt, cutoff)) continue;
		const deleted = await db
			.delete(images)
			.where(and(eq(images.id, row.id), eq(images.etag, row.etag)))
			.returning({ id: images.id });
		report.rowsDeleted += deleted.length;
	}

	if (owner?.avatarEtag && !avatarObject && isOld(owner.avatarUpdatedAt, cutoff)) {
		const cleared = await db
			.update(users)
			.set({ avatarEtag: null, avatarContentType: null, avatarUpdatedAt: null })
			.where(and(eq(users.id, userId), eq(users.avatarEtag, owner.avatarEtag)))
			.returning({ id: users.id });
		report.avatarsCleared += cleared.length;
	}

	for (let i = 0; i < orphans.length; i += DELETE_BATCH) {
		await bucket.delete(orphans.slice(i, i + DELETE_BATCH));
	}
	report.objectsDeleted += orphans.length;
}

function isOld(time: Date | null, cutoff: number): boolean {
	return time === null || time.getTime() < cutoff;
}

/**
 * Rewrites a row from the object it names. Width and height travel in the object's custom
 * metadata; the hash is recomputed from the bytes (rare path: only after a failed replacement).
 */
async function repairRow(
	db: Database,
	bucket: R2Bucket,
	userId: string,
	imageId: string,
	staleEtag: string,
	listed: ListedObject,
): Promise<boolean> {
	const width = Number(listed.customMetadata?.width);
	const height = Number(listed.customMetadata?.height);
	const contentType = listed.httpMetadata?.contentType;
	if (!(width > 0 && height > 0 && contentType)) return false;
	const object = await bucket.get(listed.key, { onlyIf: { etagMatches: listed.etag } });
	if (!object || !("body" in object)) return false;
	const digest = new crypto.DigestStream("SHA-256");
	await object.body.pipeTo(digest);
	const sha256 = encodeHexLowerCase(new Uint8Array(await digest.digest));
	const repaired = await db
		.update(images)
		.set({
			etag: object.etag,
			size: object.size,
			contentType,
			width,
			height,
			sha256,
			metadataStripped: listed.customMetadata?.stripped === "1",
			updatedAt: object.uploaded,
		})
		.where(and(eq(images.id, imageId), eq(images.userId, userId), eq(images.etag, staleEtag)))
		.returning({ id: images.id });
	return repaired.length > 0;
}

async function listFolder(bucket: R2Bucket, prefix: string): Promise<ListedObject[]> {
	const objects: ListedObject[] = [];
	let cursor: string | undefined;
	do {
		const page = await bucket.list({ prefix, cursor, include: ["httpMetadata", "customMetadata"] });
		objects.push(...page.objects);
		cursor = page.truncated ? page.cursor : undefined;
	} while (cursor);
	return objects;
}

/** User ids that have a folder in R2, in key order. */
async function* userFolders(bucket: R2Bucket): AsyncGenerator<string> {
	let cursor: string | undefined;
	do {
		const page = await bucket.list({ prefix: "users/", delimiter: "/", cursor });
		for (const prefix of page.delimitedPrefixes) yield prefix.slice("users/".length, -1);
		cursor = page.truncated ? page.cursor : undefined;
	} while (cursor);
}

/** Ids of users with an image row or an avatar, in id order. */
async function* usersWithStorage(db: Database): AsyncGenerator<string> {
	let after = "";
	for (;;) {
		const page = await db
			.select({ id: users.id })
			.from(users)
			.where(
				and(
					gt(users.id, after),
					or(isNotNull(users.avatarEtag), sql`exists (select 1 from ${images} where ${images.userId} = ${users.id})`),
				),
			)
			.orderBy(users.id)
			.limit(USER_PAGE)
			.all();
		for (const row of page) yield row.id;
		const last = page.at(-1);
		if (!last || page.length < USER_PAGE) return;
		after = last.id;
	}
}

/**
 * Union of two ascending id streams without holding either. Ids are compared as strings, the
 * order of both R2 keys and SQLite text; should an exotic id sort differently in the two, it is
 * merely visited twice, which is harmless because every decision is made from the user's own
 * folder listing and rows.
 */
async function* mergeSorted(a: AsyncGenerator<string>, b: AsyncGenerator<string>): AsyncGenerator<string> {
	let left = await a.next();
	let right = await b.next();
	while (!left.done || !right.done) {
		if (!left.done && (right.done || left.value <= right.value)) {
			const value = left.value;
			if (!right.done && right.value === value) right = await b.next();
			left = await a.next();
			yield value;
		} else if (!right.done) {
			const value = right.value;
			right = await b.next();
			yield value;
		}
	}
}
