import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import { AppError, fieldError } from "../lib/errors";
import { audit } from "../middleware/audit";
import { assertFreshToken, requireAuth } from "../middleware/auth";
import { setLanguage } from "../middleware/language";
import { rateLimitKey, rateLimitedError } from "../middleware/rate-limit";
import { validationHook } from "../middleware/validate";
import { AUTH_ERRORS, BEARER, BODY_ERRORS, OUTAGE, json, jsonBody, problems } from "../lib/openapi";
import {
	activityQuery,
	changePasswordBody,
	eventResponse,
	exportResponse,
	meResponse,
	messageResponse,
	patchMeBody,
	userResponse,
} from "../schemas";
import { z } from "zod";
import { deleteAccount } from "../services/account-deletion";
import { listEvents, presentEvent } from "../services/audit";
import { exportUserData } from "../services/export";
import { contentLinks } from "../services/image-links";
import { changePassword } from "../services/passwords";
import { presentUser, updateProfile } from "../services/users";
import type { AppEnv } from "../types";

export const meRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

meRoutes.use("*", requireAuth());

const getMeRoute = createRoute({
	method: "get",
	path: "/",
	operationId: "getMe",
	summary: "The signed-in user",
	tags: ["accounts"],
	...BEARER,
	responses: { 200: json("The user and their second factors", meResponse), ...problems(...AUTH_ERRORS, OUTAGE) },
});

meRoutes.openapi(getMeRoute, (c) => {
	const { user, providers, mfa } = c.get("auth");
	return c.json({ ...presentUser(user, providers, c.get("deps").config.appUrl), mfa }, 200);
});

const patchMeRoute = createRoute({
	method: "patch",
	path: "/",
	operationId: "updateMe",
	summary: "Update name or locale",
	tags: ["accounts"],
	...BEARER,
	request: { body: jsonBody(patchMeBody) },
	responses: {
		200: json("The updated user (answered in the new locale unless ?lang= forces one)", userResponse),
		...problems(...BODY_ERRORS, ...AUTH_ERRORS, OUTAGE),
	},
});

meRoutes.openapi(patchMeRoute, async (c) => {
	const { user, providers } = c.get("auth");
	const changes = c.req.valid("json");
	const updated = await updateProfile(c.get("deps").db, user.id, changes);
	// Answer in the newly chosen language unless the caller forced one with ?lang=.
	if (changes.locale && c.get("langSource") !== "query") setLanguage(c, changes.locale, "user");
	return c.json(presentUser(updated, providers, c.get("deps").config.appUrl), 200);
});

const deleteMeRoute = createRoute({
	method: "delete",
	path: "/",
	operationId: "deleteMe",
	summary: "Delete the account and everything it owns (fresh token)",
	tags: ["accounts"],
	...BEARER,
	responses: {
		204: { description: "Deleted, images included" },
		...problems(...AUTH_ERRORS, "fresh_token_required", "payload_too_large", OUTAGE),
	},
});

meRoutes.openapi(deleteMeRoute, async (c) => {
	assertFreshToken(c);
	await deleteAccount(c.get("deps").db, c.get("deps").bucket, c.get("events"), c.get("auth").user.id);
	return c.body(null, 204);
});

const changePasswordRoute = createRoute({
	method: "put",
	path: "/password",
	operationId: "changePassword",
	summary: "Change or set the password (fresh token); other sessions are revoked",
	tags: ["accounts"],
	...BEARER,
	request: { body: jsonBody(changePasswordBody) },
	responses: {
		200: json("Changed", messageResponse),
		...problems(...BODY_ERRORS, ...AUTH_ERRORS, "fresh_token_required", "invalid_credentials", "rate_limited", OUTAGE),
	},
});

meRoutes.openapi(changePasswordRoute, async (c) => {
	assertFreshToken(c);
	const { user, session } = c.get("auth");
	const body = c.req.valid("json");
	const result = await changePassword(
		c.get("deps").db,
		c.get("events"),
		{
			user,
			keepSessionId: session.id,
			currentPassword: body.current_password,
			newPassword: body.new_password,
			failures: {
				key: rateLimitKey("login_account", user.email),
				rule: c.get("deps").config.RATE_LIMIT_LOGIN_ACCOUNT,
			},
		},
		c.get("deps").config.PASSWORD_SCRYPT,
	);
	if (!result.ok) {
		if (result.reason === "rate_limited") throw rateLimitedError(result.retryAfterSeconds);
		if (result.reason === "invalid_credentials") {
			audit(c, "password_change_failed", user.id);
			throw new AppError("invalid_credentials");
		}
		throw fieldError(result.reason === "password_equals_email" ? "new_password" : "current_password", result.reason);
	}
	audit(c, "password_changed", user.id, { first_password: !user.passwordHash });
	return c.json({ message: c.get("t")("messages.password_changed") }, 200);
});

const activityRoute = createRoute({
	method: "get",
	path: "/activity",
	operationId: "listActivity",
	summary: "Your recent security events, newest first",
	tags: ["accounts"],
	...BEARER,
	request: { query: activityQuery },
	responses: {
		200: json("Events", z.object({ events: z.array(eventResponse) })),
		...problems("validation_failed", ...AUTH_ERRORS, OUTAGE),
	},
});

meRoutes.openapi(activityRoute, async (c) => {
	const events = await listEvents(c.get("deps").dbRead, c.get("auth").user.id, c.req.valid("query").limit);
	return c.json({ events: events.map(presentEvent) }, 200, { "Cache-Control": "no-store" });
});

const exportRoute = createRoute({
	method: "get",
	path: "/export",
	operationId: "exportMe",
	summary: "Download everything stored about you (JSON attachment)",
	tags: ["accounts"],
	...BEARER,
	responses: {
		200: json("The export", exportResponse, {
			"Content-Disposition": {
				description: "attachment; filename=atrium-export-<date>.json",
				schema: { type: "string" },
			},
		}),
		...problems(...AUTH_ERRORS, OUTAGE),
	},
});

meRoutes.openapi(exportRoute, async (c) => {
	const data = await exportUserData(
		c.get("deps").dbRead,
		c.get("deps").bucket,
		c.get("auth").user,
		await contentLinks(c.get("deps").config),
	);
	const filename = `atrium-export-${data.exported_at.slice(0, 10)}.json`;
	return c.json(data, 200, {
		"Content-Disposition": `attachment; filename="${filename}"`,
		"Cache-Control": "no-store",
	});
});
