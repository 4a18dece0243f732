import { zValidator } from "@hono/zod-validator";
import type { MiddlewareHandler, ValidationTargets } from "hono";
import type { z } from "zod";
import { AppError } from "../lib/errors";
import { toFieldIssue } from "../lib/zod-issues";

/** Marks a validator so the OpenAPI generator can find the schema it enforces. */
export const VALIDATION_SCHEMA = Symbol("atrium.validation");

export type ValidationMeta = { target: keyof ValidationTargets; schema: z.ZodType };

/**
 * zValidator that fails with a localized `validation_failed` problem instead of zod's raw
 * error, and records its schema for the generated OpenAPI document.
 */
export function validate<Target extends keyof ValidationTargets, Schema extends z.ZodType>(
	target: Target,
	schema: Schema,
) {
	const middleware = zValidator(target, schema, (result) => {
		if (!result.success) {
			// On failure `data` is the raw input: toFieldIssue reads it to tell "missing" from "wrong type".
			const input: unknown = result.data;
			const issues = result.error.issues.map((issue) => toFieldIssue(issue, input));
			throw new AppError("validation_failed", { issues, params: { count: issues.length } });
		}
	});
	const meta: ValidationMeta = { target, schema };
	Object.defineProperty(middleware, VALIDATION_SCHEMA, { value: meta });
	return middleware;
}

/**
 * Validates a body sent either as JSON or as an HTML form (the no-JavaScript pages post forms);
 * either way the handler reads it with `c.req.valid("json")`.
 */
export function validateJsonOrForm<Schema extends z.ZodType>(schema: Schema) {
	const json = validate("json", schema);
	// Typed loosely on purpose: the form result is moved into the "json" slot the handler reads.
	const form: MiddlewareHandler = validate("form", schema);
	const middleware: typeof json = async (c, next) => {
		if (!isFormRequest(c.req.header("Content-Type"))) {
			await json(c, next);
			return;
		}
		await form(c, async () => {
			const data: object = (c.req.valid as (target: string) => object)("form");
			c.req.addValidatedData("json", data);
			await next();
		});
	};
	Object.defineProperty(middleware, VALIDATION_SCHEMA, { value: { target: "json", schema } satisfies ValidationMeta });
	return middleware;
}

/** True for the two content types HTML forms submit. */
export function isFormRequest(contentType: string | undefined): boolean {
	return /^(application\/x-www-form-urlencoded|multipart\/form-data)\b/i.test(contentType ?? "");
}
