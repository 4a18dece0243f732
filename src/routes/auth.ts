import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import { audit, requestOrigin } from "../middleware/audit";
import { requireAuth } from "../middleware/auth";
import {
	enforceRateLimit,
	limitPerClient,
	rateLimitKey,
	rateLimitTripped,
	takeClientLimit,
} from "../middleware/rate-limit";
import { validationHook } from "../middleware/validate";
import { AppError } from "../lib/errors";
import { AUTH_ERRORS, BEARER, BODY_ERRORS, OUTAGE, PUBLIC, json, jsonBody, problems } from "../lib/openapi";
import { purposeKey } from "../lib/encryption";
import {
	loginBody,
	messageResponse,
	mfaStepBody,
	refreshBody,
	registerBody,
	signInResponse,
	tokenResponse,
} from "../schemas";
import { appRedirect } from "../middleware/app-redirect";
import { queueAccountMail } from "../services/account-mail";
import { deliverMail } from "../services/outbox";
import { clearStatement, hit, hitResult, hitStatement } from "../services/rate-limit";
import { auditInsert } from "../services/audit";
import { completeMfaChallenge, mfaChallengeQuery, recordMfaFailure, spendMfaCode } from "../services/mfa";
import { revokeSession, revokeUserSessions, rotateRefreshToken } from "../services/sessions";
import { passwordSignIn, startSession } from "../services/sign-in";
import { issueTokenResponse } from "../services/tokens";
import { findUserWithProviders, normalizeEmail, registerUser } from "../services/users";
import type { AppEnv } from "../types";

export const authRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

const noContent = (description: string) => ({ description });

const registerRoute = createRoute({
	method: "post",
	path: "/register",
	operationId: "register",
	summary: "Create an account (always 202, whether or not the email is taken)",
	tags: ["accounts"],
	...PUBLIC,
	middleware: [limitPerClient("register_ip", (config) => config.RATE_LIMIT_REGISTER_IP)] as const,
	request: { body: jsonBody(registerBody) },
	responses: {
		202: json("Accepted; a confirmation (or an 'account exists') mail is on its way", messageResponse),
		...problems(...BODY_ERRORS, "redirect_uri_not_allowed", "rate_limited", OUTAGE),
	},
});

authRoutes.openapi(registerRoute, async (c) => {
	const { redirect_to, ...body } = c.req.valid("json");
	const redirectTo = appRedirect(c, redirect_to);
	const db = c.get("deps").db;
	const config = c.get("deps").config;
	const result = await registerUser(
		db,
		c.get("events"),
		{ ...body, locale: body.locale ?? c.get("lang") },
		config.PASSWORD_SCRYPT,
	);
	// Same status and body either way; only the mail differs, and only its owner sees it.
	const kind = result.status === "created" ? "confirm" : "exists";
	// Counted on both paths; past the limit an existing owner's mailbox is spared further notices.
	const { limit, windowSeconds } = config.RATE_LIMIT_MAIL_EMAIL;
	const mailBudget = await hit(db, rateLimitKey("register_mail", result.user.email), limit, windowSeconds);
	if (result.status === "created" || mailBudget.allowed) {
		const outboxId = await queueAccountMail(db, config, result.user, kind, redirectTo);
		c.executionCtx.waitUntil(deliverMail(db, c.get("deps").mail, [outboxId]));
	}
	audit(c, result.status === "created" ? "register" : "register_existing", result.user.id);
	return c.json({ message: c.get("t")("messages.register_accepted") }, 202);
});

const loginRoute = createRoute({
	method: "post",
	path: "/login",
	operationId: "login",
	summary: "Log in with email and password",
	tags: ["accounts"],
	...PUBLIC,
	middleware: [limitPerClient("login_ip", (config) => config.RATE_LIMIT_LOGIN_IP, { inHandler: true })] as const,
	request: { body: jsonBody(loginBody) },
	responses: {
		200: json(
			"Access and refresh tokens (a fresh login), or, with TOTP on, the mfa_required answer (no tokens)",
			signInResponse,
		),
		...problems(
			...BODY_ERRORS,
			"invalid_credentials",
			"email_not_confirmed",
			"account_disabled",
			"rate_limited",
			OUTAGE,
		),
	},
});

authRoutes.openapi(loginRoute, async (c) => {
	const { email, password } = c.req.valid("json");
	const config = c.get("deps").config;
	const clientLimit = takeClientLimit(c);
	const result = await passwordSignIn(c.get("deps").db, config, {
		email,
		password,
		clientLimit,
		// Counted for unknown emails too (same answers).
		accountLimit: { key: rateLimitKey("login_account", normalizeEmail(email)), rule: config.RATE_LIMIT_LOGIN_ACCOUNT },
		...requestOrigin(c),
	});
	if (result.ok) return c.json(result.body, 200);
	switch (result.reason) {
		case "rate_limited":
			throw rateLimitTripped(c, result.limit === "client" ? clientLimit.scope : "login_account", result);
		case "invalid_credentials":
			if (result.userId) audit(c, "login_failed", result.userId, { method: "password" });
			throw new AppError("invalid_credentials");
		default:
			throw new AppError(result.reason);
	}
});

const mfaRoute = createRoute({
	method: "post",
	path: "/mfa",
	operationId: "completeMfa",
	summary: "Second step of a sign-in: the mfa_token and a TOTP or recovery code",
	tags: ["accounts"],
	...PUBLIC,
	middleware: [limitPerClient("mfa_ip", (config) => config.RATE_LIMIT_MFA_IP, { inHandler: true })] as const,
	request: { body: jsonBody(mfaStepBody) },
	responses: {
		200: json("Access and refresh tokens (a fresh login)", tokenResponse),
		...problems(
			...BODY_ERRORS,
			["mfa_code_invalid", 401],
			"mfa_token_invalid",
			"account_disabled",
			"rate_limited",
			OUTAGE,
		),
	},
});

authRoutes.openapi(mfaRoute, async (c) => {
	const body = c.req.valid("json");
	const db = c.get("deps").db;
	const config = c.get("deps").config;
	// The per-address count and the challenge's lookup share one round trip.
	const clientLimit = takeClientLimit(c);
	const now = Date.now();
	const [clientRows, challenges] = await db.batch([
		hitStatement(db, clientLimit.key, clientLimit.rule, now),
		mfaChallengeQuery(db, body.mfa_token, now),
	]);
	const client = clientRows[0] && hitResult(clientRows[0], clientLimit.rule.limit, now);
	if (!client) throw new Error("the rate-limit upsert returned no row");
	if (!client.allowed) throw rateLimitTripped(c, clientLimit.scope, client);
	const challenge = challenges[0];
	if (!challenge) throw new AppError("mfa_token_invalid");
	const { userId } = challenge;
	// Counted before the code is checked, so parallel guesses cannot overshoot it.
	const attempts = await enforceRateLimit(c, "mfa_account", userId, config.RATE_LIMIT_MFA_ACCOUNT);
	const method = body.code !== undefined ? "totp" : "recovery_code";
	const code = body.code !== undefined ? { totp: body.code } : { recoveryCode: body.recovery_code ?? "" };
	const key = await purposeKey(config.ENCRYPTION_KEY, "totp-secret");
	if (!(await spendMfaCode(db, key, userId, code))) {
		await recordMfaFailure(db, challenge.tokenHash);
		audit(c, "mfa_failed", userId, { method });
		throw new AppError("mfa_code_invalid", { status: 401 });
	}
	// Spent only now: a wrong code leaves the token for another try (up to the fifth).
	if (!(await completeMfaChallenge(db, challenge.tokenHash))) throw new AppError("mfa_token_invalid");
	const account = await findUserWithProviders(db, userId);
	if (!account) throw new AppError("mfa_token_invalid");
	const origin = requestOrigin(c);
	// The counter reset and the audit events are written in the session's batch.
	const alongside = [
		clearStatement(db, attempts),
		auditInsert(db, { userId, type: "login", ...origin, detail: { method: challenge.method, mfa: method } }),
		...(method === "recovery_code" ? [auditInsert(db, { userId, type: "recovery_code_used", ...origin })] : []),
	];
	const started = await startSession(db, config, { ...account, method: challenge.method, ...origin }, alongside);
	if (started.disabled) throw new AppError("account_disabled");
	return c.json(started.body, 200);
});

const refreshRoute = createRoute({
	method: "post",
	path: "/refresh",
	operationId: "refreshTokens",
	summary: "Rotate a refresh token",
	tags: ["accounts"],
	...PUBLIC,
	request: { body: jsonBody(refreshBody) },
	responses: {
		200: json("New tokens; the refresh token sent is spent", tokenResponse),
		...problems(...BODY_ERRORS, "invalid_refresh_token", "refresh_token_reused", OUTAGE),
	},
});

authRoutes.openapi(refreshRoute, async (c) => {
	const result = await rotateRefreshToken(
		c.get("deps").db,
		c.req.valid("json").refresh_token,
		c.get("deps").config.REFRESH_REUSE_SECONDS,
	);
	if (!result.ok && result.reason === "reused") audit(c, "refresh_token_reused", result.userId);
	if (!result.ok) throw new AppError(result.reason === "reused" ? "refresh_token_reused" : "invalid_refresh_token");
	const body = await issueTokenResponse(c.get("deps").config, { ...result, fresh: false });
	return c.json(body, 200);
});

const logoutRoute = createRoute({
	method: "post",
	path: "/logout",
	operationId: "logout",
	summary: "Revoke this session",
	tags: ["accounts"],
	...BEARER,
	middleware: [requireAuth()] as const,
	responses: { 204: noContent("Revoked"), ...problems(...AUTH_ERRORS, OUTAGE) },
});

authRoutes.openapi(logoutRoute, async (c) => {
	await revokeSession(c.get("deps").db, c.get("auth").session.id);
	audit(c, "logout", c.get("auth").user.id);
	return c.body(null, 204);
});

const logoutAllRoute = createRoute({
	method: "post",
	path: "/logout-all",
	operationId: "logoutAll",
	summary: "Revoke every session of the signed-in user",
	tags: ["accounts"],
	...BEARER,
	middleware: [requireAuth()] as const,
	responses: { 204: noContent("Revoked"), ...problems(...AUTH_ERRORS, OUTAGE) },
});

authRoutes.openapi(logoutAllRoute, async (c) => {
	await revokeUserSessions(c.get("deps").db, c.get("auth").user.id);
	audit(c, "logout_all", c.get("auth").user.id);
	return c.body(null, 204);
});
