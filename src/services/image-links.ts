import type { Database } from "../db/client";
import type { Image } from "../db/schema";
import type { Config } from "../config";
import { macKey } from "../lib/encryption";
import type { ReadConditions } from "../lib/http-conditions";
import { type ImageLink, contentUrlExpiry, signImageLink } from "../lib/signed-urls";
import type { VariantParams } from "../lib/variants";
import type { ImageBody } from "../schemas";
import { type DownloadResult, downloadObject } from "./downloads";
import { findOwnedImage, quoteEtag } from "./images";
import { imageKey } from "./storage";

// Signed image URLs: the `content_url` of every image representation, share links, and the
// D1-free download a verified link answers.

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
	conditions: ReadConditions,
	now = Date.now(),
): Promise<DownloadResult> {
	const key = imageKey(link.ownerId, link.imageId);
	const head = await bucket.head(key);
	if (!head || head.etag !== link.etag) return { kind: "missing" };
	const secondsLeft = Math.max(0, link.expires - Math.floor(now / 1000));
	const extension = EXTENSIONS[head.httpMetadata?.contentType ?? ""] ?? "bin";
	const result = await downloadObject(bucket, key, conditions, {
		cacheControl: `private, max-age=${secondsLeft}`,
		filename: `${link.imageId}.${extension}`,
		known: { size: head.size, etag: head.etag },
	});
	// Replaced between the head and the read: those bytes were never signed.
	if (result.kind === "response" && result.etag !== quoteEtag(link.etag)) {
		await result.response.body?.cancel();
		return { kind: "missing" };
	}
	return result;
}
