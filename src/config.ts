import { z } from "zod";
import { KEY_TYPES, type PrivateJwk } from "./lib/jwt";
import { type WebhookTarget, webhookSigningKey } from "./lib/webhooks";
import { PASSWORD_PARAMS, parseScryptParams, type ScryptParams } from "./lib/password";
import { isIpLiteral, isValidRpId, originProblem } from "./lib/webauthn";

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
		/** Still verifies HS256 tokens during a JWT_SECRET rotation; remove it once they have expired. */
		JWT_SECRET_PREVIOUS: optional,
		/** HS256 signs with JWT_SECRET; ES256 and EdDSA sign with the first key of JWT_SIGNING_KEYS. */
		JWT_ALGORITHM: z.enum(["HS256", "ES256", "EdDSA"]).default("HS256"),
		/** A JWK set of private keys, newest first (`npm run keys:generate`); every key verifies. */
		JWT_SIGNING_KEYS: optional,
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
		/** Lifetime of a magic link and its email code. */
		MAGIC_LINK_SECONDS: seconds(600),
		/** "on": a magic link to an unknown address creates the account when used; "off": nothing is mailed. */
		MAGIC_LINK_SIGNUP: z.enum(["on", "off"]).default("on"),
		/** Lifetime of an email-change link (mailed to the new address). */
		EMAIL_CHANGE_TTL_SECONDS: seconds(1800),
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
		/** Lossless removal of EXIF, XMP, IPTC, comments and text from uploaded images ("on"), or none ("off"). */
		STRIP_METADATA: z.enum(["on", "off"]).default("on"),
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
		/** Views and button presses of the provider-linking page (GET/POST /v1/auth/oauth/:provider/link) per client IP. */
		RATE_LIMIT_LINK_IP: rateLimit("60/900"),
		/** Image and avatar uploads (new or replaced bytes) per user. */
		RATE_LIMIT_UPLOAD_USER: rateLimit("120/600"),
		/** Failed admin API authentications (missing or wrong ADMIN_API_KEY) per client IP. */
		RATE_LIMIT_ADMIN_AUTH_IP: rateLimit("20/900"),
		/** Bearer key of the admin API (/v1/admin), at least 32 bytes; unset, those routes answer 404. */
		ADMIN_API_KEY: optional,
		/** Where signed events are posted (src/services/events.ts); with WEBHOOK_SECRET, turns events on. */
		WEBHOOK_URL: optional,
		/** Standard Webhooks signing secret: `whsec_` + base64 of at least 24 bytes, or at least 32 bytes. */
		WEBHOOK_SECRET: optional,
		/** Passkey relying party: a domain (or an IP literal in local development); default APP_URL's host. */
		WEBAUTHN_RP_ID: optional,
		/** Origins passkey ceremonies may come from, compared verbatim; default APP_URL's origin. */
		WEBAUTHN_ORIGINS: list,
		/** Audit events older than this are pruned by the cron. */
		AUDIT_RETENTION_DAYS: z.coerce.number().int().positive().default(365),
		/** One structured log line per request ("on"), or none ("off"). */
		REQUEST_LOG: z.enum(["on", "off"]).default("on"),
		/**
		 * scrypt parameters for new password hashes, `N=<power of two>,r=<int>,p=<int>` within
		 * N*r*p <= 2^20 and 32 MiB; default OWASP's N=2^14,r=8,p=5. Existing hashes keep verifying
		 * (each stores its own) and are redone with these at their next login.
		 */
		PASSWORD_SCRYPT: optional.transform((value, ctx) => {
			if (value === undefined) return PASSWORD_PARAMS;
			const params = parseScryptParams(value);
			if (!params) {
				ctx.addIssue({
					code: "custom",
					message:
						'expected "N=<power of two from 1024>,r=<int>,p=<int>" with N*r*p <= 2^20 and 128*N*r within 32 MiB, e.g. "N=16384,r=8,p=5"',
				});
				return z.NEVER;
			}
			return params;
		}),
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
		if (
			!local &&
			env.JWT_SECRET_PREVIOUS !== undefined &&
			new TextEncoder().encode(env.JWT_SECRET_PREVIOUS).length < 32
		) {
			ctx.addIssue({
				code: "custom",
				path: ["JWT_SECRET_PREVIOUS"],
				message: "JWT_SECRET_PREVIOUS must be at least 32 bytes when set",
			});
		}
		if (env.JWT_ALGORITHM !== "HS256") {
			const problem = signingKeysProblem(env.JWT_ALGORITHM, env.JWT_SIGNING_KEYS);
			if (problem) ctx.addIssue({ code: "custom", path: ["JWT_SIGNING_KEYS"], message: problem });
		}
		if (env.ADMIN_API_KEY !== undefined && new TextEncoder().encode(env.ADMIN_API_KEY).length < 32) {
			ctx.addIssue({
				code: "custom",
				path: ["ADMIN_API_KEY"],
				message: "ADMIN_API_KEY must be at least 32 bytes when set (wrangler secret put ADMIN_API_KEY)",
			});
		}
		for (const issue of webhookProblems(env.WEBHOOK_URL, env.WEBHOOK_SECRET, local)) {
			ctx.addIssue({ code: "custom", ...issue });
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
		// Checked when set: the defaults derive from APP_URL, which must keep working for deployments
		// that do not offer passkeys (a browser refuses ceremonies for an unusable default anyway).
		if (env.WEBAUTHN_RP_ID !== undefined || env.WEBAUTHN_ORIGINS.length > 0) {
			const { rpId, origins } = webauthnSettings(env.APP_URL, env.WEBAUTHN_RP_ID, env.WEBAUTHN_ORIGINS);
			for (const issue of webauthnProblems(rpId ?? "", origins, local)) ctx.addIssue({ code: "custom", ...issue });
		}
	});

/** The receiver's address must be https, except a loopback address during local development. */
function webhookUrlProblem(value: string, local: boolean): string | null {
	let url: URL;
	try {
		url = new URL(value);
	} catch {
		return "WEBHOOK_URL must be an absolute URL";
	}
	if (url.username || url.password) return "WEBHOOK_URL must not carry credentials";
	if (url.protocol === "https:") return null;
	const loopback = ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
	if (url.protocol === "http:" && loopback && local) return null;
	return "WEBHOOK_URL must be https (http only for localhost or 127.0.0.1 in local development)";
}

/**
 * Each webhook variable well-formed when set (events are on only when both are). Messages never
 * echo the secret.
 */
function webhookProblems(
	url: string | undefined,
	secret: string | undefined,
	local: boolean,
): { path: string[]; message: string }[] {
	const problems: { path: string[]; message: string }[] = [];
	if (url !== undefined) {
		const problem = webhookUrlProblem(url, local);
		if (problem) problems.push({ path: ["WEBHOOK_URL"], message: problem });
	}
	if (secret !== undefined) {
		const key = webhookSigningKey(secret);
		const whsec = secret.startsWith("whsec_");
		if (!key || key.length < (whsec ? 24 : 32)) {
			problems.push({
				path: ["WEBHOOK_SECRET"],
				message:
					"WEBHOOK_SECRET must be whsec_ followed by the base64 of at least 24 random bytes, or at least 32 bytes (wrangler secret put WEBHOOK_SECRET)",
			});
		}
	}
	return problems;
}

/** What is wrong with a passkey relying party, named by variable. */
function webauthnProblems(rpId: string, origins: string[], local: boolean): { path: string[]; message: string }[] {
	if (!isValidRpId(rpId) || (!local && isIpLiteral(rpId))) {
		return [
			{
				path: ["WEBAUTHN_RP_ID"],
				message: "WEBAUTHN_RP_ID must be a lower-case domain name (or an IP literal for local development)",
			},
		];
	}
	return origins.flatMap((origin) => {
		const problem = originProblem(origin, rpId);
		return problem ? [{ path: ["WEBAUTHN_ORIGINS"], message: `${origin} ${problem}` }] : [];
	});
}

/** The passkey relying party: the variables, or APP_URL's host and origin when they are unset. */
function webauthnSettings(appUrl: string, rpId: string | undefined, origins: string[]) {
	let url: URL | undefined;
	try {
		url = new URL(appUrl);
	} catch {
		url = undefined;
	}
	const host = url?.hostname.replace(/^\[(.*)\]$/, "$1");
	return {
		rpId: rpId ?? host,
		origins: origins.length > 0 ? origins : url ? [url.origin] : [],
	};
}

export type Config = Omit<z.infer<typeof configSchema>, "PASSWORD_SCRYPT"> & {
	/** The parsed PASSWORD_SCRYPT: parameters of new password hashes. */
	PASSWORD_SCRYPT: ScryptParams;
	JWT_SECRET: string;
	/** The parsed JWT_SIGNING_KEYS (newest first); empty with HS256. */
	jwtSigningKeys: PrivateJwk[];
	ENCRYPTION_KEY: string;
	isLocal: boolean;
	appUrl: URL;
	/** Where and how events are signed and sent; null when WEBHOOK_URL or WEBHOOK_SECRET is unset. */
	webhook: WebhookTarget | null;
	/** Passkey relying party, resolved (src/lib/webauthn.ts). */
	webauthn: { rpId: string; origins: string[] };
};

function parseSigningKeys(value: string): PrivateJwk[] | null {
	try {
		const parsed: unknown = JSON.parse(value);
		const keys = (parsed as { keys?: unknown } | null)?.keys;
		return Array.isArray(keys) ? (keys as PrivateJwk[]) : null;
	} catch {
		return null;
	}
}

/** What is wrong with JWT_SIGNING_KEYS for `alg`, named without echoing any key material. */
function signingKeysProblem(alg: "ES256" | "EdDSA", value: string | undefined): string | null {
	const hint = "(npm run keys:generate prints one; wrangler secret put JWT_SIGNING_KEYS)";
	if (value === undefined) return `JWT_SIGNING_KEYS must be set when JWT_ALGORITHM is ${alg} ${hint}`;
	const keys = parseSigningKeys(value);
	if (!keys || keys.length === 0)
		return `JWT_SIGNING_KEYS must be a JWK set {"keys": [...]} with at least one key ${hint}`;
	const { kty, crv } = KEY_TYPES[alg];
	const kids = new Set<string>();
	for (const [index, key] of keys.entries()) {
		const k = key as Partial<Record<string, unknown>>;
		const text = (name: string) => typeof k[name] === "string" && (k[name] as string).length > 0;
		if (!text("kid") || kids.has(k.kid as string)) return `JWT_SIGNING_KEYS key ${index} needs a unique non-empty kid`;
		kids.add(k.kid as string);
		if (k.kty !== kty || k.crv !== crv || !text("x") || (alg === "ES256" && !text("y"))) {
			return `JWT_SIGNING_KEYS key ${index} is not an ${alg} key (expected kty ${kty}, crv ${crv})`;
		}
		if (!text("d")) return `JWT_SIGNING_KEYS key ${index} has no private part (d)`;
		if (k.alg !== undefined && k.alg !== alg)
			return `JWT_SIGNING_KEYS key ${index} is for ${String(k.alg)}, not ${alg}`;
	}
	return null;
}

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
		jwtSigningKeys:
			parsed.data.JWT_ALGORITHM === "HS256" ? [] : (parseSigningKeys(parsed.data.JWT_SIGNING_KEYS ?? "") ?? []),
		ENCRYPTION_KEY: parsed.data.ENCRYPTION_KEY ?? localEncryptionKey(),
		isLocal,
		appUrl: new URL(parsed.data.APP_URL),
		webhook:
			parsed.data.WEBHOOK_URL && parsed.data.WEBHOOK_SECRET
				? { url: parsed.data.WEBHOOK_URL, signingKey: webhookSigningKey(parsed.data.WEBHOOK_SECRET) as Uint8Array }
				: null,
		webauthn: webauthnSettings(parsed.data.APP_URL, parsed.data.WEBAUTHN_RP_ID, parsed.data.WEBAUTHN_ORIGINS) as {
			rpId: string;
			origins: string[];
		},
	};
	cache.set(env, config);
	return config;
}
