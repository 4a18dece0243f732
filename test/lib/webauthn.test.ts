import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { counterAdvances, isValidRpId, originProblem } from "../../src/lib/webauthn";

const production = { ...env, ENVIRONMENT: "production", JWT_SECRET: "x".repeat(40), ENCRYPTION_KEY: "k".repeat(40) };
const configWith = (vars: Record<string, string>) => loadConfig({ ...production, ...vars } as Cloudflare.Env);

describe("passkey relying party settings", () => {
	it("defaults to APP_URL's host and origin", () => {
		expect(loadConfig({ ...env } as Cloudflare.Env).webauthn).toEqual({
			rpId: "atrium.test",
			origins: ["https://atrium.test"],
		});
	});

	it("accepts a parent domain as RP ID for origins on it and its subdomains", () => {
		const config = configWith({
			WEBAUTHN_RP_ID: "atrium.test",
			WEBAUTHN_ORIGINS: "https://atrium.test, https://app.atrium.test:8443",
		});
		expect(config.webauthn).toEqual({
			rpId: "atrium.test",
			origins: ["https://atrium.test", "https://app.atrium.test:8443"],
		});
	});

	it("refuses origins on another site, not in origin form, or on plain http off loopback", () => {
		for (const origin of [
			"https://evil.test",
			"https://atrium.test/",
			"http://atrium.test",
			"https://notatrium.test",
		]) {
			expect(() => configWith({ WEBAUTHN_RP_ID: "atrium.test", WEBAUTHN_ORIGINS: origin })).toThrow(/WEBAUTHN_ORIGINS/);
		}
	});

	it("allows an IP literal RP ID and http loopback origins in local development only", () => {
		const local = { WEBAUTHN_RP_ID: "127.0.0.1", WEBAUTHN_ORIGINS: "http://127.0.0.1:8787" };
		expect(loadConfig({ ...env, ...local } as Cloudflare.Env).webauthn.rpId).toBe("127.0.0.1");
		expect(() => configWith(local)).toThrow(/WEBAUTHN_RP_ID/);
		expect(
			configWith({ WEBAUTHN_RP_ID: "localhost", WEBAUTHN_ORIGINS: "http://localhost:5173" }).webauthn.origins,
		).toEqual(["http://localhost:5173"]);
		expect(() => configWith({ WEBAUTHN_RP_ID: "Atrium.TEST" })).toThrow(/WEBAUTHN_RP_ID/);
	});

	it("names no origin problem for a good one, and one for each kind of bad one", () => {
		expect(originProblem("https://a.example.com", "example.com")).toBeNull();
		expect(originProblem("not a url", "example.com")).toMatch(/not a URL/);
		expect(isValidRpId("example.com")).toBe(true);
		expect(isValidRpId("::1")).toBe(true);
		expect(isValidRpId("exa mple.com")).toBe(false);
	});
});

describe("signature counter", () => {
	it("must grow, except 0 after 0 (authenticators without a counter)", () => {
		expect(counterAdvances(0, 0)).toBe(true);
		expect(counterAdvances(0, 1)).toBe(true);
		expect(counterAdvances(5, 6)).toBe(true);
		expect(counterAdvances(5, 5)).toBe(false);
		expect(counterAdvances(5, 4)).toBe(false);
		expect(counterAdvances(5, 0)).toBe(false);
	});
});
