import type { Context } from "hono";
import { z } from "zod";
import { AppError, fieldError } from "../lib/errors";
import { formatBytes } from "../lib/i18n";
import { AUTH_ERRORS, type DocumentedError, ETAG, OUTAGE } from "../lib/openapi";
import { decodeCursor } from "../lib/cursors";
import { type ImageStore, imageLimits } from "../services/images";
import { getProvider, type OAuthProvider } from "../services/oauth";
import { openUpload } from "../middleware/upload-body";
import type { Refusal, UploadSource } from "../services/uploads";
import type { AppEnv } from "../types";

// Helpers shared by route modules (one place, so no route module imports another): the provider
// and redirect checks of the OAuth routes, and the upload and download pieces that images and
// avatars both document and use.

/** The enabled provider named in the path, or 404 `provider_not_found`. */
export function requireProvider(c: Context<AppEnv>, id: string): OAuthProvider {
	const provider = getProvider(c.get("deps").config, id);
	if (!provider) throw new AppError("provider_not_found");
	return provider;
}

/** Exact-match allowlist (no prefixes, no patterns): an open redirect would hand login codes to anyone. */
export function allowedRedirectUri(c: Context<AppEnv>, redirectUri: string | undefined): string | null {
	if (redirectUri === undefined) return null;
	if (!c.get("deps").config.OAUTH_REDIRECT_URIS.includes(redirectUri)) throw new AppError("redirect_uri_not_allowed");
	return redirectUri;
}

/** The stored bytes, in the type they were sniffed as. */
export const IMAGE_BYTES = { "image/*": { schema: { type: "string" as const, format: "binary" } } };

/** Headers of a download (the JSON error headers aside). */
export const DOWNLOAD_HEADERS = {
	...ETAG,
	"Cache-Control": { description: "How long and where the bytes may be cached", schema: { type: "string" as const } },
	"Accept-Ranges": { description: "`bytes`", schema: { type: "string" as const } },
	"Content-Disposition": { description: "inline, with the stored filename", schema: { type: "string" as const } },
};

/** Conditional and partial downloads (documented only: any value is accepted, odd ones are ignored). */
export const downloadHeaders = z.object({
	"if-none-match": z.string().optional().meta({ description: "An ETag seen before: 304 while it still matches" }),
	range: z.string().optional().meta({ description: "One byte range, e.g. bytes=0-1023" }),
});

/** `?filename=` names a raw upload (a multipart part names itself). */
export const uploadQuery = z.object({
	filename: z.string().max(1024).optional().meta({ description: "Names a raw upload (a multipart part names itself)" }),
});

/**
 * An upload body: the multipart field `image`, or the raw bytes with an image Content-Type. Plain
 * OpenAPI schemas on purpose: a zod schema here would make the library parse the body, which the
 * upload service streams itself, within MAX_IMAGE_BYTES.
 */
export const UPLOAD_BODY = {
	required: true,
	content: {
		"multipart/form-data": {
			schema: {
				type: "object" as const,
				required: ["image"],
				properties: { image: { type: "string" as const, format: "binary", description: "The image file" } },
			},
		},
		"image/*": { schema: { type: "string" as const, format: "binary" } },
	},
};

/** What any upload (new image, replacement, avatar) can be refused with. */
export const UPLOAD_ERRORS: DocumentedError[] = [
	"validation_failed",
	"image_too_large",
	"unsupported_image_type",
	"image_dimensions_too_large",
	"rate_limited",
	...AUTH_ERRORS,
	OUTAGE,
];

/** Storage and limits of this deployment, for the image services. */
export function imageStore(c: Context<AppEnv>): ImageStore {
	return { db: c.get("deps").db, bucket: c.get("deps").bucket, limits: imageLimits(c.get("deps").config) };
}

/**
 * Opens the request body as an upload, enforcing MAX_IMAGE_BYTES from Content-Length before
 * reading and while reading (the JSON body limit of the app does not cover image routes).
 */
export async function receiveUpload(c: Context<AppEnv>, filename: string | undefined): Promise<UploadSource> {
	const opened = await openUpload(c.req.raw, c.get("deps").config.MAX_IMAGE_BYTES, filename);
	if (!opened.ok) throw refusalError(c, opened.refusal, "image_not_found");
	return opened.value;
}

/** The problem an upload refusal is reported as. */
export function refusalError(
	c: Context<AppEnv>,
	refusal: Refusal,
	notFound: "image_not_found" | "avatar_not_found",
): AppError {
	switch (refusal.reason) {
		case "too_large":
			return new AppError("image_too_large", { params: { limit: formatBytes(c.get("lang"), refusal.limit) } });
		case "unsupported_type":
			return new AppError("unsupported_image_type");
		case "dimensions_too_large":
			return new AppError("image_dimensions_too_large", { params: { limit: refusal.limit } });
		case "quota_exceeded":
			return new AppError("quota_exceeded");
		case "precondition_failed":
			return new AppError("precondition_failed");
		case "not_found":
			return new AppError(notFound);
		case "account_gone":
			return new AppError("unauthorized");
		case "client_gone":
			return fieldError("", "incomplete_body");
		case "invalid_form": {
			const code = refusal.field ? "required" : "invalid_multipart";
			return fieldError(refusal.field, code);
		}
	}
}

/** `?cursor=` of a keyset page (the last item's time and id, as next_cursor gave it); 400 when malformed. */
export const pageCursor = z
	.string()
	.max(200)
	.transform((token, ctx) => {
		const cursor = decodeCursor(token);
		if (!cursor) {
			ctx.addIssue({ code: "custom", params: { code: "invalid_cursor" }, message: "invalid cursor" });
			return z.NEVER;
		}
		return cursor;
	})
	.optional();
