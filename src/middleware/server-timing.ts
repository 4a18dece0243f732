import { createMiddleware } from "hono/factory";
import { countRoundTrips, createCountingDb, createCountingReadDb, type QueryCounter } from "../db/client";
import type { AppEnv } from "../types";

/** Request header that asks for D1's row figures (local development only, see `serverTiming`). */
export const METER_HEADER = "X-D1-Meter";

/**
 * Local development only: counts the request's D1 round trips and reports them as
 * `Server-Timing: d1;desc="N round trips"` (read by `npm run bench`). A request sending
 * `X-D1-Meter: 1` also gets `X-D1-Rows-Read` / `X-D1-Rows-Written`, D1's own `meta.rows_read` and
 * `meta.rows_written` summed over the request, its waitUntil work (mail, audit events) included:
 * that response waits for the work, and reads are run twice for the figures (see
 * `CountingStatement`), so only `npm run scale` asks for it. Anywhere else this middleware only
 * compares one string, and the databases are used unwrapped.
 */
export const serverTiming = () =>
	createMiddleware<AppEnv>(async (c, next) => {
		if (c.env.ENVIRONMENT !== "development") return next();
		const metered = c.req.header(METER_HEADER) === "1";
		const counter: QueryCounter = { roundTrips: 0, rows: metered ? { read: 0, written: 0 } : undefined };
		c.set("deps", { ...c.get("deps"), db: createCountingDb(c.env.DB), dbRead: createCountingReadDb(c.env.DB) });
		const background: Promise<unknown>[] = [];
		if (metered) {
			const ctx = c.executionCtx;
			const waitUntil = ctx.waitUntil.bind(ctx);
			ctx.waitUntil = (promise: Promise<unknown>) => {
				background.push(promise);
				waitUntil(promise);
			};
		}
		await countRoundTrips(counter, next);
		await Promise.allSettled(background);
		// Without the meter, counted when the handler returns: waitUntil work (mail delivery) may be left out.
		const { roundTrips, rows } = counter;
		c.header("Server-Timing", `d1;desc="${roundTrips} round trip${roundTrips === 1 ? "" : "s"}"`, { append: true });
		if (rows) {
			c.header("X-D1-Rows-Read", String(rows.read));
			c.header("X-D1-Rows-Written", String(rows.written));
		}
	});
