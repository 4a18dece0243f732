import { describe, expect, it } from "vitest";
import { api, send, uniqueEmail } from "../helpers/api";
import { appWith } from "../helpers/worker";

type HashStats = { in_flight: number; queued: number; peak_in_flight: number; peak_queued: number; refused: number };

describe("login bursts are bounded per isolate (item 12)", () => {
	it("security: 60 parallel logins: every answer 200, 401 or 429, and at most 2 hashes ever in flight", async () => {
		const results = await Promise.all(
			Array.from({ length: 60 }, (_, i) =>
				send("POST", "/v1/auth/login", { body: { email: uniqueEmail(`burst${i}`), password: `wrong password ${i}` } }),
			),
		);
		const statuses = new Set(results.map((res) => res.status));
		for (const status of statuses) expect([200, 401, 429]).toContain(status);
		for (const res of results) if (res.status === 429) expect(res.headers.get("Retry-After")).toMatch(/^\d+$/);
		const stats = (await (await api("/__dev/hashes")).json()) as HashStats;
		expect(stats.peak_in_flight).toBeGreaterThanOrEqual(1);
		expect(stats.peak_in_flight).toBeLessThanOrEqual(2);
		expect(stats.peak_queued).toBeLessThanOrEqual(32);
		expect(stats).toMatchObject({ in_flight: 0, queued: 0 });
	});

	it("security: the in-flight counter does not exist outside local development", async () => {
		const app = appWith({ ENVIRONMENT: "production", JWT_SECRET: "x".repeat(40), ENCRYPTION_KEY: "k".repeat(40) });
		const res = await app.send("GET", "/__dev/hashes");
		expect(res.status).toBe(404);
	});
});
