import { z } from "zod";
import { SUPPORTED_LOCALES } from "./lib/i18n";
import { isCommonPassword, passwordEqualsEmail } from "./lib/password-policy";
import { isPlainText } from "./lib/plain-text";
import { VARIANT_FITS, VARIANT_FORMATS, VARIANT_MAX_SIDE } from "./lib/variants";

export const PASSWORD_MIN = 10;
export const PASSWORD_MAX = 128;

export const emailSchema = z.email().max(254).meta({ example: "ada@example.com" });

/** Length policy, then the shipped list of common passwords (which holds only entries of a valid length). */
export const passwordSchema = z
	.string()
	.min(PASSWORD_MIN)
	.max(PASSWORD_MAX)
	.refine((password) => !isCommonPassword(password), {
		params: { code: "password_too_common" },
		message: "password too common",
	});

/** A shipped locale code (case-insensitive on input, canonical on output). */
export const localeSchema = z
	.string()
	.transform((value, ctx) => {
		const match = SUPPORTED_LOCALES.find((code) => code.toLowerCase() === value.trim().toLowerCase());
		if (!match) {
			ctx.addIssue({ code: "custom", params: { code: "unknown_locale" }, message: "unknown locale" });
			return z.NEVER;
		}
		return match;
	})
	.meta({ description: `One of the shipped locales (GET /v1/locales)`, example: "fr" });

const nameSchema = z
	.string()
	.trim()
	.min(1)
	.max(100)
	.refine(isPlainText, { params: { code: "invalid_name" }, message: "name must be one line of plain text" });

/** Refuses a password equal to the account's email, with a localized reason. */
function passwordNotEmail<T extends { email: string; password: string }>(value: T, ctx: z.RefinementCtx) {
	if (passwordEqualsEmail(value.password, value.email)) {
		ctx.addIssue({
			code: "custom",
			path: ["password"],
			params: { code: "password_equals_email" },
			message: "password equals email",
		});
	}
}

/** An app page to come back to from the mailed link (checked against APP_REDIRECT_URLS by the route). */
const redirectToSchema = z.string().max(2048).optional().meta({
	description: "Must match an APP_REDIRECT_URLS entry (origin and path)",
	example: "https://app.example/welcome",
});

export const registerBody = z
	.object({
		redirect_to: redirectToSchema,
		email: emailSchema,
		password: passwordSchema,
		name: nameSchema.optional(),
		locale: localeSchema.optional(),
	})
	.superRefine(passwordNotEmail);

export const loginBody = z.object({ email: z.string().max(254), password: z.string().max(1024) });

export const refreshBody = z.object({ refresh_token: z.string().min(1).max(512) });

export const patchMeBody = z.object({ name: nameSchema.nullable().optional(), locale: localeSchema.optional() });

export const changePasswordBody = z.object({
	current_password: z.string().max(1024).optional(),
	new_password: passwordSchema,
});

export const tokenBody = z.object({ token: z.string().min(1).max(512) });

export const tokenQuery = z.object({ token: z.string().max(512).optional() });

export const emailBody = z.object({ email: emailSchema, redirect_to: redirectToSchema });

export const resetBody = z.object({ token: z.string().min(1).max(512), password: passwordSchema });

/** POST /v1/auth/magic-link: where to mail a link and code, and (for a new address) in which language. */
export const magicLinkBody = z.object({
	email: emailSchema,
	redirect_to: redirectToSchema,
	locale: localeSchema.optional(),
});

/** POST /v1/auth/magic-link/verify: the mailed link's token, or the address and its 6-digit code. */
export const magicVerifyBody = z
	.object({
		token: z.string().min(1).max(512).optional(),
		email: z.string().max(254).optional(),
		code: z
			.string()
			.regex(/^\d{6}$/)
			.optional()
			.meta({ example: "042519" }),
	})
	.superRefine((value, ctx) => {
		const byToken = value.token !== undefined;
		const byCode = value.email !== undefined || value.code !== undefined;
		if (byToken === byCode || (byCode && (value.email === undefined || value.code === undefined))) {
			ctx.addIssue({
				code: "custom",
				path: ["token"],
				params: { code: "token_or_email_code" },
				message: "send token, or email and code",
			});
		}
	});

/** POST /v1/me/email */
export const emailChangeBody = z.object({ new_email: emailSchema });

/** A second-factor code typed by the user: a TOTP code, or (to turn TOTP off) a recovery code. */
export const mfaCodeBody = z.object({ code: z.string().min(1).max(64).meta({ example: "123456" }) });

/** POST /v1/auth/mfa: the `mfa_token` of the first step and exactly one of a TOTP or a recovery code. */
export const mfaStepBody = z
	.object({
		mfa_token: z.string().min(1).max(512),
		code: z.string().min(1).max(64).optional(),
		recovery_code: z.string().min(1).max(64).optional(),
	})
	.superRefine((value, ctx) => {
		if ((value.code === undefined) === (value.recovery_code === undefined)) {
			ctx.addIssue({
				code: "custom",
				path: ["code"],
				params: { code: "code_or_recovery_code" },
				message: "send code or recovery_code",
			});
		}
	});

const base64url = z
	.string()
	.min(1)
	.max(16_384)
	.regex(/^[A-Za-z0-9_-]+=*$/);

/** A RegistrationResponseJSON (navigator.credentials.create(), serialized); extra fields are ignored. */
const registrationCredential = z
	.object({
		id: base64url,
		rawId: base64url.optional(),
		type: z.literal("public-key"),
		response: z.object({
			clientDataJSON: base64url,
			attestationObject: base64url,
			transports: z.array(z.string().max(32)).max(16).optional(),
		}),
	})
	.meta({ id: "RegistrationResponseJSON" });

/** POST /v1/me/passkeys */
export const passkeyRegistrationBody = z.object({
	challenge_id: z.string().min(1).max(64),
	credential: registrationCredential,
	name: nameSchema.optional().meta({ description: "A label for the list (default: Passkey)", example: "Laptop" }),
});

/** An AuthenticationResponseJSON (navigator.credentials.get(), serialized); extra fields are ignored. */
const authenticationCredential = z
	.object({
		id: base64url,
		rawId: base64url.optional(),
		type: z.literal("public-key"),
		response: z.object({
			clientDataJSON: base64url,
			authenticatorData: base64url,
			signature: base64url,
			userHandle: base64url.nullable().optional(),
		}),
	})
	.meta({ id: "AuthenticationResponseJSON" });

/** POST /v1/auth/passkey */
export const passkeySignInBody = z.object({
	challenge_id: z.string().min(1).max(64),
	credential: authenticationCredential,
});

/** DELETE /v1/me/passkeys/{id} */
export const passkeyParam = z.object({
	id: z
		.string()
		.min(1)
		.max(64)
		.meta({ param: { name: "id", in: "path" }, example: "k3j5h2g4f6d8s0a1q2w3e4r5t6y7" }),
});

/** DELETE /v1/me/sessions/{id} */
export const sessionParam = z.object({
	id: z
		.string()
		.max(64)
		.meta({ param: { name: "id", in: "path" }, example: "k2n4vq7xw3m5p8r2t6y9b4c7" }),
});

/** GET /v1/me/activity: how many of the newest events to return. */
export const activityQuery = z.object({ limit: z.coerce.number().int().min(1).max(100).default(20) });

// Response bodies. Handlers answer through these (the route definitions type `c.json`), and the
// presenters in src/services return their inferred types, so the document cannot drift.

const timestamp = z.iso.datetime({ offset: true }).meta({ example: "2026-01-31T12:00:00.000Z" });

export const messageResponse = z.object({ message: z.string() }).meta({ id: "Message" });

export const userResponse = z
	.object({
		id: z.string(),
		email: z.string(),
		name: z.string().nullable(),
		locale: z.string(),
		email_confirmed: z.boolean(),
		has_password: z.boolean(),
		avatar_url: z.url().nullable().meta({ description: "Carries ?v=<etag>, so it changes with the avatar" }),
		created_at: timestamp,
		accounts: z.array(z.object({ provider: z.string() })),
	})
	.meta({ id: "User" });

export type UserBody = z.infer<typeof userResponse>;

export const tokenResponse = z
	.object({
		access_token: z.string(),
		refresh_token: z.string(),
		token_type: z.literal("Bearer"),
		expires_in: z.number().int().meta({ description: "Seconds the access token lives" }),
		refresh_expires_at: timestamp,
		user: userResponse,
	})
	.meta({ id: "Tokens" });

export type TokenBody = z.infer<typeof tokenResponse>;

/** A first factor's answer when the account has TOTP on: no tokens until POST /v1/auth/mfa. */
export const mfaRequiredResponse = z
	.object({
		mfa_required: z.literal(true),
		mfa_token: z.string(),
		expires_in: z.number().int().meta({ description: "Seconds the mfa_token lives" }),
		methods: z.array(z.enum(["totp", "recovery_code"])),
	})
	.meta({ id: "MfaRequired" });

export type MfaRequiredBody = z.infer<typeof mfaRequiredResponse>;

/** What a sign-in answers: tokens, or the second step it still needs. */
export const signInResponse = z.union([tokenResponse, mfaRequiredResponse]);

export const mfaStatusResponse = z
	.object({
		totp: z.boolean(),
		recovery_codes_left: z.number().int(),
		passkeys: z.number().int().meta({ description: "How many passkeys are registered" }),
	})
	.meta({ id: "MfaStatus" });

/** GET /v1/me: the user and their second factors. */
export const meResponse = userResponse.extend({ mfa: mfaStatusResponse }).meta({ id: "Me" });

export const totpEnrolmentResponse = z
	.object({
		secret: z.string().meta({ description: "Base32, for manual entry" }),
		otpauth_uri: z.string().meta({ description: "otpauth://totp/... for a QR code" }),
	})
	.meta({ id: "TotpEnrolment" });

export const recoveryCodesResponse = z
	.object({ recovery_codes: z.array(z.string()).meta({ description: "Shown once; each works once" }) })
	.meta({ id: "RecoveryCodes" });

export const sessionResponse = z
	.object({
		id: z.string(),
		current: z.boolean().meta({ description: "The session of the token making this request" }),
		created_at: timestamp,
		last_used_at: timestamp.nullable().meta({ description: "Last refresh; null until the first" }),
		user_agent: z.string().nullable(),
		ip: z.string().nullable(),
	})
	.meta({ id: "Session" });

export type SessionBody = z.infer<typeof sessionResponse>;

export const passkeyResponse = z
	.object({
		id: z.string(),
		name: z.string(),
		created_at: timestamp,
		last_used_at: timestamp.nullable().meta({ description: "Last sign-in with it; null until the first" }),
	})
	.meta({ id: "Passkey" });

export type PasskeyBody = z.infer<typeof passkeyResponse>;

export const passkeyListResponse = z.object({ passkeys: z.array(passkeyResponse) }).meta({ id: "PasskeyList" });

const publicKeyDescriptor = z.object({ type: z.literal("public-key"), id: z.string() });

export const passkeyCreationOptionsResponse = z
	.object({
		challenge_id: z.string().meta({ description: "Send it back with the credential (5 minutes, single-use)" }),
		options: z
			.object({
				rp: z.object({ id: z.string(), name: z.string() }),
				user: z.object({
					id: z.string().meta({ description: "Opaque random user handle, base64url" }),
					name: z.string(),
					displayName: z.string(),
				}),
				challenge: z.string().meta({ description: "base64url" }),
				pubKeyCredParams: z.array(z.object({ type: z.literal("public-key"), alg: z.number().int() })),
				timeout: z.number().int(),
				excludeCredentials: z.array(publicKeyDescriptor),
				authenticatorSelection: z.object({
					residentKey: z.literal("required"),
					requireResidentKey: z.literal(true),
					userVerification: z.literal("required"),
				}),
				attestation: z.literal("none"),
			})
			.meta({
				id: "PublicKeyCredentialCreationOptionsJSON",
				description: "For PublicKeyCredential.parseCreationOptionsFromJSON()",
			}),
	})
	.meta({ id: "PasskeyCreationOptions" });

export const passkeyRequestOptionsResponse = z
	.object({
		challenge_id: z.string().meta({ description: "Send it back with the credential (5 minutes, single-use)" }),
		options: z
			.object({
				challenge: z.string().meta({ description: "base64url" }),
				rpId: z.string(),
				timeout: z.number().int(),
				userVerification: z.literal("required"),
				allowCredentials: z.array(publicKeyDescriptor).meta({ description: "Empty: a discoverable credential" }),
			})
			.meta({
				id: "PublicKeyCredentialRequestOptionsJSON",
				description: "For PublicKeyCredential.parseRequestOptionsFromJSON()",
			}),
	})
	.meta({ id: "PasskeyRequestOptions" });

/** The callback's answer when it linked an identity and has no redirect_uri to go back to. */
export const oauthLinkedResponse = z
	.object({ message: z.string(), provider: z.string(), provider_user_id: z.string() })
	.meta({ id: "OAuthLinked" });

export const imageResponse = z
	.object({
		id: z.string(),
		filename: z.string(),
		content_type: z.string().meta({ example: "image/png" }),
		size: z.number().int(),
		width: z.number().int(),
		height: z.number().int(),
		etag: z.string().meta({ description: 'Quoted, as in the ETag header: "…"' }),
		metadata_stripped: z.boolean().meta({
			description:
				"The stored bytes went through metadata stripping (EXIF, XMP, IPTC, comments, text removed), whether or not any was found; false when STRIP_METADATA=off",
		}),
		created_at: timestamp,
		updated_at: timestamp,
		url: z.url().meta({ description: "The bytes (GET with the same bearer token)" }),
		content_url: z.url().meta({
			description:
				"The bytes without Authorization (for <img src>): signed, bound to this etag, valid SIGNED_URL_SECONDS or more",
		}),
	})
	.meta({ id: "Image" });

export type ImageBody = z.infer<typeof imageResponse>;

const variantSide = (which: string, number: z.ZodNumber = z.number()) =>
	number
		.int()
		.min(1)
		.max(VARIANT_MAX_SIDE)
		.optional()
		.meta({ description: `${which} of the variant, 1..${VARIANT_MAX_SIDE} pixels` });
const variantFit = z
	.enum(VARIANT_FITS)
	.optional()
	.meta({ description: "How the variant fits w x h (default scale-down: never enlarged)" });
const variantFormat = z.enum(VARIANT_FORMATS).optional().meta({ description: "The variant's format (default webp)" });

/** `?w=&h=&fit=&format=` of GET /v1/images/:id/content: one variant instead of the original. */
export const variantQuery = z.object({
	w: variantSide("Width", z.coerce.number()),
	h: variantSide("Height", z.coerce.number()),
	fit: variantFit,
	format: variantFormat,
});

/** POST /v1/images/:id/links: a share link of the original, or of one variant (w, h, fit, format). */
export const imageLinkBody = z.object({
	expires_in: z
		.number()
		.int()
		.min(60)
		.max(604_800)
		.optional()
		.meta({ description: "Seconds the link lives (default 86400)" }),
	w: variantSide("Width"),
	h: variantSide("Height"),
	fit: variantFit,
	format: variantFormat,
});

export const imageLinkResponse = z
	.object({
		url: z.url().meta({ description: "The bytes without Authorization, until expires_at" }),
		expires_at: timestamp,
	})
	.meta({ id: "ImageLink" });

export type ImageLinkBody = z.infer<typeof imageLinkResponse>;

export const imageListResponse = z
	.object({ images: z.array(imageResponse), next_cursor: z.string().nullable() })
	.meta({ id: "ImageList" });

export const eventResponse = z
	.object({
		id: z.string(),
		type: z.string().meta({ example: "login" }),
		created_at: timestamp,
		ip: z.string().nullable(),
		user_agent: z.string().nullable(),
		detail: z.record(z.string(), z.unknown()),
	})
	.meta({ id: "Event" });

export type EventBody = z.infer<typeof eventResponse>;

export const linkedAccountResponse = z
	.object({ provider: z.string(), provider_user_id: z.string(), email: z.string().nullable(), linked_at: timestamp })
	.meta({ id: "LinkedAccount" });

export const exportResponse = z
	.object({
		format: z.literal(1),
		exported_at: timestamp,
		profile: userResponse.extend({ updated_at: timestamp, last_login_at: timestamp.nullable() }),
		linked_accounts: z.array(linkedAccountResponse),
		images: z.array(imageResponse),
		image_variants: z
			.object({ count: z.number().int(), bytes: z.number().int() })
			.meta({ description: "Variants (resized copies) of the images kept in storage: how many, and their bytes" }),
		sessions: z.array(
			z.object({
				id: z.string(),
				created_at: timestamp,
				expires_at: timestamp,
				revoked_at: timestamp.nullable(),
				last_used_at: timestamp.nullable(),
				ip: z.string().nullable(),
				user_agent: z.string().nullable(),
			}),
		),
		mfa: z.object({
			totp: z.boolean(),
			totp_enabled_at: timestamp.nullable(),
			recovery_codes_left: z.number().int(),
		}),
		passkeys: z.array(
			passkeyResponse.extend({ algorithm: z.enum(["ES256", "RS256"]).meta({ description: "Signature algorithm" }) }),
		),
		activity: z.array(eventResponse),
	})
	.meta({ id: "Export" });

export type ExportBody = z.infer<typeof exportResponse>;

/** GET /v1/admin/users/{id} and the other per-user admin routes. */
export const adminUserParam = z.object({
	id: z
		.string()
		.max(64)
		.meta({ param: { name: "id", in: "path" }, example: "k2n4vq7xw3m5p8r2t6y9b4c7" }),
});

/** The admin user object: the /v1/me fields plus what only the app's backend sees. */
export const adminUserResponse = meResponse
	.extend({
		disabled: z.boolean().meta({ description: "Set by POST /v1/admin/users/{id}/disable: every sign-in answers 403" }),
		last_login_at: timestamp.nullable().meta({ description: "Last completed sign-in; null before the first" }),
		sessions: z.number().int().meta({ description: "Live sessions (not revoked, not expired)" }),
	})
	.meta({ id: "AdminUser" });

export type AdminUserBody = z.infer<typeof adminUserResponse>;

export const adminUserListResponse = z
	.object({ users: z.array(adminUserResponse), next_cursor: z.string().nullable() })
	.meta({ id: "AdminUserList" });
