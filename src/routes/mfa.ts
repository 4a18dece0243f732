import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { User } from "../db/schema";
import { purposeKey } from "../lib/encryption";
import { AppError } from "../lib/errors";
import type { NoticeKind } from "../lib/mail-templates";
import { AUTH_ERRORS, BEARER, BODY_ERRORS, OUTAGE, json, jsonBody, problems } from "../lib/openapi";
import { audit } from "../middleware/audit";
import { assertFreshToken, requireAuth } from "../middleware/auth";
import { enforceRateLimit } from "../middleware/rate-limit";
import { validationHook } from "../middleware/validate";
import { mfaCodeBody, recoveryCodesResponse, totpEnrolmentResponse } from "../schemas";
import { queueNoticeMail } from "../services/account-mail";
import {
	disableTotp,
	regenerateRecoveryCodes,
	spendMfaCode,
	startTotpEnrolment,
	totpEnabled,
	verifyTotpEnrolment,
} from "../services/mfa";
import { deliverMail } from "../services/outbox";
import { clear } from "../services/rate-limit";
import type { AppEnv } from "../types";

/** /v1/me/mfa: the signed-in user's second factors. */
export const mfaRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

mfaRoutes.use("*", requireAuth());

const FRESH = "fresh_token_required" as const;

const totpKey = (c: Context<AppEnv>) => purposeKey(c.get("deps").config.ENCRYPTION_KEY, "totp-secret");

/** Code attempts count per account, wherever they are typed (sign-in step or settings). */
const countCodeAttempt = (c: Context<AppEnv>, userId: string) =>
	enforceRateLimit(c, "mfa_account", userId, c.get("deps").config.RATE_LIMIT_MFA_ACCOUNT);

/** A right code forgets the count, as a right password does: only failures add up. */
function forgetAttempts(c: Context<AppEnv>, key: string): void {
	c.executionCtx.waitUntil(clear(c.get("deps").db, key).catch(() => {}));
}

/** Mails the user a notice of the change, after the response. */
async function notify(c: Context<AppEnv>, user: User, kind: NoticeKind): Promise<void> {
	const db = c.get("deps").db;
	const outboxId = await queueNoticeMail(db, c.get("deps").config, user, kind);
	c.executionCtx.waitUntil(deliverMail(db, c.get("deps").mail, [outboxId]));
}

const enrolRoute = createRoute({
	method: "post",
	path: "/totp",
	operationId: "startTotpEnrolment",
	summary: "Start TOTP enrolment (fresh token): a new secret, pending until a code verifies",
	tags: ["accounts"],
	...BEARER,
	responses: {
		200: json("The secret and its otpauth:// URI", totpEnrolmentResponse),
		...problems(...AUTH_ERRORS, FRESH, "mfa_already_enabled", OUTAGE),
	},
});

mfaRoutes.openapi(enrolRoute, async (c) => {
	assertFreshToken(c);
	const { user } = c.get("auth");
	const result = await startTotpEnrolment(c.get("deps").db, await totpKey(c), {
		userId: user.id,
		issuer: c.get("deps").config.APP_NAME,
		accountName: user.email,
	});
	if (!result.ok) throw new AppError("mfa_already_enabled");
	return c.json({ secret: result.secret, otpauth_uri: result.otpauthUri }, 200);
});

const verifyRoute = createRoute({
	method: "post",
	path: "/totp/verify",
	operationId: "verifyTotpEnrolment",
	summary: "Finish TOTP enrolment with a first code; answers the recovery codes (shown once)",
	tags: ["accounts"],
	...BEARER,
	request: { body: jsonBody(mfaCodeBody) },
	responses: {
		200: json("TOTP is on; the recovery codes", recoveryCodesResponse),
		...problems(...BODY_ERRORS, ...AUTH_ERRORS, "mfa_code_invalid", "mfa_already_enabled", "rate_limited", OUTAGE),
	},
});

mfaRoutes.openapi(verifyRoute, async (c) => {
	const { user } = c.get("auth");
	const attempts = await countCodeAttempt(c, user.id);
	const result = await verifyTotpEnrolment(
		c.get("deps").db,
		c.get("events"),
		await totpKey(c),
		user.id,
		c.req.valid("json").code,
	);
	if (!result.ok) {
		if (result.reason === "already_enabled") throw new AppError("mfa_already_enabled");
		audit(c, "mfa_failed", user.id, { method: "totp", during: "enrolment" });
		throw new AppError("mfa_code_invalid");
	}
	forgetAttempts(c, attempts);
	audit(c, "mfa_enabled", user.id, { method: "totp" });
	await notify(c, user, "mfa_enabled");
	return c.json({ recovery_codes: result.recoveryCodes }, 200);
});

const disableRoute = createRoute({
	method: "delete",
	path: "/totp",
	operationId: "disableTotp",
	summary: "Turn TOTP off (fresh token and a TOTP or recovery code); the recovery codes go too",
	tags: ["accounts"],
	...BEARER,
	request: { body: jsonBody(mfaCodeBody) },
	responses: {
		204: { description: "TOTP is off" },
		...problems(...BODY_ERRORS, ...AUTH_ERRORS, FRESH, "mfa_code_invalid", "mfa_not_enabled", "rate_limited", OUTAGE),
	},
});

mfaRoutes.openapi(disableRoute, async (c) => {
	assertFreshToken(c);
	const db = c.get("deps").db;
	const { user } = c.get("auth");
	if (!(await totpEnabled(db, user.id))) throw new AppError("mfa_not_enabled");
	const attempts = await countCodeAttempt(c, user.id);
	const { code } = c.req.valid("json");
	// Six digits are a TOTP code; anything else can only be a recovery code.
	const typed = /^\d{6}$/.test(code) ? { totp: code } : { recoveryCode: code };
	if (!(await spendMfaCode(db, await totpKey(c), user.id, typed))) {
		audit(c, "mfa_failed", user.id, { method: "totp" in typed ? "totp" : "recovery_code", during: "disable" });
		throw new AppError("mfa_code_invalid");
	}
	forgetAttempts(c, attempts);
	await disableTotp(db, c.get("events"), user.id);
	audit(c, "mfa_disabled", user.id, { method: "totp" });
	await notify(c, user, "mfa_disabled");
	return c.body(null, 204);
});

const regenerateRoute = createRoute({
	method: "post",
	path: "/recovery-codes",
	operationId: "regenerateRecoveryCodes",
	summary: "Replace the recovery codes (fresh token); the old ones stop working",
	tags: ["accounts"],
	...BEARER,
	responses: {
		200: json("The new recovery codes (shown once)", recoveryCodesResponse),
		...problems(...AUTH_ERRORS, FRESH, "mfa_not_enabled", OUTAGE),
	},
});

mfaRoutes.openapi(regenerateRoute, async (c) => {
	assertFreshToken(c);
	const { user } = c.get("auth");
	const result = await regenerateRecoveryCodes(c.get("deps").db, user.id);
	if (!result.ok) throw new AppError("mfa_not_enabled");
	audit(c, "recovery_codes_regenerated", user.id);
	await notify(c, user, "recovery_codes_regenerated");
	return c.json({ recovery_codes: result.recoveryCodes }, 200);
});
