import { describe, expect, it } from "vitest";
import {
	PASSWORD_PARAMS,
	SCRYPT_MAX_COST,
	hashPassword,
	needsRehash,
	parseScryptParams,
	scryptMemoryBytes,
	verifyPassword,
	withinPlatformCaps,
} from "../../src/lib/password";

describe("production caps", () => {
	it("keeps N*r*p within Cloudflare's scrypt cap of 2^20", () => {
		const { logN, r, p } = PASSWORD_PARAMS;
		expect(2 ** logN * r * p).toBeLessThanOrEqual(SCRYPT_MAX_COST);
		expect(SCRYPT_MAX_COST).toBe(2 ** 20);
	});

	it("needs far less memory than the 128 MB isolate", () => {
		expect(scryptMemoryBytes(PASSWORD_PARAMS)).toBeLessThanOrEqual(32 * 1024 * 1024);
	});

	it("is at least as costly as OWASP's N=2^14, r=8, p=5", () => {
		const { logN, r, p } = PASSWORD_PARAMS;
		expect(2 ** logN * r * p).toBeGreaterThanOrEqual(2 ** 14 * 8 * 5);
	});

	it("refuses to hash or verify with parameters over the cap (workerd would accept them locally)", async () => {
		expect(withinPlatformCaps({ logN: 17, r: 8, p: 1 })).toBe(false);
		await expect(hashPassword("x", { logN: 17, r: 8, p: 1 })).rejects.toThrow(/caps/);
		expect(await verifyPassword("$scrypt$ln=17,r=8,p=1$AAAA$AAAA", "x")).toBe(false);
	});
});

describe("hash format", () => {
	it("is self-describing and verifies", async () => {
		const hash = await hashPassword("correct horse battery staple");
		expect(hash).toMatch(/^\$scrypt\$ln=14,r=8,p=5\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/);
		expect(await verifyPassword(hash, "correct horse battery staple")).toBe(true);
		expect(await verifyPassword(hash, "correct horse battery stapl")).toBe(false);
		expect(needsRehash(hash)).toBe(false);
		expect(needsRehash("$scrypt$ln=10,r=8,p=1$AAAA$AAAA")).toBe(true);
	});

	it("salts: the same password hashes differently", async () => {
		expect(await hashPassword("same password!")).not.toBe(await hashPassword("same password!"));
	});

	it("never verifies a malformed hash", async () => {
		expect(await verifyPassword("plaintext", "plaintext")).toBe(false);
	});
});

describe("parseScryptParams", () => {
	it("reads N, r and p into the stored form (log2 N)", () => {
		expect(parseScryptParams("N=16384,r=8,p=5")).toEqual(PASSWORD_PARAMS);
		expect(parseScryptParams(" N = 16384 , r = 16 , p = 1 ")).toEqual({ logN: 14, r: 16, p: 1 });
	});

	it("accepts Better Auth's N=2^14, r=16, p=1 (32 MiB) and hashes with it", async () => {
		const params = parseScryptParams("N=16384,r=16,p=1");
		expect(params && withinPlatformCaps(params)).toBe(true);
		const hash = await hashPassword("correct horse battery staple", params ?? PASSWORD_PARAMS);
		expect(hash).toMatch(/^\$scrypt\$ln=14,r=16,p=1\$/);
		expect(await verifyPassword(hash, "correct horse battery staple")).toBe(true);
		expect(needsRehash(hash)).toBe(true);
		expect(needsRehash(hash, { logN: 14, r: 16, p: 1 })).toBe(false);
	});

	it("returns null for malformed values and parameters over the platform caps", () => {
		for (const value of ["", "N=16384", "N=16384,r=8,p=5,x=1", "N=12345,r=8,p=5", "N=512,r=8,p=1", "N=16384,r=8,p=9"]) {
			expect(parseScryptParams(value)).toBeNull();
		}
		expect(parseScryptParams("N=131072,r=8,p=1")).toBeNull();
	});
});
