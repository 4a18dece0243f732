import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import { z } from "zod";
import { AppError } from "../lib/errors";
import { ADMIN_KEY, type DocumentedError, OUTAGE, json, problems } from "../lib/openapi";
import { requireAdminKey } from "../middleware/admin-auth";
import { validationHook } from "../middleware/validate";
import { adminUserListResponse, adminUserParam, adminUserResponse } from "../schemas";
import { deleteAccount } from "../services/account-deletion";
import {
	disableUser,
	enableUser,
	findAdminUser,
	listUsers,
	presentAdminUser,
	revokeSessionsAsAdmin,
	userExists,
} from "../services/admin";
import { encodeCursor } from "../lib/cursors";
import type { AppEnv } from "../types";
import { pageCursor } from "./shared";

/**
 * /v1/admin: user management for the app's own backend, behind ADMIN_API_KEY. Every change is
 * audited on the user's trail with `actor: "admin"`.
 */
export const adminRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

adminRoutes.use("*", requireAdminKey());

/** Every admin operation: a missing or wrong key, too many wrong keys, ADMIN_API_KEY unset (404). */
const ADMIN_ERRORS: DocumentedError[] = ["unauthorized", "rate_limited", "not_found", OUTAGE];

const listQuery = z.object({
	email: z
		.string()
		.min(1)
		.max(254)
		.optional()
		.meta({ description: "Exact match on the normalized email (trimmed, lower-cased, as login does)" }),
	limit: z.coerce.number().int().min(1).max(100).default(50),
	cursor: pageCursor,
});

const listRoute = createRoute({
	method: "get",
	path: "/users",
	operationId: "adminListUsers",
	summary: "Users, newest first, or the one with ?email=",
	tags: ["admin"],
	...ADMIN_KEY,
	request: { query: listQuery },
	responses: {
		200: json("One page; pass next_cursor as ?cursor= for the next", adminUserListResponse),
		...problems("validation_failed", ...ADMIN_ERRORS),
	},
});

adminRoutes.openapi(listRoute, async (c) => {
	const { email, limit, cursor } = c.req.valid("query");
	const page = await listUsers(c.get("deps").db, { email, limit, after: cursor });
	const appUrl = c.get("deps").config.appUrl;
	return c.json(
		{
			users: page.users.map((row) => presentAdminUser(row, appUrl)),
			next_cursor: page.next ? encodeCursor(page.next) : null,
		},
		200,
	);
});

/** The admin object of `id`, or 404 user_not_found. */
async function adminUser(c: Context<AppEnv>, id: string) {
	const row = await findAdminUser(c.get("deps").db, id);
	if (!row) throw new AppError("user_not_found");
	return presentAdminUser(row, c.get("deps").config.appUrl);
}

const getRoute = createRoute({
	method: "get",
	path: "/users/{id}",
	operationId: "adminGetUser",
	summary: "One user",
	tags: ["admin"],
	...ADMIN_KEY,
	request: { params: adminUserParam },
	responses: {
		200: json("The user", adminUserResponse),
		...problems("validation_failed", "user_not_found", ...ADMIN_ERRORS),
	},
});

adminRoutes.openapi(getRoute, async (c) => c.json(await adminUser(c, c.req.valid("param").id), 200));

const disableRoute = createRoute({
	method: "post",
	path: "/users/{id}/disable",
	operationId: "adminDisableUser",
	summary: "Disable an account: every session is revoked and every sign-in answers 403 account_disabled",
	tags: ["admin"],
	...ADMIN_KEY,
	request: { params: adminUserParam },
	responses: {
		200: json("The user, disabled", adminUserResponse),
		...problems("validation_failed", "user_not_found", ...ADMIN_ERRORS),
	},
});

adminRoutes.openapi(disableRoute, async (c) => {
	const { id } = c.req.valid("param");
	if (!(await disableUser(c.get("deps").db, c.get("events"), id))) throw new AppError("user_not_found");
	return c.json(await adminUser(c, id), 200);
});

const enableRoute = createRoute({
	method: "post",
	path: "/users/{id}/enable",
	operationId: "adminEnableUser",
	summary: "Let a disabled account sign in again",
	tags: ["admin"],
	...ADMIN_KEY,
	request: { params: adminUserParam },
	responses: {
		200: json("The user, enabled", adminUserResponse),
		...problems("validation_failed", "user_not_found", ...ADMIN_ERRORS),
	},
});

adminRoutes.openapi(enableRoute, async (c) => {
	const { id } = c.req.valid("param");
	if (!(await enableUser(c.get("deps").db, id))) throw new AppError("user_not_found");
	return c.json(await adminUser(c, id), 200);
});

const revokeRoute = createRoute({
	method: "post",
	path: "/users/{id}/sessions/revoke",
	operationId: "adminRevokeSessions",
	summary: "Sign the user out everywhere (every access and refresh token stops at once)",
	tags: ["admin"],
	...ADMIN_KEY,
	request: { params: adminUserParam },
	responses: {
		204: { description: "Revoked" },
		...problems("validation_failed", "user_not_found", ...ADMIN_ERRORS),
	},
});

adminRoutes.openapi(revokeRoute, async (c) => {
	if (!(await revokeSessionsAsAdmin(c.get("deps").db, c.req.valid("param").id))) throw new AppError("user_not_found");
	return c.body(null, 204);
});

const deleteRoute = createRoute({
	method: "delete",
	path: "/users/{id}",
	operationId: "adminDeleteUser",
	summary: "Delete the account and everything it owns, as DELETE /v1/me does",
	tags: ["admin"],
	...ADMIN_KEY,
	request: { params: adminUserParam },
	responses: {
		204: { description: "Deleted, images included" },
		...problems("validation_failed", "user_not_found", ...ADMIN_ERRORS),
	},
});

adminRoutes.openapi(deleteRoute, async (c) => {
	const { id } = c.req.valid("param");
	const db = c.get("deps").db;
	if (!(await userExists(db, id))) throw new AppError("user_not_found");
	await deleteAccount(db, c.get("deps").bucket, c.get("events"), id, "admin");
	return c.body(null, 204);
});
