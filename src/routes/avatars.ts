import { Hono } from "hono";
import { AppError } from "../lib/errors";
import { audit } from "../middleware/audit";
import { requireAuth } from "../middleware/auth";
import { doc } from "../middleware/doc";
import { limitUploadsPerUser } from "../middleware/rate-limit";
import { validate } from "../middleware/validate";
import { downloadObject } from "../services/downloads";
import { deleteAvatar, findAvatar, setAvatar } from "../services/images";
import { avatarKey } from "../services/storage";
import { presentUser } from "../services/users";
import type { AppEnv } from "../types";
import { imageStore, receiveUpload, refusalError, uploadQuery } from "./images";

/**
 * Avatars: set and removed by their owner, fetched by anyone. Mounted at the root, before the
 * /v1/me sub-app, so these paths are not swallowed by it.
 */
export const avatarRoutes = new Hono<AppEnv>();

/** A URL carrying the current etag (`?v=`, as avatar_url does) names bytes that never change. */
const VERSIONED_CACHE = "public, max-age=31536000, immutable";
/** A bare URL may start showing a new avatar at any time; caches revalidate with the ETag. */
const UNVERSIONED_CACHE = "public, max-age=300";

avatarRoutes.put(
	"/v1/me/avatar",
	doc({
		summary: "Set your avatar (same body as an image upload)",
		tags: ["avatars"],
		auth: true,
		responses: {
			200: "{avatar_url}",
			400: "validation_failed",
			413: "image_too_large",
			415: "unsupported_image_type",
			422: "image_dimensions_too_large",
		},
	}),
	requireAuth(),
	limitUploadsPerUser(),
	validate("query", uploadQuery),
	async (c) => {
		const source = await receiveUpload(c, c.req.valid("query").filename);
		const { user, providers } = c.get("auth");
		const result = await setAvatar(imageStore(c), user, source);
		if (!result.ok) throw refusalError(c, result.refusal, "avatar_not_found");
		return c.json({ avatar_url: presentUser(result.value, providers, c.get("config").appUrl).avatar_url });
	},
);

avatarRoutes.delete(
	"/v1/me/avatar",
	doc({
		summary: "Remove your avatar",
		tags: ["avatars"],
		auth: true,
		responses: { 204: "Removed", 404: "avatar_not_found" },
	}),
	requireAuth(),
	async (c) => {
		const deleted = await deleteAvatar(c.get("db"), c.env.IMAGES, c.get("auth").user.id);
		if (!deleted) throw new AppError("avatar_not_found");
		audit(c, "avatar_deleted", c.get("auth").user.id);
		return c.body(null, 204);
	},
);

avatarRoutes.get(
	"/v1/users/:id/avatar",
	doc({
		summary: "A user's avatar (public, cacheable)",
		tags: ["avatars"],
		responses: { 304: "Not modified", 404: "avatar_not_found" },
	}),
	async (c) => {
		const userId = c.req.param("id");
		const avatar = await findAvatar(c.get("dbRead"), userId);
		if (!avatar) throw new AppError("avatar_not_found");
		const versioned = c.req.query("v") === avatar.etag;
		const result = await downloadObject(c.env.IMAGES, avatarKey(userId), c.req.raw.headers, {
			cacheControl: versioned ? VERSIONED_CACHE : UNVERSIONED_CACHE,
			filename: `avatar.${avatar.contentType.slice("image/".length)}`,
		});
		if (result.kind !== "response") throw new AppError("avatar_not_found");
		// Avatars are public by design: other sites may show them in <img>.
		result.response.headers.set("Cross-Origin-Resource-Policy", "cross-origin");
		return result.response;
	},
);
