import { z } from "zod";

const seconds = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const bytes = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const list = z
	.string()
	.default("")
	.transform((value) =>
		value
			.split(",")
			.map((item) => item.trim())
			.filter(Boolean),
	);
/** `"<count>/<seconds>"`: at most `count` hits per fixed window of `seconds` (src/services/rate-limit.ts). */
const rateLimit = (fallback: string) =>
	z
		.string()
		.default(fallback)
		.transform((value, ctx) => {
			const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(value);
			const limit = Number(match?.[1]);
			const windowSeconds = Number(match?.[2]);
			if (!match || limit < 1 || windowSeconds < 1) {
				ctx.addIssue({ code: "custom", message: 'expected "<count>/<seconds>" with both at least 1, e.g. "10/900"' });
				return z.NEVER;
			}
			return { limit, windowSeconds };
		});
const optional = z
	.string()
	.optional()
	.transform((value) => (value?.trim() ? value.trim() : undefined));

const configSchema = z
	.object({
		ENVIRONMENT: z.string().default("production"),
		APP_URL: z.url(),
		APP_NAME: z.string().default("Atrium"),
		JWT_SECRET: optional,
		/** Root of the encryption keys (src/lib/encryption.ts); at least 32 bytes outside local development. */
		ENCRYPTION_KEY: optional,
		JWT_ISSUER: z.string().default("atrium"),
		JWT_AUDIENCE: z.string().default("atrium-api"),
		ACCESS_TOKEN_SECONDS: seconds(900),
		REFRESH_TOKEN_SECONDS: seconds(30 * 24 * 3600),
		/**
		 * A spent refresh token presented again within this many seconds of its rotation rotates again
		 * (two tabs, a retried request); later it is reuse and revokes the session. 0 turns it off.
		 */
		REFRESH_REUSE_SECONDS: z.coerce.number().int().min(0).max(300).default(10),
		FRESH_TOKEN_SECONDS: seconds(600),
		CONFIRMATION_TTL_SECONDS: seconds(1800),
		RESET_TTL_SECONDS: seconds(1800),
		DEFAULT_LOCALE: z.string().default("en"),
		CORS_ORIGINS: list,
		MAIL_FROM: z.string().default("Atrium <no-reply@atrium.example>"),
		RESEND_API_KEY: optional,
		RESEND_BASE_URL: z.url().default("https://api.resend.com"),
		GITHUB_CLIENT_ID: optional,
		GITHUB_CLIENT_SECRET: optional,
		GOOGLE_CLIENT_ID: optional,
		GOOGLE_CLIENT_SECRET: optional,
		OIDC_ISSUER: optional,
		OIDC_CLIENT_ID: optional,
		OIDC_CLIENT_SECRET: optional,
		OIDC_NAME: optional,
		OAUTH_REDIRECT_URIS: list,
		/** Pages of the app that mailed links may lead back to (`redirect_to`), comma-separated. */
		APP_REDIRECT_URLS: list,
		MAX_IMAGE_BYTES: bytes(10 * 1024 * 1024),
		MAX_IMAGE_PIXELS: bytes(50_000_000),
		QUOTA_BYTES: bytes(1024 * 1024 * 1024),
		QUOTA_IMAGES: bytes(1000),
		/** Lifetime of an image object's signed `content_url` (rounded up to a quarter of it). */
		SIGNED_URL_SECONDS: z.coerce.number().int().min(60).max(604_800).default(3600),
		/** Failed password logins per account (email), counted whether or not the account exists. */
		RATE_LIMIT_LOGIN_ACCOUNT: rateLimit("10/900"),
		/** Login attempts per client IP. */
		RATE_LIMIT_LOGIN_IP: rateLimit("100/900"),
		/** Registrations per client IP. */
		RATE_LIMIT_REGISTER_IP: rateLimit("20/3600"),
		/** Confirmation resends, and separately password-reset requests, per email address. */
		RATE_LIMIT_MAIL_EMAIL: rateLimit("5/3600"),
		/** Confirmation resends, and separately password-reset requests, per client IP. */
		RATE_LIMIT_MAIL_IP: rateLimit("30/3600"),
		/** Second-factor code attempts per account (at least 10 per 15 minutes, so the 5-try rule answers first). */
		RATE_LIMIT_MFA_ACCOUNT: rateLimit("10/900"),
		/** Second-factor code attempts per client IP. */
		RATE_LIMIT_MFA_IP: rateLimit("50/900"),
		/** Image and avatar uploads (new or replaced bytes) per user. */
		RATE_LIMIT_UPLOAD_USER: rateLimit("120/600"),
		/** Audit events older than this are pruned by the cron. */
		AUDIT_RETENTION_DAYS: z.coerce.number().int().positive().default(365),
		/** One structured log line per request ("on"), or none ("off"). */
		REQUEST_LOG: z.enum(["on", "off"]).default("on"),
	})
	.superRefine((env, ctx) => {
		const local = env.ENVIRONMENT === "development" || env.ENVIRONMENT === "test";
		const secretBytes = new TextEncoder().encode(env.JWT_SECRET ?? "").length;
		if (!local && secretBytes < 32) {
			ctx.addIssue({
				code: "custom",
				path: ["JWT_SECRET"],
				message:
					"JWT_SECRET must be set to at least 32 bytes outside local development (wrangler secret put JWT_SECRET)",
			});
		}
		const encryptionKeyBytes = new TextEncoder().encode(env.ENCRYPTION_KEY ?? "").length;
		if (!local && encryptionKeyBytes < 32) {
			ctx.addIssue({
				code: "custom",
				path: ["ENCRYPTION_KEY"],
				message:
					"ENCRYPTION_KEY must be set to at least 32 bytes outside local development (wrangler secret put ENCRYPTION_KEY)",
			});
		}
	});

export type Config = z.infer<typeof configSchema> & {
	JWT_SECRET: string;
	ENCRYPTION_KEY: string;
	isLocal: boolean;
	appUrl: URL;
};

/** Raised when the deployment's variables are wrong; the message names the variables, never values. */
export class ConfigError extends Error {
	override name = "ConfigError";
}

const cache = new WeakMap<object, Config>();

// Local development without a secret still needs a key; it is per-isolate and never used in
// production. Made on first use: Workers forbid random values in global scope.
let localFallbackSecret: string | undefined;
function localSecret(): string {
	localFallbackSecret ??= crypto.randomUUID() + crypto.randomUUID();
	return localFallbackSecret;
}
let localFallbackEncryptionKey: string | undefined;
function localEncryptionKey(): string {
	localFallbackEncryptionKey ??= crypto.randomUUID() + crypto.randomUUID();
	return localFallbackEncryptionKey;
}

/**
 * Parses and validates the Worker's environment once per `env` object. Throws `ConfigError` with
 * every problem listed, so a misconfigured deployment fails loudly instead of using a default.
 */
export function loadConfig(env: Cloudflare.Env): Config {
	const cached = cache.get(env);
	if (cached) return cached;
	const parsed = configSchema.safeParse(env);
	if (!parsed.success) {
		const problems = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ");
		throw new ConfigError(`Invalid configuration: ${problems}`);
	}
	const isLocal = parsed.data.ENVIRONMENT === "development" || parsed.data.ENVIRONMENT === "test";
	const config: Config = {
		...parsed.data,
		JWT_SECRET: parsed.data.JWT_SECRET ?? localSecret(),
		ENCRYPTION_KEY: parsed.data.ENCRYPTION_KEY ?? localEncryptionKey(),
		isLocal,
		appUrl: new URL(parsed.data.APP_URL),
	};
	cache.set(env, config);
	return config;
}
