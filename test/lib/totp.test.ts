import { describe, expect, it } from "vitest";
import { matchTotpStep, totpCodeAtStep, totpStep, totpUri } from "../../src/lib/totp";

// RFC 6238 Appendix B, the SHA-1 rows: the 20-byte ASCII seed "12345678901234567890".
const SEED = new TextEncoder().encode("12345678901234567890");
const VECTORS: [seconds: number, code: string][] = [
	[59, "94287082"],
	[1111111109, "07081804"],
	[1111111111, "14050471"],
	[1234567890, "89005924"],
	[2000000000, "69279037"],
	[20000000000, "65353130"],
];

describe("RFC 6238 test vectors (SHA-1)", () => {
	it.each(VECTORS)("T = %i s gives %s with 8 digits", (seconds, code) => {
		expect(totpCodeAtStep(SEED, totpStep(seconds * 1000), 8)).toBe(code);
	});

	it.each(VECTORS)("T = %i s gives the last 6 digits with 6 digits", (seconds, code) => {
		expect(totpCodeAtStep(SEED, totpStep(seconds * 1000))).toBe(code.slice(2));
	});
});

describe("matchTotpStep", () => {
	const now = 1234567890 * 1000;
	const step = totpStep(now);

	it("accepts the current step and one step either side, and says which", () => {
		expect(matchTotpStep(SEED, totpCodeAtStep(SEED, step), now)).toBe(step);
		expect(matchTotpStep(SEED, totpCodeAtStep(SEED, step - 1), now)).toBe(step - 1);
		expect(matchTotpStep(SEED, totpCodeAtStep(SEED, step + 1), now)).toBe(step + 1);
	});

	it("refuses codes two steps away, malformed codes and wrong codes", () => {
		expect(matchTotpStep(SEED, totpCodeAtStep(SEED, step - 2), now)).toBeNull();
		expect(matchTotpStep(SEED, totpCodeAtStep(SEED, step + 2), now)).toBeNull();
		expect(matchTotpStep(SEED, "12345", now)).toBeNull();
		expect(matchTotpStep(SEED, "1234567", now)).toBeNull();
		expect(matchTotpStep(SEED, "abcdef", now)).toBeNull();
		const wrong = String((Number(totpCodeAtStep(SEED, step)) + 1) % 1_000_000).padStart(6, "0");
		expect(matchTotpStep(SEED, wrong, now)).not.toBe(step);
	});
});

describe("totpUri", () => {
	it("is an otpauth URI with the contract's parameters", () => {
		const uri = new URL(totpUri("Atrium", "ada@example.com", SEED));
		expect(uri.protocol).toBe("otpauth:");
		expect(uri.searchParams.get("issuer")).toBe("Atrium");
		expect(uri.searchParams.get("secret")).toBe("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
		expect(uri.searchParams.get("digits")).toBe("6");
		expect(uri.searchParams.get("period")).toBe("30");
	});
});
