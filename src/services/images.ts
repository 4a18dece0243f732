import type { ImageBody } from "../schemas";
import { and, count, desc, eq, gt, isNotNull, isNull, sql } from "drizzle-orm";
import type { Config } from "../config";
import type { Database } from "../db/client";
import { type Image, type User, images, sessions, users } from "../db/schema";
import { newId } from "../lib/crypto";
import { macKey } from "../lib/encryption";
import { etagMatches, sanitizeFilename } from "../lib/http-file";
import { log } from "../lib/log";
import { type ImageLink, contentUrlExpiry, signImageLink } from "../lib/signed-urls";
import { type DownloadResult, downloadObject, lenientEntityTags } from "./downloads";
import type { VariantParams } from "../lib/variants";
import { avatarKey, imageKey } from "./storage";
import { deleteVariants } from "./variants";
import {
	type InspectedUpload,
	type Outcome,
	type StoredObject,
	type UploadSource,
	inspectUpload,
	objectMetadata,
	refuse,
	storeUpload,
} from "./uploads";

/*
 * Consistency between R2 objects and D1 rows
 *
 * The row is the switch that makes an image visible: it is written after its object and removed
 * before it. A failure in between leaves at most an object nobody can reach, which the sweep
 * (services/sweep.ts) deletes once it is older than its grace period.
 *
 * Replacing content keeps the documented key (users/<user>/images/<image>) and relies on R2 puts
 * being atomic: every check runs before the put, and a put whose body fails (too large, over quota,
 * client gone, R2 error) leaves the old object untouched, so the old row and object still agree.
 * The put is conditional on the etag the row holds, so two concurrent replacements cannot both
 * land. The one window left is a D1 failure right after a successful put: then the object is new
 * and the row describes the old bytes. Downloads describe the bytes with the object's own
 * ETag/Content-Type, and every object carries its width and height in custom metadata, so the
 * sweep rebuilds such a row from its object. Versioned keys would close that window too, but would
 * cost an extra delete per replacement and break the one-key-per-image layout the contract names.
 */

export type ImageLimits = {
	maxBytes: number;
	maxPixels: number;
	quotaBytes: number;
	quotaImages: number;
	/** STRIP_METADATA: uploads, replacements and avatars are stored with their metadata stripped. */
	stripMetadata: boolean;
};

/** What the image services need: storage and the deployment's limits. */
export type ImageStore = { db: Database; bucket: R2Bucket; limits: ImageLimits };

/** The image limits of a deployment. */
export function imageLimits(config: Config): ImageLimits {
	return {
		maxBytes: config.MAX_IMAGE_BYTES,
		maxPixels: config.MAX_IMAGE_PIXELS,
		quotaBytes: config.QUOTA_BYTES,
		quotaImages: config.QUOTA_IMAGES,
		stripMetadata: config.STRIP_METADATA === "on",
	};
}

/** An entity tag as sent in ETag headers and accepted by If-Match / If-None-Match. */
export function quoteEtag(etag: string): string {
	return `"${etag}"`;
}

/** What image objects need for their signed `content_url`. */
export type ContentLinks = { key: CryptoKey; appUrl: URL; seconds: number };

/**
 * The signing key and lifetime of this deployment's signed image URLs. The key is derived from
 * ENCRYPTION_KEY (purpose "signed-image-url"): rotating that secret ends every outstanding link.
 */
export async function contentLinks(config: Config): Promise<ContentLinks> {
	return {
		key: await macKey(config.ENCRYPTION_KEY, "signed-image-url"),
		appUrl: config.appUrl,
		seconds: config.SIGNED_URL_SECONDS,
	};
}

/** The public representation of an image, with a signed `content_url` valid SIGNED_URL_SECONDS or more. */
export async function presentImage(image: Image, links: ContentLinks, now = Date.now()): Promise<ImageBody> {
	const contentUrl = await signImageLink(links.key, links.appUrl, {
		imageId: image.id,
		ownerId: image.userId,
		etag: image.etag,
		expires: contentUrlExpiry(now, links.seconds),
	});
	return {
		id: image.id,
		filename: image.filename,
		content_type: image.contentType,
		size: image.size,
		width: image.width,
		height: image.height,
		etag: quoteEtag(image.etag),
		metadata_stripped: image.metadataStripped,
		created_at: image.createdAt.toISOString(),
		updated_at: image.updatedAt.toISOString(),
		url: new URL(`/v1/images/${image.id}/content`, links.appUrl).toString(),
		content_url: contentUrl,
	};
}

/** Bounds of a share link's lifetime (POST /v1/images/:id/links), in seconds. */
export const SHARE_LINK_SECONDS = { min: 60, max: 604_800, default: 86_400 } as const;

/**
 * A share link of one of `userId`'s images, valid `seconds` from now; null when the user has no
 * such image. Bound to the current bytes: replacing or deleting the image ends it.
 */
export async function createImageLink(
	db: Database,
	links: ContentLinks,
	input: { userId: string; imageId: string; seconds: number; variant?: VariantParams | null; now?: number },
): Promise<{ url: string; expiresAt: Date } | null> {
	const image = await findOwnedImage(db, input.userId, input.imageId);
	if (!image) return null;
	const expires = Math.floor((input.now ?? Date.now()) / 1000) + input.seconds;
	const url = await signImageLink(links.key, links.appUrl, {
		imageId: image.id,
		ownerId: image.userId,
		etag: image.etag,
		expires,
		variant: input.variant ?? null,
	});
	return { url, expiresAt: new Date(expires * 1000) };
}

const EXTENSIONS: Record<string, string> = {
	"image/jpeg": "jpg",
	"image/png": "png",
	"image/gif": "gif",
	"image/webp": "webp",
	"image/avif": "avif",
};

/**
 * Serves the bytes a verified signed URL names, without D1: the key follows from owner and id,
 * and the object's own etag must still be the signed one (a replaced or deleted image is
 * "missing"). The stored filename lives in D1, so the download is named after the id.
 */
export async function downloadLinkedImage(
	bucket: R2Bucket,
	link: ImageLink,
	requestHeaders: Headers,
	now = Date.now(),
): Promise<DownloadResult> {
	const key = imageKey(link.ownerId, link.imageId);
	const head = await bucket.head(key);
	if (!head || head.etag !== link.etag) return { kind: "missing" };
	const secondsLeft = Math.max(0, link.expires - Math.floor(now / 1000));
	const extension = EXTENSIONS[head.httpMetadata?.contentType ?? ""] ?? "bin";
	const result = await downloadObject(bucket, key, requestHeaders, {
		cacheControl: `private, max-age=${secondsLeft}`,
		filename: `${link.imageId}.${extension}`,
		known: { size: head.size, etag: head.etag },
	});
	// Replaced between the head and the read: those bytes were never signed.
	if (result.kind === "response" && result.response.headers.get("ETag") !== quoteEtag(link.etag)) {
		await result.response.body?.cancel();
		return { kind: "missing" };
	}
	return result;
}

/** URL path of an image's metadata, for `Location`. */
export function imagePath(imageId: string): string {
	return `/v1/images/${imageId}`;
}

/** An image of `userId`; another user's image is indistinguishable from a missing one. */
export async function findOwnedImage(db: Database, userId: string, imageId: string): Promise<Image | undefined> {
	return db
		.select()
		.from(images)
		.where(and(eq(images.id, imageId), eq(images.userId, userId)))
		.get();
}

export type SessionImage = { locale: string; image: Image | null };

/**
 * The hot download path in ONE statement: checks that the session is live (revocation is seen at
 * once, as everywhere) and reads the image if that session's user owns it. Null when the session
 * is not live; `image` null when the user has no such image.
 */
export async function findImageInSession(
	db: Database,
	input: { sessionId: string; userId: string; imageId: string },
): Promise<SessionImage | null> {
	const row = await preparedImageInSession(db).get({ ...input, now: Date.now() });
	return row ?? null;
}

// Built once per (primary) database client, bound per download: building drizzle's SQL on every
// request is a measurable share of this route's CPU (see findActiveSession).
const imageInSessionStatements = new WeakMap<Database, ReturnType<typeof imageInSessionStatement>>();

function preparedImageInSession(db: Database) {
	let prepared = imageInSessionStatements.get(db);
	if (!prepared) {
		prepared = imageInSessionStatement(db);
		imageInSessionStatements.set(db, prepared);
	}
	return prepared;
}

function imageInSessionStatement(db: Database) {
	return db
		.select({ locale: users.locale, image: images })
		.from(sessions)
		.innerJoin(users, eq(users.id, sessions.userId))
		.leftJoin(images, and(eq(images.id, sql.placeholder("imageId")), eq(images.userId, sessions.userId)))
		.where(
			and(
				eq(sessions.id, sql.placeholder("sessionId")),
				eq(sessions.userId, sql.placeholder("userId")),
				isNull(sessions.revokedAt),
				gt(sessions.expiresAt, sql.placeholder("now")),
			),
		)
		.prepare();
}

/** Position after which a page continues: the last image of the previous page. */
export type ImageCursor = { createdAt: number; id: string };

/** Opaque page token; clients must not build or read it. */
export function encodeCursor(cursor: ImageCursor): string {
	return btoa(`${cursor.createdAt}.${cursor.id}`).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

/** Reads a page token back; null for anything this server did not hand out. */
export function decodeCursor(token: string): ImageCursor | null {
	let text: string;
	try {
		text = atob(token.replace(/-/g, "+").replace(/_/g, "/"));
	} catch {
		return null;
	}
	const match = /^(\d{1,15})\.([a-z2-7]{1,64})$/.exec(text);
	if (!match?.[1] || !match[2]) return null;
	return { createdAt: Number(match[1]), id: match[2] };
}

/**
 * One page of a user's images, newest first. Keyset pagination on (created_at, id), the order of
 * the images_user_created_idx index, so pages stay stable while images are added or deleted.
 */
export async function listImages(
	db: Database,
	userId: string,
	page: { limit: number; after?: ImageCursor },
): Promise<{ images: Image[]; next: ImageCursor | null }> {
	const after = page.after;
	const rows = await db
		.select()
		.from(images)
		.where(
			and(
				eq(images.userId, userId),
				// A row-value comparison lets SQLite start the index range at the cursor; the equivalent
				// OR of two conditions made it walk every newer image of the user first (npm run scale).
				after ? sql`(${images.createdAt}, ${images.id}) < (${after.createdAt}, ${after.id})` : undefined,
			),
		)
		.orderBy(desc(images.createdAt), desc(images.id))
		.limit(page.limit + 1)
		.all();
	const items = rows.slice(0, page.limit);
	const last = items.at(-1);
	const next = rows.length > page.limit && last ? { createdAt: last.createdAt.getTime(), id: last.id } : null;
	return { images: items, next };
}

/** How long a replacement may hold its quota reservation: far longer than any upload takes. */
export const RESERVATION_MS = 10 * 60 * 1000;

/**
 * SQL: the bytes a user's images count against the quota. An image being replaced counts the
 * larger of its stored bytes and its live reservation (the old bytes are freed by the replacement).
 */
function quotaBytesSql(userId: string, now: number, exceptImageId?: string) {
	return sql`(select coalesce(sum(case when reserved_until > ${now} then max(size, reserved_bytes) else size end), 0)
		from ${images} where user_id = ${userId}${exceptImageId === undefined ? sql`` : sql` and id <> ${exceptImageId}`})`;
}

/**
 * How many images and bytes a user stores (what the quota counts; the avatar is not included).
 * Bytes reserved by replacements in flight count too.
 */
export async function storageUsage(db: Database, userId: string): Promise<{ images: number; bytes: number }> {
	const row = await db
		.select({ images: count(), bytes: sql<number>`${quotaBytesSql(userId, Date.now())}` })
		.from(images)
		.where(eq(images.userId, userId))
		.get();
	return { images: row?.images ?? 0, bytes: Number(row?.bytes ?? 0) };
}

function cleanFilename(name: string | null, fallback: string): string {
	return sanitizeFilename(name ?? "", fallback);
}

/**
 * Stores a new image: checks count quota, type, dimensions, then streams the bytes to R2 (size
 * and byte quota enforced on the way) and records the row last. The row insert re-checks the quota
 * in the same statement, so concurrent uploads cannot together pass it; when it refuses or fails,
 * the object is deleted again.
 */
export async function uploadImage(store: ImageStore, userId: string, source: UploadSource): Promise<Outcome<Image>> {
	const { db, bucket, limits } = store;
	const usage = await storageUsage(db, userId);
	if (usage.images + 1 > limits.quotaImages) return refuse({ reason: "quota_exceeded" });
	const inspected = await inspectUpload(source, limits.maxPixels);
	if (!inspected.ok) return inspected;
	const upload = inspected.value;

	const id = newId();
	const key = imageKey(userId, id);
	const stored = await storeUpload(bucket, key, upload, {
		maxBytes: limits.maxBytes,
		byteBudget: limits.quotaBytes - usage.bytes,
		httpMetadata: { contentType: upload.type },
		customMetadata: objectMetadata(upload, limits.stripMetadata),
		strip: limits.stripMetadata,
	});
	if (!stored.ok) return stored;

	const now = new Date();
	const image: Image = {
		id,
		userId,
		filename: cleanFilename(upload.filename, `image.${upload.ext}`),
		contentType: upload.type,
		size: stored.value.size,
		width: upload.width,
		height: upload.height,
		etag: stored.value.etag,
		sha256: stored.value.sha256,
		metadataStripped: stored.value.stripped,
		reservedBytes: 0,
		reservedUntil: null,
		createdAt: now,
		updatedAt: now,
	};
	let inserted: "inserted" | "over_quota" | "no_user";
	try {
		inserted = await insertWithinQuota(db, image, limits);
	} catch (cause) {
		await deleteObjectQuietly(bucket, key);
		throw cause;
	}
	if (inserted !== "inserted") {
		await deleteObjectQuietly(bucket, key);
		return refuse({ reason: inserted === "no_user" ? "account_gone" : "quota_exceeded" });
	}
	return { ok: true, value: image };
}

/**
 * INSERT ... SELECT ... WHERE <the user still exists and the quota still holds>: the checks and
 * the write are one statement (a user deleted while the bytes streamed is an answer, not a
 * foreign-key failure). Quota counts the bytes that replacements in flight have reserved.
 */
async function insertWithinQuota(
	db: Database,
	image: Image,
	limits: ImageLimits,
): Promise<"inserted" | "over_quota" | "no_user"> {
	const result = await db.run(sql`
		insert into ${images} (id, user_id, filename, content_type, size, width, height, etag, sha256, metadata_stripped, created_at, updated_at)
		select ${image.id}, ${image.userId}, ${image.filename}, ${image.contentType}, ${image.size}, ${image.width},
			${image.height}, ${image.etag}, ${image.sha256}, ${image.metadataStripped ? 1 : 0}, ${image.createdAt.getTime()}, ${image.updatedAt.getTime()}
		where exists (select 1 from ${users} where id = ${image.userId})
			and (select count(*) from ${images} where user_id = ${image.userId}) < ${limits.quotaImages}
			and ${quotaBytesSql(image.userId, Date.now())} + ${image.size} <= ${limits.quotaBytes}
	`);
	if (result.meta.changes === 1) return "inserted";
	const user = await db.select({ id: users.id }).from(users).where(eq(users.id, image.userId)).get();
	return user ? "over_quota" : "no_user";
}

/**
 * The image a replacement targets: the caller's own, with `If-Match` (when sent) matching its
 * current etag. Checked before any of the new body is read.
 */
export async function findReplaceable(
	db: Database,
	userId: string,
	imageId: string,
	ifMatch: string | undefined,
): Promise<Outcome<Image>> {
	const current = await findOwnedImage(db, userId, imageId);
	if (!current) return refuse({ reason: "not_found" });
	if (ifMatch !== undefined && !etagMatches(lenientEntityTags(ifMatch), quoteEtag(current.etag), false)) {
		return refuse({ reason: "precondition_failed" });
	}
	return { ok: true, value: current };
}

/**
 * Replaces an image's bytes under the same id and key (see the consistency note at the top).
 *
 * Quota: the bytes are written in place, so a replacement cannot be undone once its put lands;
 * the quota is therefore settled right BEFORE the put (when the new size is known exactly), by one
 * conditional UPDATE that reserves that size on the row (counted by every quota check, new uploads
 * included) only while the user's other images leave room for it. Parallel
 * replacements are serialized by D1 on that statement and cannot overshoot together. The
 * reservation is released by the final update (or on refusal); one left behind by a crashed
 * request lapses after RESERVATION_MS.
 *
 * The put only lands while the object still holds `current`'s etag, and the row only changes while
 * it still names it, so a concurrent replacement or delete wins cleanly.
 */
export async function replaceImageContent(
	store: ImageStore,
	current: Image,
	source: UploadSource,
): Promise<Outcome<Image>> {
	const { db, bucket, limits } = store;
	const { userId, id: imageId } = current;
	const usage = await storageUsage(db, userId);
	const inspected = await inspectUpload(source, limits.maxPixels);
	if (!inspected.ok) return inspected;
	const upload = inspected.value;

	let reserved = false;
	const release = async () => {
		if (!reserved) return;
		await db
			.update(images)
			.set({ reservedBytes: 0, reservedUntil: null })
			.where(and(eq(images.id, imageId), eq(images.etag, current.etag)))
			.catch((error: unknown) =>
				log("warn", "reservation_release_failed", { imageId, message: error instanceof Error ? error.message : "" }),
			);
	};

	const key = imageKey(userId, imageId);
	let stored: Outcome<StoredObject>;
	try {
		stored = await storeUpload(bucket, key, upload, {
			maxBytes: limits.maxBytes,
			// A first, cheap bound (the old bytes are freed by the replacement); the reservation decides.
			byteBudget: limits.quotaBytes - usage.bytes + current.size,
			httpMetadata: { contentType: upload.type },
			customMetadata: objectMetadata(upload, limits.stripMetadata),
			onlyIf: { etagMatches: current.etag },
			strip: limits.stripMetadata,
			reserve: async (length) => {
				const held = await reserveReplacement(db, current, limits, length);
				reserved = held.ok;
				return held.ok ? null : held.refusal;
			},
		});
	} catch (cause) {
		await release();
		throw cause;
	}
	if (!stored.ok) {
		await release();
		return stored;
	}

	const updated = await db
		.update(images)
		.set({
			filename: upload.filename === null ? current.filename : cleanFilename(upload.filename, current.filename),
			contentType: upload.type,
			size: stored.value.size,
			width: upload.width,
			height: upload.height,
			etag: stored.value.etag,
			sha256: stored.value.sha256,
			metadataStripped: stored.value.stripped,
			reservedBytes: 0,
			reservedUntil: null,
			updatedAt: new Date(),
		})
		.where(and(eq(images.id, imageId), eq(images.userId, userId), eq(images.etag, current.etag)))
		.returning()
		.get();
	if (!updated) {
		// Deleted while the bytes were in flight: the object written for it must not outlive it.
		await deleteObjectQuietly(bucket, key);
		await deleteVariantsQuietly(bucket, userId, imageId);
		return refuse({ reason: "not_found" });
	}
	// Variants of the old bytes are never asked for again (their keys name the old etag).
	await deleteVariantsQuietly(bucket, userId, imageId);
	return { ok: true, value: updated };
}

/**
 * The conditional UPDATE that holds quota for a replacement: the exact length of its new bytes,
 * known right before the put, while the user's other images leave room for it.
 */
async function reserveReplacement(
	db: Database,
	current: Image,
	limits: ImageLimits,
	length: number,
): Promise<Outcome<number>> {
	const now = Date.now();
	const others = quotaBytesSql(current.userId, now, current.id);
	const row = await db.get<{ reserved_bytes: number } | undefined>(sql`
		update ${images} set reserved_bytes = ${length}, reserved_until = ${now + RESERVATION_MS}
		where id = ${current.id} and user_id = ${current.userId} and etag = ${current.etag}
			and (reserved_until is null or reserved_until <= ${now})
			and ${others} + ${length} <= ${limits.quotaBytes}
		returning reserved_bytes
	`);
	if (row) return { ok: true, value: row.reserved_bytes };
	const latest = await findOwnedImage(db, current.userId, current.id);
	if (!latest) return refuse({ reason: "not_found" });
	// Replaced meanwhile, or another replacement of this image is in flight: the etag it named is not current.
	if (latest.etag !== current.etag || (latest.reservedUntil && latest.reservedUntil.getTime() > now)) {
		return refuse({ reason: "precondition_failed" });
	}
	return refuse({ reason: "quota_exceeded" });
}

/** Renames an image (metadata only: names are never part of a key). */
export async function renameImage(
	db: Database,
	userId: string,
	imageId: string,
	filename: string,
): Promise<Image | undefined> {
	return db
		.update(images)
		.set({ filename, updatedAt: new Date() })
		.where(and(eq(images.id, imageId), eq(images.userId, userId)))
		.returning()
		.get();
}

/** Deletes an image: the row first (it disappears at once), then its object. */
export async function deleteImage(db: Database, bucket: R2Bucket, userId: string, imageId: string): Promise<boolean> {
	const deleted = await db
		.delete(images)
		.where(and(eq(images.id, imageId), eq(images.userId, userId)))
		.returning({ id: images.id })
		.get();
	if (!deleted) return false;
	await deleteObjectQuietly(bucket, imageKey(userId, imageId));
	await deleteVariantsQuietly(bucket, userId, imageId);
	return true;
}

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

/** Deletes an image's variants; a failure only leaves work for the sweep. */
async function deleteVariantsQuietly(bucket: R2Bucket, userId: string, imageId: string): Promise<void> {
	try {
		await deleteVariants(bucket, userId, imageId);
	} catch (error) {
		log("warn", "variants_delete_failed", { imageId, message: error instanceof Error ? error.message : String(error) });
	}
}

/** Deletes an object whose row is gone; a failure only leaves work for the sweep. */
async function deleteObjectQuietly(bucket: R2Bucket, key: string): Promise<void> {
	try {
		await bucket.delete(key);
	} catch (error) {
		log("warn", "object_delete_failed", { key, message: error instanceof Error ? error.message : String(error) });
	}
}
