import { z } from "zod";
import { SUPPORTED_LOCALES } from "./lib/i18n";
import { isCommonPassword, passwordEqualsEmail } from "./lib/password-policy";
import { isPlainText } from "./lib/plain-text";

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

export const registerBody = z
	.object({
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

export const emailBody = z.object({ email: emailSchema });

export const resetBody = z.object({ token: z.string().min(1).max(512), password: passwordSchema });

/** GET /v1/me/activity: how many of the newest events to return. */
export const activityQuery = z.object({ limit: z.coerce.number().int().min(1).max(100).default(20) });
