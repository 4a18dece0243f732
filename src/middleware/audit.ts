import type { Context } from "hono";
import { log } from "../lib/log";
import { type AuditDetail, type AuditEvent, type AuditEventType, recordEvent } from "../services/audit";
import type { AppEnv } from "../types";

/**
 * Where the request came from: the only place the client address (CF-Connecting-IP, which
 * Cloudflare sets and clients cannot forge) and the user agent are read, for the audit trail,
 * sessions and rate limits alike.
 */
export function requestOrigin(c: Context<AppEnv>): Pick<AuditEvent, "ip" | "userAgent"> {
	return { ip: c.req.header("CF-Connecting-IP")?.trim() || null, userAgent: c.req.header("User-Agent") ?? null };
}

/**
 * Records an audit event for `userId` after the response has been sent (waitUntil), so it adds no
 * latency and cannot fail the request; a failed write is logged instead.
 */
export function audit(c: Context<AppEnv>, type: AuditEventType, userId: string, detail?: AuditDetail): void {
	const event: AuditEvent = { userId, type, ...requestOrigin(c), detail };
	const requestId = c.get("requestId");
	c.executionCtx.waitUntil(
		recordEvent(c.get("deps").db, event).catch((error: unknown) =>
			log("error", "audit_write_failed", {
				requestId,
				type,
				userId,
				message: error instanceof Error ? error.message.split("\n")[0] : String(error),
			}),
		),
	);
}
