import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import { macKey } from "../lib/encryption";
import { AppError } from "../lib/errors";
import { sanitizeFilename } from "../lib/http-file";
import { audit } from "../middleware/audit";
import { requireAuth, verifyBearer } from "../middleware/auth";
import { preferUserLocale } from "../middleware/language";
import {
	AUTH_ERRORS,
	BEARER,
	BODY_ERRORS,
	PUBLIC,
	ETAG,
	LOCATION,
	OUTAGE,
	json,
	jsonBody,
	problems,
} from "../lib/openapi";
import { limitUploadsPerUser } from "../middleware/rate-limit";
import { validationHook } from "../middleware/validate";
import { verifyImageLink } from "../lib/signed-urls";
import { variantOf } from "../lib/variants";
import { imageLinkBody, imageLinkResponse, imageListResponse, imageResponse, variantQuery } from "../schemas";
import { discardStarted, downloadObject, plainGet } from "../services/downloads";
import {
	contentLinks,
	createImageLink,
	downloadLinkedImage,
	SHARE_LINK_SECONDS,
	deleteImage,
	encodeCursor,
	findImageInSession,
	findOwnedImage,
	findReplaceable,
	imagePath,
	listImages,
	presentImage,
	renameImage,
	replaceImageContent,
	uploadImage,
} from "../services/images";
import { imageKey } from "../services/storage";
import { imagesTransformer, serveVariant } from "../services/variants";
import type { AppEnv } from "../types";
import {
	DOWNLOAD_HEADERS,
	IMAGE_BYTES,
	UPLOAD_BODY,
	UPLOAD_ERRORS,
	downloadHeaders,
	imageStore,
	pageCursor,
	receiveUpload,
	refusalError,
	uploadQuery,
} from "./shared";

/**
 * Downloads, the hottest path: authenticated by a single statement that checks the session and
 * reads the image together (`findImageInSession`) instead of the `requireAuth` middleware plus a
 * second query. Mounted before `imageRoutes`, whose middleware would otherwise run first.
 */
export const imageContentRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

/** `{id}` in image paths: not validated beyond being a path segment (an unknown id is simply not found). */
export const idParam = z.object({
	id: z.string().meta({ param: { name: "id", in: "path" }, example: "01JH0000000000000000000000" }),
});

/** One byte range of the stored bytes (Range: bytes=a-b). */
export const PARTIAL_CONTENT = {
	description: "One byte range (Range: bytes=a-b)",
	headers: {
		...DOWNLOAD_HEADERS,
		"Content-Range": { description: "`bytes a-b/size`", schema: { type: "string" as const } },
	},
	content: IMAGE_BYTES,
};

const downloadRoute = createRoute({
	method: "get",
	path: "/{id}/content",
	operationId: "getImageContent",
	summary: "Image bytes (ETag/If-None-Match, single byte ranges), or one variant (?w=&h=&fit=&format=)",
	description:
		"With any of w, h, fit, format: a variant made with Cloudflare Images, stored in R2 on first request " +
		"(at least 16 per image), with its own ETag; Range does not apply to variants.",
	tags: ["images"],
	...BEARER,
	request: { params: idParam, headers: downloadHeaders, query: variantQuery },
	responses: {
		200: { description: "The bytes", headers: DOWNLOAD_HEADERS, content: IMAGE_BYTES },
		206: PARTIAL_CONTENT,
		304: { description: "Not modified (If-None-Match matched)", headers: ETAG },
		...problems(
			"validation_failed",
			"image_not_found",
			"range_not_satisfiable",
			"unsupported_image_type",
			...AUTH_ERRORS,
			OUTAGE,
		),
	},
});

imageContentRoutes.openapi(downloadRoute, async (c) => {
	const claims = await verifyBearer(c);
	const imageId = c.req.valid("param").id;
	const variant = variantOf(c.req.valid("query"));
	// The key follows from the verified token, so a plain download reads R2 while D1 checks the
	// session and the row; the bytes are only answered once both say yes, else dropped unread.
	const started = !variant && plainGet(c.req.raw.headers) ? c.env.IMAGES.get(imageKey(claims.sub, imageId)) : undefined;
	const found = await findImageInSession(c.get("db"), { sessionId: claims.sid, userId: claims.sub, imageId });
	if (!found?.image) discardStarted(started);
	if (!found) throw new AppError("unauthorized");
	preferUserLocale(c, found.locale);
	const { image } = found;
	if (!image) throw new AppError("image_not_found");
	if (variant) {
		const made = await serveVariant(
			c.env.IMAGES,
			imagesTransformer(c.env.IMAGE_TRANSFORMS),
			{ userId: claims.sub, imageId: image.id, etag: image.etag, filename: image.filename },
			variant,
			c.req.raw.headers,
			{ cacheControl: "private", maxBytes: c.get("config").MAX_IMAGE_BYTES },
		);
		if (made.kind === "missing") throw new AppError("image_not_found");
		// Only the Images binding decodes pixels: bytes that passed the upload checks can still fail it.
		if (made.kind === "untransformable") throw new AppError("unsupported_image_type");
		return made.response;
	}
	const result = await downloadObject(c.env.IMAGES, imageKey(claims.sub, image.id), c.req.raw.headers, {
		cacheControl: "private",
		filename: image.filename,
		known: { size: image.size, etag: image.etag },
		started,
	});
	if (result.kind === "missing") throw new AppError("image_not_found");
	if (result.kind === "unsatisfiable") {
		throw new AppError("range_not_satisfiable", { headers: { "Content-Range": `bytes */${result.size}` } });
	}
	return result.response;
});

/** The query of a signed URL (src/lib/signed-urls.ts); checked by its signature, not by a schema. */
const signedQuery = z.object({
	o: z.string().optional().meta({ description: "Owner (signed)" }),
	t: z.string().optional().meta({ description: "Etag of the signed bytes (signed)" }),
	e: z.string().optional().meta({ description: "Expiry, Unix seconds (signed)" }),
	s: z.string().optional().meta({ description: "HMAC-SHA-256 signature, base64url" }),
	w: z.string().optional().meta({ description: "Variant width (signed)" }),
	h: z.string().optional().meta({ description: "Variant height (signed)" }),
	fit: z.string().optional().meta({ description: "Variant fit (signed)" }),
	format: z.string().optional().meta({ description: "Variant format (signed)" }),
});

const sharedRoute = createRoute({
	method: "get",
	path: "/{id}/shared",
	operationId: "getSharedImageContent",
	summary: "Image bytes through a signed URL (content_url, share links): no Authorization",
	description:
		"Needs no database read: the signature vouches for owner and etag, R2 for the bytes. Any parameter " +
		"outside the signature makes the URL invalid; the signature is checked before the expiry.",
	tags: ["images"],
	...PUBLIC,
	request: { params: idParam, query: signedQuery },
	responses: {
		200: { description: "The bytes", headers: DOWNLOAD_HEADERS, content: IMAGE_BYTES },
		206: PARTIAL_CONTENT,
		304: { description: "Not modified (If-None-Match matched)", headers: ETAG },
		...problems(
			"link_invalid",
			"link_expired",
			"image_not_found",
			"range_not_satisfiable",
			"unsupported_image_type",
			OUTAGE,
		),
	},
});

imageContentRoutes.openapi(
	sharedRoute,
	async (c) => {
		const key = await macKey(c.get("config").ENCRYPTION_KEY, "signed-image-url");
		const { id } = c.req.valid("param");
		const now = Date.now();
		const verdict = await verifyImageLink(key, id, new URL(c.req.url).searchParams, now);
		if (!verdict.ok) throw new AppError(verdict.reason === "expired" ? "link_expired" : "link_invalid");
		const { link } = verdict;
		if (link.variant) {
			const made = await serveVariant(
				c.env.IMAGES,
				imagesTransformer(c.env.IMAGE_TRANSFORMS),
				{ userId: link.ownerId, imageId: id, etag: link.etag, filename: `${id}.${link.variant.format}` },
				link.variant,
				c.req.raw.headers,
				{
					cacheControl: `private, max-age=${Math.max(0, link.expires - Math.floor(now / 1000))}`,
					maxBytes: c.get("config").MAX_IMAGE_BYTES,
				},
			);
			if (made.kind === "missing") throw new AppError("image_not_found");
			if (made.kind === "untransformable") throw new AppError("unsupported_image_type");
			made.response.headers.set("Referrer-Policy", "no-referrer");
			made.response.headers.set("Cross-Origin-Resource-Policy", "cross-origin");
			return made.response;
		}
		const result = await downloadLinkedImage(c.env.IMAGES, verdict.link, c.req.raw.headers, now);
		if (result.kind === "missing") throw new AppError("image_not_found");
		if (result.kind === "unsatisfiable") {
			throw new AppError("range_not_satisfiable", { headers: { "Content-Range": `bytes */${result.size}` } });
		}
		// The URL is the credential: it must not leak through a Referer, and it is meant for <img> on any site.
		result.response.headers.set("Referrer-Policy", "no-referrer");
		result.response.headers.set("Cross-Origin-Resource-Policy", "cross-origin");
		return result.response;
	},
	// A query that does not even parse (a parameter given twice) is a tampered URL, not a bad request.
	(result) => {
		if (!result.success) throw new AppError("link_invalid");
		return undefined;
	},
);

export const imageRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

imageRoutes.use("*", requireAuth());

const listQuery = z.object({
	limit: z.coerce.number().int().min(1).max(100).default(20),
	cursor: pageCursor,
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

const uploadRoute = createRoute({
	method: "post",
	path: "/",
	operationId: "uploadImage",
	summary: "Upload an image (multipart field `image`, or raw bytes with an image Content-Type)",
	tags: ["images"],
	...BEARER,
	middleware: [limitUploadsPerUser()] as const,
	request: { query: uploadQuery, body: UPLOAD_BODY },
	responses: {
		201: json("The stored image", imageResponse, LOCATION),
		...problems(...UPLOAD_ERRORS, "quota_exceeded"),
	},
});

imageRoutes.openapi(uploadRoute, async (c) => {
	const source = await receiveUpload(c, c.req.valid("query").filename);
	const result = await uploadImage(imageStore(c), c.get("auth").user.id, source);
	if (!result.ok) throw refusalError(c, result.refusal, "image_not_found");
	const location = new URL(imagePath(result.value.id), c.get("config").appUrl).toString();
	return c.json(await presentImage(result.value, await contentLinks(c.get("config"))), 201, { Location: location });
});

const listRoute = createRoute({
	method: "get",
	path: "/",
	operationId: "listImages",
	summary: "List your images, newest first",
	tags: ["images"],
	...BEARER,
	request: { query: listQuery },
	responses: {
		200: json("One page; pass next_cursor as ?cursor= for the next", imageListResponse),
		...problems("validation_failed", ...AUTH_ERRORS, OUTAGE),
	},
});

imageRoutes.openapi(listRoute, async (c) => {
	const { limit, cursor } = c.req.valid("query");
	const page = await listImages(c.get("dbRead"), c.get("auth").user.id, { limit, after: cursor });
	const links = await contentLinks(c.get("config"));
	return c.json(
		{
			images: await Promise.all(page.images.map((image) => presentImage(image, links))),
			next_cursor: page.next ? encodeCursor(page.next) : null,
		},
		200,
	);
});

const getRoute = createRoute({
	method: "get",
	path: "/{id}",
	operationId: "getImage",
	summary: "Image metadata",
	tags: ["images"],
	...BEARER,
	request: { params: idParam },
	responses: {
		200: json("The image", imageResponse),
		...problems("image_not_found", ...AUTH_ERRORS, OUTAGE),
	},
});

imageRoutes.openapi(getRoute, async (c) => {
	const image = await findOwnedImage(c.get("dbRead"), c.get("auth").user.id, c.req.valid("param").id);
	if (!image) throw new AppError("image_not_found");
	return c.json(await presentImage(image, await contentLinks(c.get("config"))), 200);
});

const replaceRoute = createRoute({
	method: "put",
	path: "/{id}/content",
	operationId: "replaceImageContent",
	summary: "Replace an image's bytes (If-Match honoured)",
	tags: ["images"],
	...BEARER,
	middleware: [limitUploadsPerUser()] as const,
	request: {
		params: idParam,
		query: uploadQuery,
		headers: z.object({
			"if-match": z.string().optional().meta({ description: "Replace only if the current etag matches" }),
		}),
		body: UPLOAD_BODY,
	},
	responses: {
		200: json("The image with its new etag", imageResponse),
		...problems(...UPLOAD_ERRORS, "quota_exceeded", "image_not_found", "precondition_failed"),
	},
});

imageRoutes.openapi(replaceRoute, async (c) => {
	const userId = c.get("auth").user.id;
	// Ownership and If-Match first: a refused replacement should not cost reading its body.
	const current = await findReplaceable(c.get("db"), userId, c.req.valid("param").id, c.req.header("If-Match"));
	if (!current.ok) throw refusalError(c, current.refusal, "image_not_found");
	const source = await receiveUpload(c, c.req.valid("query").filename);
	const result = await replaceImageContent(imageStore(c), current.value, source);
	if (!result.ok) throw refusalError(c, result.refusal, "image_not_found");
	return c.json(await presentImage(result.value, await contentLinks(c.get("config"))), 200);
});

const renameRoute = createRoute({
	method: "patch",
	path: "/{id}",
	operationId: "renameImage",
	summary: "Rename an image",
	tags: ["images"],
	...BEARER,
	request: { params: idParam, body: jsonBody(renameBody) },
	responses: {
		200: json("The renamed image", imageResponse),
		...problems(...BODY_ERRORS, "image_not_found", ...AUTH_ERRORS, OUTAGE),
	},
});

imageRoutes.openapi(renameRoute, async (c) => {
	const { id } = c.req.valid("param");
	const image = await renameImage(c.get("db"), c.get("auth").user.id, id, c.req.valid("json").filename);
	if (!image) throw new AppError("image_not_found");
	return c.json(await presentImage(image, await contentLinks(c.get("config"))), 200);
});

const linkRoute = createRoute({
	method: "post",
	path: "/{id}/links",
	operationId: "createImageLink",
	summary: "A share link of an image's bytes: works without Authorization until it expires",
	tags: ["images"],
	...BEARER,
	request: {
		params: idParam,
		// Optional: no body (or no Content-Type) reads as {}.
		body: { required: false, content: { "application/json": { schema: imageLinkBody } } },
	},
	responses: {
		201: json("The link and when it stops working", imageLinkResponse),
		...problems(...BODY_ERRORS, "image_not_found", ...AUTH_ERRORS, OUTAGE),
	},
});

imageRoutes.openapi(linkRoute, async (c) => {
	// No body (or no Content-Type) reads as {}, which the schema's default does not reach.
	const body = c.req.valid("json");
	const expiresIn = body.expires_in ?? SHARE_LINK_SECONDS.default;
	const link = await createImageLink(c.get("db"), await contentLinks(c.get("config")), {
		userId: c.get("auth").user.id,
		imageId: c.req.valid("param").id,
		seconds: expiresIn,
		variant: variantOf(body),
	});
	if (!link) throw new AppError("image_not_found");
	return c.json({ url: link.url, expires_at: link.expiresAt.toISOString() }, 201);
});

const deleteRoute = createRoute({
	method: "delete",
	path: "/{id}",
	operationId: "deleteImage",
	summary: "Delete an image",
	tags: ["images"],
	...BEARER,
	request: { params: idParam },
	responses: {
		204: { description: "Deleted, bytes included" },
		...problems("image_not_found", ...AUTH_ERRORS, OUTAGE),
	},
});

imageRoutes.openapi(deleteRoute, async (c) => {
	const { id } = c.req.valid("param");
	const deleted = await deleteImage(c.get("db"), c.env.IMAGES, c.get("auth").user.id, id);
	if (!deleted) throw new AppError("image_not_found");
	audit(c, "image_deleted", c.get("auth").user.id, { image_id: id });
	return c.body(null, 204);
});
