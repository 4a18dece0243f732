import { createTOTPKeyURI, generateHOTP } from "@oslojs/otp";
import { constantTimeEqualText } from "./crypto";

/** RFC 6238 parameters of the contract: SHA-1, 6 digits, 30-second steps, one step either side. */
export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
const WINDOW_STEPS = 1;

/** The time step (RFC 6238 "T") that `unixMs` falls in. */
export function totpStep(unixMs: number, periodSeconds = TOTP_PERIOD_SECONDS): number {
	return Math.floor(unixMs / 1000 / periodSeconds);
}

/** The code of one time step (RFC 6238: HOTP of the step counter). */
export function totpCodeAtStep(key: Uint8Array, step: number, digits = TOTP_DIGITS): string {
	return generateHOTP(key, BigInt(step), digits);
}

/**
 * The step whose code `code` is, looking one step either side of `unixMs`, or null. Every step is
 * computed (no early exit), so the time taken does not say which step matched. The caller refuses
 * a step at or before the last accepted one: that is what makes a code single-use.
 */
export function matchTotpStep(key: Uint8Array, code: string, unixMs: number): number | null {
	if (!/^\d{6}$/.test(code)) return null;
	const now = totpStep(unixMs);
	let matched: number | null = null;
	for (let step = now - WINDOW_STEPS; step <= now + WINDOW_STEPS; step++) {
		if (constantTimeEqualText(totpCodeAtStep(key, step), code) && matched === null) matched = step;
	}
	return matched;
}

/** The otpauth:// URI authenticator apps scan (issuer and account name shown in the app). */
export function totpUri(issuer: string, accountName: string, key: Uint8Array): string {
	return createTOTPKeyURI(issuer, accountName, key, TOTP_PERIOD_SECONDS, TOTP_DIGITS);
}
