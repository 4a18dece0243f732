import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import { AppError } from "../lib/errors";
import { readConditions } from "../lib/http-conditions";
import { audit } from "../middleware/audit";
import { requireAuth } from "../middleware/auth";
import { AUTH_ERRORS, BEARER, ETAG, OUTAGE, PUBLIC, json, problems } from "../lib/openapi";
import { limitUploadsPerUser } from "../middleware/rate-limit";
import { validationHook } from "../middleware/validate";
import { downloadObject } from "../services/downloads";
import { deleteAvatar, findAvatar, setAvatar } from "../services/avatars";
import { avatarKey } from "../services/storage";
import { presentUser } from "../services/users";
import type { AppEnv } from "../types";
import {
	DOWNLOAD_HEADERS,
	IMAGE_BYTES,
	UPLOAD_BODY,
	UPLOAD_ERRORS,
	downloadHeaders,
	imageStore,
	receiveUpload,
	refusalError,
	uploadQuery,
} from "./shared";

/**
 * Avatars: set and removed by their owner, fetched by anyone. Mounted at the root, before the
 * /v1/me sub-app, so these paths are not swallowed by it.
 */
export const avatarRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

/** A URL carrying the current etag (`?v=`, as avatar_url does) names bytes that never change. */
const VERSIONED_CACHE = "public, max-age=31536000, immutable";
/** A bare URL may start showing a new avatar at any time; caches revalidate with the ETag. */
const UNVERSIONED_CACHE = "public, max-age=300";

const setRoute = createRoute({
	method: "put",
	path: "/v1/me/avatar",
	operationId: "setAvatar",
	summary: "Set your avatar (same body as an image upload)",
	tags: ["avatars"],
	...BEARER,
	middleware: [requireAuth(), limitUploadsPerUser()] as const,
	request: { query: uploadQuery, body: UPLOAD_BODY },
	responses: {
		200: json("The new avatar URL", z.object({ avatar_url: z.url() })),
		...problems(...UPLOAD_ERRORS),
	},
});

avatarRoutes.openapi(setRoute, async (c) => {
	const source = await receiveUpload(c, c.req.valid("query").filename);
	const { user, providers } = c.get("auth");
	const result = await setAvatar(imageStore(c), user, source);
	if (!result.ok) throw refusalError(c, result.refusal, "avatar_not_found");
	const avatarUrl = presentUser(result.value, providers, c.get("deps").config.appUrl).avatar_url;
	if (!avatarUrl) throw new AppError("avatar_not_found");
	return c.json({ avatar_url: avatarUrl }, 200);
});

const deleteRoute = createRoute({
	method: "delete",
	path: "/v1/me/avatar",
	operationId: "deleteAvatar",
	summary: "Remove your avatar",
	tags: ["avatars"],
	...BEARER,
	middleware: [requireAuth()] as const,
	responses: {
		204: { description: "Removed" },
		...problems("avatar_not_found", ...AUTH_ERRORS, OUTAGE),
	},
});

avatarRoutes.openapi(deleteRoute, async (c) => {
	const deleted = await deleteAvatar(c.get("deps").db, c.get("deps").bucket, c.get("auth").user.id);
	if (!deleted) throw new AppError("avatar_not_found");
	audit(c, "avatar_deleted", c.get("auth").user.id);
	return c.body(null, 204);
});

const getRoute = createRoute({
	method: "get",
	path: "/v1/users/{id}/avatar",
	operationId: "getAvatar",
	summary: "A user's avatar (public, cacheable)",
	tags: ["avatars"],
	...PUBLIC,
	request: {
		params: z.object({ id: z.string().meta({ param: { name: "id", in: "path" }, description: "The user's id" }) }),
		query: z.object({
			v: z.string().optional().meta({ description: "The avatar's etag, as in avatar_url: cached for a year" }),
		}),
		headers: downloadHeaders.pick({ "if-none-match": true }),
	},
	responses: {
		200: { description: "The bytes", headers: DOWNLOAD_HEADERS, content: IMAGE_BYTES },
		304: { description: "Not modified (If-None-Match matched)", headers: ETAG },
		...problems("avatar_not_found", OUTAGE),
	},
});

avatarRoutes.openapi(getRoute, async (c) => {
	const userId = c.req.valid("param").id;
	const avatar = await findAvatar(c.get("deps").dbRead, userId);
	if (!avatar) throw new AppError("avatar_not_found");
	const versioned = c.req.valid("query").v === avatar.etag;
	const result = await downloadObject(c.get("deps").bucket, avatarKey(userId), readConditions(c.req.raw.headers), {
		cacheControl: versioned ? VERSIONED_CACHE : UNVERSIONED_CACHE,
		filename: `avatar.${avatar.contentType.slice("image/".length)}`,
	});
	if (result.kind !== "response") throw new AppError("avatar_not_found");
	// Avatars are public by design: other sites may show them in <img>.
	result.response.headers.set("Cross-Origin-Resource-Policy", "cross-origin");
	return result.response;
});
