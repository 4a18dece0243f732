import type { Hook } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { validator } from "hono/validator";
import type { z } from "zod";
import { AppError } from "../lib/errors";
import { toFieldIssue } from "../lib/zod-issues";
import type { AppEnv } from "../types";

/** The localized `validation_failed` problem for a zod failure; `input` tells "missing" from "wrong type". */
function validationFailed(error: z.ZodError, input: unknown): AppError {
	const issues = error.issues.map((issue) => toFieldIssue(issue, input));
	return new AppError("validation_failed", { issues, params: { count: issues.length } });
}

/**
 * The `defaultHook` of every OpenAPIHono sub-app: a request that fails its route's schemas becomes
 * the localized `validation_failed` problem instead of zod's raw error.
 */
// biome-ignore lint/suspicious/noExplicitAny: the library types the hook's data per route; this one serves all.
export const validationHook: Hook<any, AppEnv, any, undefined> = (result) => {
	if (result.success) return;
	// On failure the validator hands over the raw input as `data`; the library's type omits it.
	const input: unknown = (result as { data?: unknown }).data;
	throw validationFailed(result.error, input);
};

/**
 * Route middleware for the two bodies that come either as JSON (apps) or as an HTML form (the
 * no-JavaScript pages): validates whichever was sent. The handler reads it with `jsonOrFormBody`.
 * The route definition documents both media types by reference, so the library adds no validator
 * of its own (it would insist on one of them).
 */
export function validateJsonOrForm<Schema extends z.ZodType>(schema: Schema): MiddlewareHandler<AppEnv> {
	const check = async (input: unknown) => {
		const result = await schema.safeParseAsync(input);
		if (!result.success) throw validationFailed(result.error, input);
		return result.data as object;
	};
	const json = validator("json", (value) => check(value));
	const form = validator("form", (value) => check(value));
	return async (c, next) => {
		if (!isFormRequest(c.req.header("Content-Type"))) return json(c, next);
		return form(c, async () => {
			c.req.addValidatedData("json", (c.req.valid as (target: string) => object)("form"));
			await next();
		});
	};
}

/** The body validated by `validateJsonOrForm(schema)`. */
export function jsonOrFormBody<Schema extends z.ZodType>(c: Context<AppEnv>, _schema: Schema): z.output<Schema> {
	return (c.req.valid as (target: string) => z.output<Schema>)("json");
}

/** True for the two content types HTML forms submit. */
export function isFormRequest(contentType: string | undefined): boolean {
	return /^(application\/x-www-form-urlencoded|multipart\/form-data)\b/i.test(contentType ?? "");
}
