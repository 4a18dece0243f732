import { OpenAPIHono } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { secureHeaders } from "hono/secure-headers";
import type { Config } from "./config";
import { AppError } from "./lib/errors";
import { formatBytes } from "./lib/i18n";
import { noStoreForPrivateJson } from "./middleware/cache-control";
import { devHashStats } from "./middleware/dev-stats";
import { JSON_BODY_LIMIT, asProblemPage, notFound, onError, problemResponse } from "./middleware/errors";
import { detectLanguage } from "./middleware/language";
import { requestId } from "./middleware/request-id";
import { requestLog } from "./middleware/request-log";
import { serverTiming } from "./middleware/server-timing";
import { provideServices } from "./middleware/services";
import { isFormRequest, validationHook } from "./middleware/validate";
import { accountRoutes } from "./routes/accounts";
import { adminRoutes } from "./routes/admin";
import { authRoutes } from "./routes/auth";
import { avatarRoutes } from "./routes/avatars";
import { confirmationRoutes } from "./routes/confirmation";
import { docsRoutes } from "./routes/docs";
import { emailChangeRoutes, emailConfirmRoutes } from "./routes/email-change";
import { imageContentRoutes, imageRoutes } from "./routes/images";
import { magicLinkRoutes } from "./routes/magic-link";
import { meRoutes } from "./routes/me";
import { mfaRoutes } from "./routes/mfa";
import { oauthRoutes } from "./routes/oauth";
import { oauthLinkRoutes } from "./routes/oauth-link";
import { passkeyRoutes, passkeySignInRoutes } from "./routes/passkeys";
import { sessionRoutes } from "./routes/sessions";
import { systemRoutes } from "./routes/system";
import { wellKnownRoutes } from "./routes/well-known";
import type { ReferenceDocument } from "./lib/api-reference";
import type { AppEnv } from "./types";

/** JSON bodies are small; image routes set their own, much larger limits. */

/** Builds the Hono app: cross-cutting middleware, then one sub-app per resource. */
export function createApp() {
	const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

	app.use("*", requestId());
	app.use("*", requestLog());
	// DENY everywhere: the HTML pages need it, and nothing Atrium serves is meant to be framed.
	app.use("*", secureHeaders({ crossOriginResourcePolicy: false, xFrameOptions: "DENY" }));
	app.use("*", noStoreForPrivateJson());
	app.use("*", async (c, next) => {
		await next();
		// Same-site unless a route opts out: public avatars are meant to be embedded anywhere.
		if (!c.res.headers.has("Cross-Origin-Resource-Policy")) c.header("Cross-Origin-Resource-Policy", "same-site");
	});
	app.use("*", detectLanguage());
	app.use("*", provideServices());
	app.use("*", serverTiming());
	app.use("*", (c, next) => corsFor(c.get("deps").config)(c, next));
	app.use("/v1/auth/*", jsonBodyLimit());
	app.on(
		["PATCH", "PUT", "POST", "DELETE"],
		[
			"/v1/me",
			"/v1/me/password",
			"/v1/me/email",
			"/v1/me/accounts/*",
			"/v1/me/mfa/*",
			"/v1/me/passkeys",
			"/v1/me/passkeys/*",
		],
		jsonBodyLimit(),
	);
	// Uploads enforce MAX_IMAGE_BYTES themselves (src/services/uploads.ts); only the JSON rename is capped here.
	app.on("PATCH", "/v1/images/:id", jsonBodyLimit());
	app.on("POST", "/v1/images/:id/links", jsonBodyLimit());

	app.get("/__dev/hashes", devHashStats);
	app.route("/", systemRoutes);
	app.route("/", wellKnownRoutes);
	app.route("/v1/auth", authRoutes);
	app.route("/v1/auth", confirmationRoutes);
	app.route("/v1/auth/oauth", oauthLinkRoutes);
	app.route("/v1/auth/oauth", oauthRoutes);
	app.route("/v1/auth/magic-link", magicLinkRoutes);
	app.route("/v1/auth/email", emailConfirmRoutes);
	app.route("/v1/auth/passkey", passkeySignInRoutes);
	// Before /v1/me: its "*" requireAuth would otherwise run a second time for these paths.
	app.route("/v1/me/accounts", accountRoutes);
	app.route("/v1/me/mfa", mfaRoutes);
	app.route("/v1/me/sessions", sessionRoutes);
	app.route("/v1/me/email", emailChangeRoutes);
	app.route("/v1/me/passkeys", passkeyRoutes);
	// Also before /v1/me: PUT/DELETE /v1/me/avatar check auth themselves, GET /v1/users/:id/avatar is public.
	app.route("/", avatarRoutes);
	app.route("/v1/images", imageContentRoutes);
	app.route("/v1/images", imageRoutes);
	app.route("/v1/me", meRoutes);
	app.route("/v1/admin", adminRoutes);

	app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
		type: "http",
		scheme: "bearer",
		bearerFormat: "JWT",
		description: "The access_token of POST /v1/auth/login (or /refresh, /oauth/exchange)",
	});
	app.openAPIRegistry.registerComponent("securitySchemes", "adminKey", {
		type: "http",
		scheme: "bearer",
		description: "ADMIN_API_KEY, for the app's own backend only (never a browser); unset, /v1/admin answers 404",
	});
	// Generated once per isolate and APP_URL: the routes do not change while it runs.
	const documents = new Map<string, ReturnType<typeof app.getOpenAPI31Document>>();
	app.route(
		"/",
		docsRoutes((c) => {
			const serverUrl = c.get("deps").config.APP_URL;
			let document = documents.get(serverUrl);
			if (!document) {
				document = app.getOpenAPI31Document({
					openapi: "3.1.0",
					info: {
						title: "Atrium API",
						version: "1.1.0",
						description: "Accounts and images for the edge. Errors are RFC 9457 problem+json with a stable `code`.",
						license: { name: "MIT", url: "https://opensource.org/license/mit" },
					},
					servers: [{ url: serverUrl }],
					tags: TAGS,
				});
				documents.set(serverUrl, document);
			}
			return document as unknown as ReferenceDocument;
		}),
	);

	app.notFound(notFound);
	app.onError(onError);
	return app;
}

const TAGS = [
	{ name: "accounts", description: "Registration, login, tokens and the signed-in user" },
	{ name: "confirmation", description: "Mailed links: email confirmation and password reset" },
	{ name: "OAuth", description: "Sign-in with GitHub, Google or an OpenID Connect provider" },
	{ name: "images", description: "Per-user image folders" },
	{ name: "avatars", description: "Profile pictures" },
	{ name: "i18n", description: "Languages" },
	{ name: "operations", description: "Health" },
	{ name: "keys", description: "Public keys for backends that verify access tokens" },
	{ name: "admin", description: "User management for the app's own backend (ADMIN_API_KEY)" },
];

const corsByConfig = new WeakMap<Config, MiddlewareHandler>();

/** The CORS middleware for a configuration, built once per isolate rather than per request. */
function corsFor(config: Config): MiddlewareHandler {
	let middleware = corsByConfig.get(config);
	if (!middleware) {
		middleware = cors({
			origin: config.CORS_ORIGINS,
			allowMethods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
			allowHeaders: [
				"Authorization",
				"Content-Type",
				"Accept-Language",
				"If-Match",
				"If-None-Match",
				"Range",
				"X-D1-Bookmark",
			],
			exposeHeaders: [
				"Location",
				"ETag",
				"X-Request-Id",
				"Retry-After",
				"Content-Language",
				"WWW-Authenticate",
				"X-D1-Bookmark",
			],
			maxAge: 600,
		});
		corsByConfig.set(config, middleware);
	}
	return middleware;
}

function jsonBodyLimit() {
	return bodyLimit({
		maxSize: JSON_BODY_LIMIT,
		onError: (c) => {
			const error = new AppError("payload_too_large", {
				params: { limit: formatBytes(c.get("lang"), JSON_BODY_LIMIT) },
			});
			// A browser form (the pages' posts) never gets JSON back, not even for an oversize body.
			if (isFormRequest(c.req.header("Content-Type"))) return asProblemPage(c, problemResponse(c, error));
			throw error;
		},
	});
}
