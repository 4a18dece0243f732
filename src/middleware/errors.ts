import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { html } from "hono/html";
import { HTTPException } from "hono/http-exception";
import { ConfigError } from "../config";
import { describeError, infrastructureFailure } from "../lib/error-info";
import { AppError, fieldError } from "../lib/errors";
import { PAGE_HEADERS, statusMessage } from "../lib/html";
import { formatBytes, translator } from "../lib/i18n";
import { log } from "../lib/log";
import { pageResponse } from "./page";
import { isFormRequest } from "./validate";
import { type ProblemBody, toProblem } from "../lib/problem";
import type { AppEnv } from "../types";

const BEARER_CHALLENGE: Partial<Record<AppError["code"], string>> = {
	unauthorized: 'Bearer realm="atrium"',
	token_expired: 'Bearer realm="atrium", error="invalid_token", error_description="expired"',
	fresh_token_required: 'Bearer realm="atrium", error="insufficient_user_authentication"',
};

/** Largest JSON (or form) body the API reads; its 413 names it in the request's language. */
export const JSON_BODY_LIMIT = 64 * 1024;

function fromHttpException(error: HTTPException, lang: string): AppError {
	if (error.status === 413) {
		return new AppError("payload_too_large", { params: { limit: formatBytes(lang, JSON_BODY_LIMIT) } });
	}
	if (error.status === 400 && /json/i.test(error.message)) {
		return fieldError("", "invalid_json");
	}
	if (error.status === 401) return new AppError("unauthorized");
	if (error.status === 404) return new AppError("not_found");
	if (error.status === 405) return new AppError("method_not_allowed");
	// A body whose Content-Type the operation does not declare (the route layer's media-type gate).
	if (error.status === 415) return new AppError("unsupported_media_type");
	if (error.status >= 400 && error.status < 500) {
		return fieldError("", "invalid");
	}
	return new AppError("internal_error", { cause: error });
}

/** Renders any AppError as problem+json in the request's language. */
export function problemResponse(c: Context<AppEnv>, error: AppError): Response {
	const t = c.get("t") ?? translator(c.env.DEFAULT_LOCALE ?? "en");
	const headers = new Headers(error.headers);
	headers.set("Content-Type", "application/problem+json; charset=utf-8");
	headers.set("Cache-Control", "no-store");
	const challenge = BEARER_CHALLENGE[error.code];
	// A challenge belongs to bearer failures (401) only: a mailed link's 410 token_expired has none.
	if (challenge && error.status === 401 && !headers.has("WWW-Authenticate")) headers.set("WWW-Authenticate", challenge);
	return new Response(JSON.stringify(toProblem(error, t)), { status: error.status, headers });
}

/** How long a client should wait after a storage outage before it tries again. */
export const SERVICE_UNAVAILABLE_RETRY_SECONDS = 5;

/**
 * The single error boundary: expected failures keep their code, transient D1/R2 failures become
 * 503 with Retry-After (the request may simply be retried), everything else becomes a 500.
 */
export const onError: ErrorHandler<AppEnv> = (error, c) => {
	if (error instanceof AppError) return problemResponse(c, error);
	if (error instanceof HTTPException)
		return problemResponse(c, fromHttpException(error, c.get("lang") ?? c.env.DEFAULT_LOCALE ?? "en"));
	const requestId = c.get("requestId");
	if (error instanceof ConfigError) {
		log("error", "config_invalid", { requestId, message: error.message });
		return problemResponse(c, new AppError("internal_error"));
	}
	const source = infrastructureFailure(error);
	if (source) {
		log("error", "infrastructure_unavailable", { requestId, source, ...describeError(error) });
		const retryAfter = String(SERVICE_UNAVAILABLE_RETRY_SECONDS);
		return problemResponse(c, new AppError("service_unavailable", { headers: { "Retry-After": retryAfter } }));
	}
	log("error", "unhandled_error", { requestId, ...describeError(error) });
	return problemResponse(c, new AppError("internal_error"));
};

export const notFound: NotFoundHandler<AppEnv> = (c) => problemResponse(c, new AppError("not_found"));

/**
 * A problem+json answer turned into the HTML page a browser gets instead (a form post, a page
 * opened from a link): same status and Retry-After, its title and reasons, in the request's language.
 */
export async function asProblemPage(c: Context<AppEnv>, res: Response, title?: string): Promise<Response> {
	const problem = (await res.json()) as ProblemBody;
	const headers: Record<string, string> = { ...PAGE_HEADERS };
	const retryAfter = res.headers.get("Retry-After");
	if (retryAfter) headers["Retry-After"] = retryAfter;
	const reasons = problem.errors?.length ? problem.errors.map((issue) => issue.message) : [problem.detail];
	const body = html`${reasons.map((text) => statusMessage(text, "error"))}`;
	return pageResponse(c, title ?? problem.title, body, res.status as 400, headers);
}

/**
 * The error boundary of routes whose POSTs may come from an HTML form: a form post never gets
 * JSON back, but the page `asProblemPage` makes (titled with `titleKey` when given); anything else
 * gets problem+json as everywhere.
 */
export function formAwareOnError(titleKey?: string): ErrorHandler<AppEnv> {
	return async (error, c) => {
		const res = await onError(error, c);
		if (c.req.method !== "POST" || !isFormRequest(c.req.header("Content-Type"))) return res;
		return asProblemPage(c, res, titleKey ? c.get("t")(titleKey) : undefined);
	};
}
