import { z } from "zod";
import { ERROR_STATUS, type ErrorCode } from "./errors";

/**
 * Building blocks of the route definitions (`createRoute` in src/routes): problem+json responses
 * listing exactly the codes an operation can return, the headers clients rely on, and security.
 * Pure: no I/O, only zod schemas and plain OpenAPI objects.
 */

/** A documented response; plain enough for callers to extend (e.g. with an HTML alternative). */
export type ProblemResponse = {
	description: string;
	headers: HeadersObject;
	content: Record<string, { schema: z.ZodType | { type: "string" } }>;
};
type HeadersObject = Record<string, { description: string; schema: { type: "string"; format?: "uri" } }>;

/** Documented on every response: the language the body's sentences are in. */
export const CONTENT_LANGUAGE = {
	"Content-Language": { description: "Language of the human-readable text", schema: { type: "string" as const } },
} satisfies HeadersObject;

export const RETRY_AFTER = {
	"Retry-After": { description: "Seconds to wait before trying again", schema: { type: "string" as const } },
} satisfies HeadersObject;

export const LOCATION = {
	Location: { description: "URL of the created resource", schema: { type: "string" as const, format: "uri" as const } },
} satisfies HeadersObject;

export const ETAG = {
	ETag: {
		description: "Strong validator of the bytes (for If-None-Match / If-Match)",
		schema: { type: "string" as const },
	},
} satisfies HeadersObject;

const WWW_AUTHENTICATE = {
	"WWW-Authenticate": { description: "Bearer challenge (RFC 6750)", schema: { type: "string" as const } },
} satisfies HeadersObject;

const CONTENT_RANGE = {
	"Content-Range": { description: "`bytes */<size>`", schema: { type: "string" as const } },
} satisfies HeadersObject;

/** The codes that carry a bearer challenge (src/middleware/errors.ts). */
const CHALLENGED: readonly ErrorCode[] = ["unauthorized", "token_expired", "fresh_token_required"];

const fieldIssue = z
	.object({
		path: z.string().meta({ description: "Dotted path of the offending field ('' for the whole body)" }),
		code: z.string().meta({ description: "Stable machine-readable reason, e.g. required, too_small" }),
		message: z.string().meta({ description: "Localized sentence" }),
	})
	.meta({ id: "FieldIssue" });

/** RFC 9457 problem details whose `code` is one of `codes`. */
export function problemSchema(codes: readonly [ErrorCode, ...ErrorCode[]]) {
	return z.object({
		type: z.string().meta({ example: `urn:atrium:problem:${codes[0]}` }),
		title: z.string(),
		status: z.number().int(),
		code: z.enum(codes),
		detail: z.string(),
		errors: z.array(fieldIssue).optional().meta({ description: "Field issues (validation_failed only)" }),
	});
}

/** An error code, or a code answered with another status than its default (e.g. 410 token_expired). */
export type DocumentedError = ErrorCode | readonly [ErrorCode, number];

/**
 * The problem+json responses of an operation, one per status, each listing only the codes that
 * the operation can answer with that status, with the headers that come with them.
 */
export function problems(...errors: DocumentedError[]): Record<string, ProblemResponse> {
	const byStatus = new Map<number, ErrorCode[]>();
	for (const error of errors) {
		const [code, status] = typeof error === "string" ? [error, ERROR_STATUS[error]] : error;
		const codes = byStatus.get(status) ?? [];
		if (!codes.includes(code)) codes.push(code);
		byStatus.set(status, codes);
	}
	const responses: Record<string, ProblemResponse> = {};
	for (const [status, codes] of byStatus) {
		const [first, ...rest] = codes as [ErrorCode, ...ErrorCode[]];
		responses[String(status)] = {
			description: `Problem: ${codes.join(", ")}`,
			headers: {
				...CONTENT_LANGUAGE,
				...(status === 401 && codes.some((code) => CHALLENGED.includes(code)) ? WWW_AUTHENTICATE : {}),
				...(status === 429 || status === 503 ? RETRY_AFTER : {}),
				...(status === 416 ? CONTENT_RANGE : {}),
			},
			content: { "application/problem+json": { schema: problemSchema([first, ...rest]) } },
		};
	}
	return responses;
}

/**
 * Problem responses of a JSON-or-form post: a form post (an HTML page's button) receives them as
 * an HTML page instead. A 413 stays problem+json: the JSON body limit runs before the route.
 */
export function problemsOrPage(...errors: DocumentedError[]): Record<string, ProblemResponse> {
	const responses = problems(...errors);
	for (const [status, response] of Object.entries(responses)) {
		if (status === "413") continue;
		responses[status] = {
			...response,
			description: `${response.description} (a form post gets an HTML page)`,
			content: { ...response.content, "text/html": { schema: { type: "string" as const } } },
		};
	}
	return responses;
}

/** A JSON response whose body is `schema`. */
export function json<T extends z.ZodType>(description: string, schema: T, headers: HeadersObject = {}) {
	return {
		description,
		headers: { ...CONTENT_LANGUAGE, ...headers },
		content: { "application/json": { schema } },
	};
}

/** A required JSON request body. */
export function jsonBody<T extends z.ZodType>(schema: T) {
	return { required: true, content: { "application/json": { schema } } };
}

/**
 * A required body taken as JSON or as a form post (the no-JavaScript pages), both described by one
 * registered component: validateJsonOrForm validates it, not the library.
 */
export function jsonOrFormRequest(component: string) {
	const schema = { $ref: `#/components/schemas/${component}` };
	return {
		body: {
			required: true,
			content: { "application/json": { schema }, "application/x-www-form-urlencoded": { schema } },
		},
	};
}

/** An HTML page (the no-JavaScript flows behind mailed links). */
export function htmlPage(description: string) {
	return {
		description,
		headers: CONTENT_LANGUAGE,
		content: { "text/html": { schema: { type: "string" as const } } },
	};
}

/** Operations anyone may call. */
export const PUBLIC: { security: Record<string, string[]>[] } = { security: [] };

/** Operations that need `Authorization: Bearer <access token>`. */
export const BEARER: { security: Record<string, string[]>[] } = { security: [{ bearer: [] }] };

/** Admin API operations: `Authorization: Bearer <ADMIN_API_KEY>`. */
export const ADMIN_KEY: { security: Record<string, string[]>[] } = { security: [{ adminKey: [] }] };

/** Returned by every operation that reads or writes D1 or R2 when they are unavailable. */
export const OUTAGE: DocumentedError = "service_unavailable";

/** Failures of a required JSON body: invalid, too large (64 KB), or not JSON. */
export const BODY_ERRORS: DocumentedError[] = ["validation_failed", "payload_too_large", "unsupported_media_type"];

/** Failures of the bearer token itself (any authenticated operation). */
export const AUTH_ERRORS: DocumentedError[] = ["unauthorized", "token_expired"];
