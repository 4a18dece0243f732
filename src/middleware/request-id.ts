import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../types";

/** The header both ways: Atrium's id on every response. */
export const REQUEST_ID_HEADER = "X-Request-Id";

/**
 * Gives every request an id generated here and answers it in `X-Request-Id`. A client-sent
 * `X-Request-Id` is never adopted: anyone could otherwise make their requests collide with (or
 * impersonate) someone else's in the logs. The request log keeps the client's value, cleaned, under
 * another name (`clientRequestId`) so a caller's own correlation id still helps support.
 */
export const requestId = () =>
	createMiddleware<AppEnv>(async (c, next) => {
		c.set("requestId", crypto.randomUUID());
		c.header(REQUEST_ID_HEADER, c.get("requestId"));
		await next();
	});

/** The client's own `X-Request-Id`, reduced to a short token-safe string for the log (or undefined). */
export function clientRequestId(header: string | undefined): string | undefined {
	const cleaned = header?.replace(/[^\w.:-]/g, "").slice(0, 64);
	return cleaned ? cleaned : undefined;
}
