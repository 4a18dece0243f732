import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/app";
import { hashToken } from "../../src/lib/crypto";
import { BASE, PASSWORD, expectProblem, login, register, send, signedInUser, uniqueEmail } from "../helpers/api";
import { enableTotp, firstStep, pinClock, totpCode } from "../helpers/mfa";

const app = createApp();

/**
 * POSTs JSON through the app in development with `X-D1-Meter: 1`, so Server-Timing counts every
 * D1 round trip of the request, its waitUntil work (audit events) included.
 */
async function metered(path: string, body: unknown, headers: Record<string, string> = {}) {
	const ctx = createExecutionContext();
	const request = new Request(new URL(path, BASE), {
		method: "POST",
		headers: { "Content-Type": "application/json", "X-D1-Meter": "1", ...headers },
		body: JSON.stringify(body),
	});
	const res = await app.fetch(request, { ...env, ENVIRONMENT: "development" }, ctx);
	await waitOnExecutionContext(ctx);
	const timing = /d1;desc="(\d+) round trips?"/.exec(res.headers.get("Server-Timing") ?? "");
	if (!timing) throw new Error(`no D1 round-trip count on ${path}`);
	return { res, roundTrips: Number(timing[1]) };
}

describe("D1 round trips of login and refresh: happy", () => {
	it("a password login without MFA takes 2 round trips (target <= 3): limits + account, then every write", async () => {
		const { email } = await signedInUser();
		const { res, roundTrips } = await metered("/v1/auth/login", { email, password: PASSWORD });
		expect(res.status).toBe(200);
		expect(await res.json()).toMatchObject({ token_type: "Bearer", refresh_token: expect.any(String) });
		expect(roundTrips).toBe(2);
	});

	it("a password login of a TOTP user (the mfa_required answer) also takes 2 round trips", async () => {
		const { email, token } = await signedInUser();
		await enableTotp(token);
		const { res, roundTrips } = await metered("/v1/auth/login", { email, password: PASSWORD });
		expect(res.status).toBe(200);
		expect(await res.json()).toMatchObject({ mfa_required: true });
		expect(roundTrips).toBe(2);
	});

	it("the MFA step with a TOTP code takes 7 round trips (was 11): limit + challenge, account limit, code, spend, account, session batch", async () => {
		pinClock();
		try {
			const { email, token } = await signedInUser();
			const { secret } = await enableTotp(token);
			const { mfa_token } = await firstStep(email);
			const { res, roundTrips } = await metered("/v1/auth/mfa", { mfa_token, code: totpCode(secret) });
			expect(res.status).toBe(200);
			expect(await res.json()).toMatchObject({ token_type: "Bearer", user: { email } });
			expect(roundTrips).toBe(7);
		} finally {
			vi.useRealTimers();
		}
	});

	it("a refresh takes 2 round trips (target <= 2): the spend, then the successor with the session read back", async () => {
		const { tokens } = await signedInUser();
		const { res, roundTrips } = await metered("/v1/auth/refresh", { refresh_token: tokens.refresh_token });
		expect(res.status).toBe(200);
		const body = (await res.json()) as { refresh_token: string };
		expect(body.refresh_token).not.toBe(tokens.refresh_token);
		expect(roundTrips).toBe(2);
		// The successor works: its session was read back live in the same batch.
		expect((await send("POST", "/v1/auth/refresh", { body: { refresh_token: body.refresh_token } })).status).toBe(200);
	});
});

describe("D1 round trips of login and refresh: error", () => {
	it("a wrong password costs the counting read and the audit event; an unknown email only the read", async () => {
		const { email } = await signedInUser();
		const wrong = await metered("/v1/auth/login", { email, password: "not the password at all" });
		await expectProblem(wrong.res, 401, "invalid_credentials");
		expect(wrong.roundTrips).toBe(2);
		const unknown = await metered("/v1/auth/login", { email: uniqueEmail("nobody"), password: PASSWORD });
		await expectProblem(unknown.res, 401, "invalid_credentials");
		expect(unknown.roundTrips).toBe(1);
	});

	it("an unconfirmed account is refused after one read and one write batch", async () => {
		const { email } = await register();
		const { res, roundTrips } = await metered("/v1/auth/login", { email, password: PASSWORD });
		await expectProblem(res, 403, "email_not_confirmed");
		expect(roundTrips).toBe(2);
	});

	it("an unknown refresh token takes the spend and one lookup, and is refused", async () => {
		const { res, roundTrips } = await metered("/v1/auth/refresh", { refresh_token: "not-a-token-anyone-was-given" });
		await expectProblem(res, 401, "invalid_refresh_token");
		expect(roundTrips).toBe(2);
	});
});

describe("D1 round trips of login and refresh: security", () => {
	it("the batched login still answers a reused refresh token by revoking the session", async () => {
		const { email } = await signedInUser();
		const first = await login(email);
		const rotated = await metered("/v1/auth/refresh", { refresh_token: first.refresh_token });
		expect(rotated.res.status).toBe(200);
		const successor = (await rotated.res.json()) as { refresh_token: string };
		// Outside the 10-second grace: a replay of the spent token is theft.
		await env.DB.prepare("update refresh_tokens set spent_at = spent_at - 60000 where token_hash = ?")
			.bind(hashToken(first.refresh_token))
			.run();
		const replay = await send("POST", "/v1/auth/refresh", { body: { refresh_token: first.refresh_token } });
		await expectProblem(replay, 401, "refresh_token_reused");
		const after = await send("POST", "/v1/auth/refresh", { body: { refresh_token: successor.refresh_token } });
		await expectProblem(after, 401, "invalid_refresh_token");
	});
});
