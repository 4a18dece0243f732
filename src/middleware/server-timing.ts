import { createMiddleware } from "hono/factory";
import { countRoundTrips, createCountingDb, type QueryCounter } from "../db/client";
import type { AppEnv } from "../types";

/**
 * Local development only: counts the request's D1 round trips and reports them as
 * `Server-Timing: d1;desc="N round trips"` (read by `npm run bench`). Anywhere else it only
 * compares one string, and the database binding is used unwrapped.
 */
export const serverTiming = () =>
	createMiddleware<AppEnv>(async (c, next) => {
		if (c.env.ENVIRONMENT !== "development") return next();
		const counter: QueryCounter = { roundTrips: 0 };
		c.set("db", createCountingDb(c.env.DB));
		await countRoundTrips(counter, next);
		// Counted when the handler returns: statements still pending in waitUntil (mail delivery) may be left out.
		const { roundTrips } = counter;
		c.header("Server-Timing", `d1;desc="${roundTrips} round trip${roundTrips === 1 ? "" : "s"}"`, { append: true });
	});
