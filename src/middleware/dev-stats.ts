import type { Context } from "hono";
import { AppError } from "../lib/errors";
import { passwordHashStats } from "../lib/password";
import type { AppEnv } from "../types";

/**
 * GET /__dev/hashes: this isolate's password-hash counters (in flight, waiting, peaks, refused), so
 * the login-burst script (scripts/load-login-burst.mjs) can show how many hashes ever held memory at
 * once. Local development and tests only; everywhere else it does not exist (404).
 */
export function devHashStats(c: Context<AppEnv>): Response {
	if (!c.get("deps").config.isLocal) throw new AppError("not_found");
	const stats = passwordHashStats();
	return c.json(
		{
			in_flight: stats.running,
			queued: stats.queued,
			peak_in_flight: stats.peakRunning,
			peak_queued: stats.peakQueued,
			completed: stats.completed,
			refused: stats.rejected,
		},
		200,
		{ "Cache-Control": "no-store" },
	);
}
