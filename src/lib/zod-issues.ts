import type { z } from "zod";
import type { FieldIssue } from "./errors";

/** The value at `path` inside `input`, or undefined when any step is missing. */
function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
	let value = input;
	for (const key of path) {
		if (value === null || typeof value !== "object") return undefined;
		value = Reflect.get(value, key);
	}
	return value;
}

/**
 * Maps a zod issue to a stable field code and a catalog key with its ICU parameters, so every
 * validation message is localized and `errors[].code` never depends on the language. `input` is
 * the validated value: zod drops `issue.input` by default, and a missing field ("required") must
 * not read as a wrong type.
 */
export function toFieldIssue(issue: z.core.$ZodIssue, input?: unknown): FieldIssue {
	const path = issue.path.map(String).join(".");
	switch (issue.code) {
		case "invalid_type":
			if (valueAt(input, issue.path) === undefined) return { path, code: "required", key: "validation.required" };
			return { path, code: "invalid_type", key: "validation.invalid_type", params: { expected: issue.expected } };
		case "too_small": {
			const minimum = Number(issue.minimum);
			if (issue.origin === "string")
				return { path, code: "too_small", key: "validation.too_small_string", params: { minimum } };
			if (issue.origin === "number" || issue.origin === "int")
				return { path, code: "too_small", key: "validation.too_small_number", params: { minimum } };
			return { path, code: "too_small", key: "validation.too_small", params: { minimum } };
		}
		case "too_big": {
			const maximum = Number(issue.maximum);
			if (issue.origin === "string")
				return { path, code: "too_big", key: "validation.too_big_string", params: { maximum } };
			if (issue.origin === "number" || issue.origin === "int")
				return { path, code: "too_big", key: "validation.too_big_number", params: { maximum } };
			return { path, code: "too_big", key: "validation.too_big", params: { maximum } };
		}
		case "invalid_format":
			if (issue.format === "email") return { path, code: "invalid_email", key: "validation.invalid_email" };
			if (issue.format === "url") return { path, code: "invalid_url", key: "validation.invalid_url" };
			return { path, code: "invalid_format", key: "validation.invalid_format" };
		case "invalid_value":
			return { path, code: "invalid_value", key: "validation.invalid_value" };
		case "unrecognized_keys":
			return { path: issue.keys.join(","), code: "unrecognized_keys", key: "validation.unrecognized_keys" };
		case "custom": {
			// Custom refinements name their own code; it doubles as the catalog key.
			const code = typeof issue.params?.code === "string" ? issue.params.code : "invalid";
			return { path, code, key: `validation.${code}`, params: issue.params };
		}
		default:
			return { path, code: "invalid", key: "validation.invalid" };
	}
}
