import { Hono } from "hono";
import { requireAuth } from "../middleware/auth";
import { doc } from "../middleware/doc";
import { validate } from "../middleware/validate";
import { AppError } from "../lib/errors";
import { loginBody, refreshBody, registerBody } from "../schemas";
import { queueAccountMail } from "../services/account-mail";
import { deliverMail } from "../services/outbox";
import { createSession, revokeSession, revokeUserSessions, rotateRefreshToken } from "../services/sessions";
import { issueTokenResponse } from "../services/tokens";
import { authenticate, registerUser } from "../services/users";
import type { AppEnv } from "../types";

export const authRoutes = new Hono<AppEnv>();

authRoutes.post(
	"/register",
	doc({ summary: "Create an account (always 202)", tags: ["accounts"], responses: { 202: "Accepted" } }),
	validate("json", registerBody),
	async (c) => {
		const body = c.req.valid("json");
		const db = c.get("db");
		const result = await registerUser(db, { ...body, locale: body.locale ?? c.get("lang") });
		// Same status and body either way; only the mail differs, and only its owner sees it.
		const outboxId = await queueAccountMail(
			db,
			c.get("config"),
			result.user,
			result.status === "created" ? "confirm" : "exists",
		);
		c.executionCtx.waitUntil(deliverMail(db, c.get("mail"), [outboxId]));
		return c.json({ message: c.get("t")("messages.register_accepted") }, 202);
	},
);

authRoutes.post(
	"/login",
	doc({ summary: "Log in with email and password", tags: ["accounts"], responses: { 200: "Tokens" } }),
	validate("json", loginBody),
	async (c) => {
		const { email, password } = c.req.valid("json");
		const db = c.get("db");
		const result = await authenticate(db, email, password);
		if (!result.ok) throw new AppError("invalid_credentials");
		// Only after a correct password, so the answer reveals nothing to someone guessing.
		if (!result.user.emailConfirmedAt) throw new AppError("email_not_confirmed");
		const config = c.get("config");
		const { session, refreshToken } = await createSession(db, {
			userId: result.user.id,
			lifetimeSeconds: config.REFRESH_TOKEN_SECONDS,
			userAgent: c.req.header("User-Agent"),
			ip: c.req.header("CF-Connecting-IP"),
		});
		return c.json(await issueTokenResponse(config, { user: result.user, session, refreshToken, fresh: true }));
	},
);

authRoutes.post(
	"/refresh",
	doc({ summary: "Rotate a refresh token", tags: ["accounts"], responses: { 200: "Tokens" } }),
	validate("json", refreshBody),
	async (c) => {
		const result = await rotateRefreshToken(c.get("db"), c.req.valid("json").refresh_token);
		if (!result.ok) throw new AppError(result.reason === "reused" ? "refresh_token_reused" : "invalid_refresh_token");
		const body = await issueTokenResponse(c.get("config"), { ...result, fresh: false });
		return c.json(body);
	},
);

authRoutes.post(
	"/logout",
	doc({ summary: "Revoke this session", tags: ["accounts"], auth: true, responses: { 204: "Revoked" } }),
	requireAuth(),
	async (c) => {
		await revokeSession(c.get("db"), c.get("auth").session.id);
		return c.body(null, 204);
	},
);

authRoutes.post(
	"/logout-all",
	doc({ summary: "Revoke every session", tags: ["accounts"], auth: true, responses: { 204: "Revoked" } }),
	requireAuth(),
	async (c) => {
		await revokeUserSessions(c.get("db"), c.get("auth").user.id);
		return c.body(null, 204);
	},
);
