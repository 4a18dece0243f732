import { createMiddleware } from "hono/factory";
import { loadConfig } from "../config";
import { log } from "../lib/log";
import { REQUEST_ID_HEADER, clientRequestId } from "./request-id";
import type { AppEnv } from "../types";

/**
 * One structured line per request: method, path (never the query string, which can carry mailed
 * tokens), status, duration and request id, plus the user id once authentication ran. Nothing from
 * headers or bodies is logged. Runs right after the request id is assigned, so it also sees the
 * status of error responses.
 */
export const requestLog = () =>
	createMiddleware<AppEnv>(async (c, next) => {
		const started = Date.now();
		await next();
		// The config may be invalid (then the error handler has answered 500 and logged why).
		let enabled = true;
		try {
			enabled = loadConfig(c.env).REQUEST_LOG === "on";
		} catch {}
		if (!enabled) return;
		const status = c.res.status;
		log(status >= 500 ? "error" : "info", "request", {
			requestId: c.get("requestId"),
			clientRequestId: clientRequestId(c.req.header(REQUEST_ID_HEADER)),
			method: c.req.method,
			path: c.req.path,
			status,
			durationMs: Date.now() - started,
			userId: c.get("auth")?.user.id,
		});
	});
