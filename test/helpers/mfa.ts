import { decodeBase32IgnorePadding } from "@oslojs/encoding";
import { expect, vi } from "vitest";
import { totpCodeAtStep, totpStep } from "../../src/lib/totp";
import { login, send } from "./api";

/**
 * Pins the clock (Date only) to the middle of a 30-second step, so a test decides which step each
 * code belongs to and never races a step boundary.
 */
export function pinClock(): void {
	vi.useFakeTimers({ toFake: ["Date"] });
	vi.setSystemTime(Math.floor(Date.now() / 30_000) * 30_000 + 15_000);
}

/** Moves the pinned clock on by whole 30-second steps. */
export function nextStep(steps = 1): void {
	vi.setSystemTime(Date.now() + steps * 30_000);
}

/** The code an authenticator app shows for `secret` now (or `offsetSteps` steps away). */
export function totpCode(secret: string, offsetSteps = 0): string {
	return totpCodeAtStep(decodeBase32IgnorePadding(secret), totpStep(Date.now()) + offsetSteps);
}

/** Turns TOTP on for a signed-in user (fresh token); the clock moves to the next step after. */
export async function enableTotp(token: string) {
	const started = await send("POST", "/v1/me/mfa/totp", { token });
	expect(started.status).toBe(200);
	const { secret, otpauth_uri } = (await started.json()) as { secret: string; otpauth_uri: string };
	const verified = await send("POST", "/v1/me/mfa/totp/verify", { token, body: { code: totpCode(secret) } });
	expect(verified.status).toBe(200);
	const { recovery_codes } = (await verified.json()) as { recovery_codes: string[] };
	nextStep();
	return { secret, otpauthUri: otpauth_uri, recoveryCodes: recovery_codes };
}

export type MfaRequired = { mfa_required: true; mfa_token: string; expires_in: number; methods: string[] };

/** A password login of a TOTP user: the first step's answer. */
export async function firstStep(email: string, password?: string): Promise<MfaRequired> {
	const body = (await login(email, password)) as unknown as MfaRequired;
	expect(body).toEqual({
		mfa_required: true,
		mfa_token: expect.any(String),
		expires_in: 300,
		methods: ["totp", "recovery_code"],
	});
	return body;
}

/** POST /v1/auth/mfa */
export function secondStep(body: { mfa_token: string; code?: string; recovery_code?: string }) {
	return send("POST", "/v1/auth/mfa", { body });
}
