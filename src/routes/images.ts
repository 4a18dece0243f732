import type { Context } from "hono";
import { Hono } from "hono";
import { z } from "zod";
import { AppError } from "../lib/errors";
import { sanitizeFilename } from "../lib/http-file";
import { formatBytes } from "../lib/i18n";
import { audit } from "../middleware/audit";
import { requireAuth, verifyBearer } from "../middleware/auth";
import { preferUserLocale } from "../middleware/language";
import { doc } from "../middleware/doc";
import { limitUploadsPerUser } from "../middleware/rate-limit";
import { validate } from "../middleware/validate";
import { downloadObject } from "../services/downloads";
import {
	type ImageStore,
	decodeCursor,
	deleteImage,
	encodeCursor,
	findImageInSession,
	findOwnedImage,
	findReplaceable,
	imageLimits,
	imagePath,
	listImages,
	presentImage,
	renameImage,
	replaceImageContent,
	uploadImage,
} from "../services/images";
import { imageKey } from "../services/storage";
import { type Refusal, type UploadSource, openUpload } from "../services/uploads";
import type { AppEnv } from "../types";

/**
 * Downloads, the hottest path: authenticated by a single statement that checks the session and
 * reads the image together (`findImageInSession`) instead of the `requireAuth` middleware plus a
 * second query. Mounted before `imageRoutes`, whose middleware would otherwise run first.
 */
export const imageContentRoutes = new Hono<AppEnv>();

imageContentRoutes.get(
	"/:id/content",
	doc({
		summary: "Image bytes (ETag/If-None-Match, single byte ranges)",
		tags: ["images"],
		auth: true,
		responses: { 206: "Partial content", 304: "Not modified", 404: "image_not_found", 416: "range_not_satisfiable" },
	}),
	async (c) => {
		const claims = await verifyBearer(c);
		const found = await findImageInSession(c.get("db"), {
			sessionId: claims.sid,
			userId: claims.sub,
			imageId: c.req.param("id"),
		});
		if (!found) throw new AppError("unauthorized");
		preferUserLocale(c, found.locale);
		const { image } = found;
		if (!image) throw new AppError("image_not_found");
		const result = await downloadObject(c.env.IMAGES, imageKey(claims.sub, image.id), c.req.raw.headers, {
			cacheControl: "private",
			filename: image.filename,
			known: { size: image.size, etag: image.etag },
		});
		if (result.kind === "missing") throw new AppError("image_not_found");
		if (result.kind === "unsatisfiable") {
			throw new AppError("range_not_satisfiable", { headers: { "Content-Range": `bytes */${result.size}` } });
		}
		return result.response;
	},
);

export const imageRoutes = new Hono<AppEnv>();

imageRoutes.use("*", requireAuth());

/** `?filename=` names a raw upload (a multipart part names itself). */
export const uploadQuery = z.object({ filename: z.string().max(1024).optional() });

const listQuery = z.object({
	limit: z.coerce.number().int().min(1).max(100).default(20),
	cursor: z
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
		.optional(),
});

const renameBody = z.object({
	filename: z
		.string()
		.min(1)
		.max(1024)
		.transform((value, ctx) => {
			const name = sanitizeFilename(value, "");
			if (!name) {
				ctx.addIssue({ code: "custom", params: { code: "invalid_filename" }, message: "invalid filename" });
				return z.NEVER;
			}
			return name;
		}),
});

const UPLOAD_ERRORS = {
	400: "validation_failed",
	403: "quota_exceeded",
	413: "image_too_large",
	415: "unsupported_image_type",
	422: "image_dimensions_too_large",
};

imageRoutes.post(
	"/",
	doc({
		summary: "Upload an image (multipart field `image`, or raw bytes with an image Content-Type)",
		tags: ["images"],
		auth: true,
		responses: { 201: "The stored image; Location names it", ...UPLOAD_ERRORS },
	}),
	limitUploadsPerUser(),
	validate("query", uploadQuery),
	async (c) => {
		const source = await receiveUpload(c, c.req.valid("query").filename);
		const result = await uploadImage(imageStore(c), c.get("auth").user.id, source);
		if (!result.ok) throw refusalError(c, result.refusal, "image_not_found");
		const location = new URL(imagePath(result.value.id), c.get("config").appUrl).toString();
		return c.json(presentImage(result.value, c.get("config").appUrl), 201, { Location: location });
	},
);

imageRoutes.get(
	"/",
	doc({ summary: "List your images, newest first", tags: ["images"], auth: true }),
	validate("query", listQuery),
	async (c) => {
		const { limit, cursor } = c.req.valid("query");
		const page = await listImages(c.get("dbRead"), c.get("auth").user.id, { limit, after: cursor });
		const appUrl = c.get("config").appUrl;
		return c.json({
			images: page.images.map((image) => presentImage(image, appUrl)),
			next_cursor: page.next ? encodeCursor(page.next) : null,
		});
	},
);

imageRoutes.get(
	"/:id",
	doc({ summary: "Image metadata", tags: ["images"], auth: true, responses: { 404: "image_not_found" } }),
	async (c) => {
		const image = await findOwnedImage(c.get("dbRead"), c.get("auth").user.id, c.req.param("id"));
		if (!image) throw new AppError("image_not_found");
		return c.json(presentImage(image, c.get("config").appUrl));
	},
);

imageRoutes.put(
	"/:id/content",
	doc({
		summary: "Replace an image's bytes (If-Match honoured)",
		tags: ["images"],
		auth: true,
		responses: {
			200: "The image with its new etag",
			404: "image_not_found",
			412: "precondition_failed",
			...UPLOAD_ERRORS,
		},
	}),
	limitUploadsPerUser(),
	validate("query", uploadQuery),
	async (c) => {
		const userId = c.get("auth").user.id;
		// Ownership and If-Match first: a refused replacement should not cost reading its body.
		const current = await findReplaceable(c.get("db"), userId, c.req.param("id"), c.req.header("If-Match"));
		if (!current.ok) throw refusalError(c, current.refusal, "image_not_found");
		const source = await receiveUpload(c, c.req.valid("query").filename);
		const result = await replaceImageContent(imageStore(c), current.value, source);
		if (!result.ok) throw refusalError(c, result.refusal, "image_not_found");
		return c.json(presentImage(result.value, c.get("config").appUrl));
	},
);

imageRoutes.patch(
	"/:id",
	doc({ summary: "Rename an image", tags: ["images"], auth: true, responses: { 404: "image_not_found" } }),
	validate("json", renameBody),
	async (c) => {
		const image = await renameImage(
			c.get("db"),
			c.get("auth").user.id,
			c.req.param("id"),
			c.req.valid("json").filename,
		);
		if (!image) throw new AppError("image_not_found");
		return c.json(presentImage(image, c.get("config").appUrl));
	},
);

imageRoutes.delete(
	"/:id",
	doc({
		summary: "Delete an image",
		tags: ["images"],
		auth: true,
		responses: { 204: "Deleted", 404: "image_not_found" },
	}),
	async (c) => {
		const deleted = await deleteImage(c.get("db"), c.env.IMAGES, c.get("auth").user.id, c.req.param("id"));
		if (!deleted) throw new AppError("image_not_found");
		audit(c, "image_deleted", c.get("auth").user.id, { image_id: c.req.param("id") });
		return c.body(null, 204);
	},
);

/** Storage and limits of this deployment, for the image services. */
export function imageStore(c: Context<AppEnv>): ImageStore {
	return { db: c.get("db"), bucket: c.env.IMAGES, limits: imageLimits(c.get("config")) };
}

/**
 * Opens the request body as an upload, enforcing MAX_IMAGE_BYTES from Content-Length before
 * reading and while reading (the JSON body limit of the app does not cover image routes).
 */
export async function receiveUpload(c: Context<AppEnv>, filename: string | undefined): Promise<UploadSource> {
	const opened = await openUpload(c.req.raw, c.get("config").MAX_IMAGE_BYTES, filename);
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
		case "invalid_form": {
			const code = refusal.field ? "required" : "invalid_multipart";
			return new AppError("validation_failed", {
				params: { count: 1 },
				issues: [{ path: refusal.field, code, key: `validation.${code}` }],
			});
		}
	}
}
