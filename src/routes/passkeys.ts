import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { User } from "../db/schema";
import { AppError } from "../lib/errors";
import type { NoticeKind } from "../lib/mail-templates";
import { AUTH_ERRORS, BEARER, BODY_ERRORS, OUTAGE, PUBLIC, json, jsonBody, problems } from "../lib/openapi";
import { audit, requestOrigin } from "../middleware/audit";
import { assertFreshToken, requireAuth } from "../middleware/auth";
import { limitPerClient } from "../middleware/rate-limit";
import { validationHook } from "../middleware/validate";
import {
	passkeyCreationOptionsResponse,
	passkeyListResponse,
	passkeyParam,
	passkeyRegistrationBody,
	passkeyRequestOptionsResponse,
	passkeyResponse,
	passkeySignInBody,
	tokenResponse,
} from "../schemas";
import { queueNoticeMail } from "../services/account-mail";
import { enabledProviders } from "../services/oauth";
import { linkedProviders } from "../services/oauth/accounts";
import { deliverMail } from "../services/outbox";
import {
	deletePasskey,
	finishPasskeyRegistration,
	finishPasskeySignIn,
	listPasskeys,
	presentPasskey,
	startPasskeyRegistration,
	startPasskeySignIn,
} from "../services/passkeys";
import { startSession } from "../services/sign-in";
import { findUserById } from "../services/users";
import type { AppEnv } from "../types";

const FRESH = "fresh_token_required" as const;
const DEFAULT_NAME = "Passkey";

/** Mails the user a notice of the change, after the response. */
async function notify(c: Context<AppEnv>, user: User, kind: NoticeKind): Promise<void> {
	const db = c.get("deps").db;
	const outboxId = await queueNoticeMail(db, c.get("deps").config, user, kind);
	c.executionCtx.waitUntil(deliverMail(db, c.get("deps").mail, [outboxId]));
}

/** /v1/me/passkeys: the signed-in user's passkeys. */
export const passkeyRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

passkeyRoutes.use("*", requireAuth());

const registrationOptionsRoute = createRoute({
	method: "post",
	path: "/options",
	operationId: "startPasskeyRegistration",
	summary: "Start adding a passkey (fresh token): options for navigator.credentials.create()",
	tags: ["accounts"],
	...BEARER,
	responses: {
		200: json("The challenge id and PublicKeyCredentialCreationOptionsJSON", passkeyCreationOptionsResponse),
		...problems(...AUTH_ERRORS, FRESH, OUTAGE),
	},
});

passkeyRoutes.openapi(registrationOptionsRoute, async (c) => {
	assertFreshToken(c);
	const { challengeId, options } = await startPasskeyRegistration(
		c.get("deps").db,
		c.get("deps").config,
		c.get("auth").user,
	);
	return c.json({ challenge_id: challengeId, options }, 200);
});

const registerRoute = createRoute({
	method: "post",
	path: "/",
	operationId: "registerPasskey",
	summary: "Finish adding a passkey with the authenticator's RegistrationResponseJSON",
	tags: ["accounts"],
	...BEARER,
	request: { body: jsonBody(passkeyRegistrationBody) },
	responses: {
		201: json("The new passkey", passkeyResponse),
		...problems(...BODY_ERRORS, ...AUTH_ERRORS, "passkey_invalid", OUTAGE),
	},
});

passkeyRoutes.openapi(registerRoute, async (c) => {
	const { user } = c.get("auth");
	const body = c.req.valid("json");
	const result = await finishPasskeyRegistration(c.get("deps").db, c.get("deps").config, c.get("events"), {
		userId: user.id,
		challengeId: body.challenge_id,
		credential: body.credential,
		name: body.name ?? DEFAULT_NAME,
	});
	if (!result.ok) throw new AppError("passkey_invalid");
	audit(c, "passkey_added", user.id, { passkey_id: result.passkey.id, algorithm: result.passkey.algorithm });
	await notify(c, user, "passkey_added");
	return c.json(presentPasskey(result.passkey), 201);
});

const listRoute = createRoute({
	method: "get",
	path: "/",
	operationId: "listPasskeys",
	summary: "Your passkeys, oldest first",
	tags: ["accounts"],
	...BEARER,
	responses: {
		200: json("Passkeys", passkeyListResponse),
		...problems(...AUTH_ERRORS, OUTAGE),
	},
});

passkeyRoutes.openapi(listRoute, async (c) => {
	const rows = await listPasskeys(c.get("deps").db, c.get("auth").user.id);
	return c.json({ passkeys: rows.map(presentPasskey) }, 200);
});

const deleteRoute = createRoute({
	method: "delete",
	path: "/{id}",
	operationId: "deletePasskey",
	summary: "Remove a passkey (fresh token), unless it is your last way to sign in",
	tags: ["accounts"],
	...BEARER,
	request: { params: passkeyParam },
	responses: {
		204: { description: "Removed" },
		...problems("validation_failed", ...AUTH_ERRORS, FRESH, "passkey_not_found", "last_login_method", OUTAGE),
	},
});

passkeyRoutes.openapi(deleteRoute, async (c) => {
	assertFreshToken(c);
	const { user } = c.get("auth");
	const result = await deletePasskey(c.get("deps").db, c.get("events"), {
		userId: user.id,
		passkeyId: c.req.valid("param").id,
		enabledProviders: enabledProviders(c.get("deps").config).map(({ id }): string => id),
	});
	if (!result.ok) throw new AppError(result.reason === "last_login_method" ? "last_login_method" : "passkey_not_found");
	audit(c, "passkey_removed", user.id, { passkey_id: result.passkey.id });
	await notify(c, user, "passkey_removed");
	return c.body(null, 204);
});

/** /v1/auth/passkey: signing in with a passkey (discoverable: no email asked). */
export const passkeySignInRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

// Both steps count against the per-address budget: the options write a challenge row.
const limitSignIn = limitPerClient("passkey_ip", (config) => config.RATE_LIMIT_LOGIN_IP);

const signInOptionsRoute = createRoute({
	method: "post",
	path: "/options",
	operationId: "startPasskeySignIn",
	summary: "Start a passkey sign-in: options for navigator.credentials.get() (any passkey of this site)",
	tags: ["accounts"],
	...PUBLIC,
	middleware: [limitSignIn] as const,
	responses: {
		200: json("The challenge id and PublicKeyCredentialRequestOptionsJSON", passkeyRequestOptionsResponse),
		...problems("rate_limited", OUTAGE),
	},
});

passkeySignInRoutes.openapi(signInOptionsRoute, async (c) => {
	const { challengeId, options } = await startPasskeySignIn(c.get("deps").db, c.get("deps").config);
	return c.json({ challenge_id: challengeId, options }, 200);
});

const signInRoute = createRoute({
	method: "post",
	path: "/",
	operationId: "signInWithPasskey",
	summary: "Sign in with a passkey's AuthenticationResponseJSON (a fresh login; no second step)",
	tags: ["accounts"],
	...PUBLIC,
	middleware: [limitSignIn] as const,
	request: { body: jsonBody(passkeySignInBody) },
	responses: {
		200: json("Access and refresh tokens (a fresh login)", tokenResponse),
		...problems(...BODY_ERRORS, ["passkey_invalid", 401], "account_disabled", "rate_limited", OUTAGE),
	},
});

passkeySignInRoutes.openapi(signInRoute, async (c) => {
	const db = c.get("deps").db;
	const config = c.get("deps").config;
	const body = c.req.valid("json");
	const result = await finishPasskeySignIn(db, config, { challengeId: body.challenge_id, credential: body.credential });
	if (!result.ok) {
		if (result.userId) audit(c, "login_failed", result.userId, { method: "passkey", reason: result.reason });
		throw new AppError("passkey_invalid", { status: 401 });
	}
	const [user, providers] = await Promise.all([findUserById(db, result.userId), linkedProviders(db, result.userId)]);
	if (!user) throw new AppError("passkey_invalid", { status: 401 });
	// A passkey is possession plus user verification: it satisfies two-factor on its own.
	const started = await startSession(db, config, {
		user,
		providers,
		method: "passkey",
		...requestOrigin(c),
	});
	if (started.disabled) throw new AppError("account_disabled");
	audit(c, "login", user.id, { method: "passkey", passkey_id: result.passkeyId });
	return c.json(started.body, 200);
});
