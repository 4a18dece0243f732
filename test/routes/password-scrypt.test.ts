// PASSWORD_SCRYPT: the scrypt parameters of new password hashes (src/config.ts, src/lib/password.ts).
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config";
import { PASSWORD, login, send, signedInUser } from "../helpers/api";
import { appWith } from "../helpers/worker";

// Better Auth's parameters: N*r*p = 2^18, 32 MiB of ROMix buffer.
const BETTER_AUTH = "N=16384,r=16,p=1";

async function storedHash(email: string): Promise<string | undefined> {
	const row = await env.DB.prepare("select password_hash as h from users where email = ?")
		.bind(email)
		.first<{ h: string }>();
	return row?.h;
}

describe("PASSWORD_SCRYPT: happy paths", () => {
	it("defaults to N=2^14, r=8, p=5", () => {
		expect(loadConfig({ ...env } as Cloudflare.Env).PASSWORD_SCRYPT).toEqual({ logN: 14, r: 8, p: 5 });
	});

	it("redoes an existing hash with the configured parameters at login, and it keeps verifying afterwards", async () => {
		const { email } = await signedInUser();
		expect(await storedHash(email)).toMatch(/^\$scrypt\$ln=14,r=8,p=5\$/);
		const app = appWith({ PASSWORD_SCRYPT: BETTER_AUTH });
		const res = await app.send("POST", "/v1/auth/login", { body: { email, password: PASSWORD } });
		expect(res.status).toBe(200);
		expect(await storedHash(email)).toMatch(/^\$scrypt\$ln=14,r=16,p=1\$/);
		expect((await app.send("POST", "/v1/auth/login", { body: { email, password: PASSWORD } })).status).toBe(200);
		// Back on the default: the stored parameters still verify, then the hash returns to the default.
		await login(email);
		expect(await storedHash(email)).toMatch(/^\$scrypt\$ln=14,r=8,p=5\$/);
	});

	it("hashes a changed password with the configured parameters", async () => {
		const { email, token } = await signedInUser();
		const app = appWith({ PASSWORD_SCRYPT: BETTER_AUTH });
		const res = await app.send("PUT", "/v1/me/password", {
			token,
			body: { current_password: PASSWORD, new_password: "a brand new passphrase" },
		});
		expect(res.status).toBe(200);
		expect(await storedHash(email)).toMatch(/^\$scrypt\$ln=14,r=16,p=1\$/);
		expect((await send("POST", "/v1/auth/login", { body: { email, password: "a brand new passphrase" } })).status).toBe(
			200,
		);
	});
});

describe("PASSWORD_SCRYPT: errors", () => {
	const production = { ...env, ENVIRONMENT: "production", JWT_SECRET: "x".repeat(40), ENCRYPTION_KEY: "k".repeat(40) };
	const configWith = (value: string) => () => loadConfig({ ...production, PASSWORD_SCRYPT: value } as Cloudflare.Env);

	it("names the variable for a value it cannot read", () => {
		for (const value of ["fast", "N=16384,r=8", "ln=14,r=8,p=5", "N=16384,r=0,p=5", "N=16384,r=8,p=-1"]) {
			expect(configWith(value)).toThrow(ConfigError);
			expect(configWith(value)).toThrow(/PASSWORD_SCRYPT/);
		}
	});

	it("refuses an N that is not a power of two, or below 2^10", () => {
		expect(configWith("N=10000,r=8,p=5")).toThrow(/PASSWORD_SCRYPT/);
		expect(configWith("N=512,r=8,p=5")).toThrow(/PASSWORD_SCRYPT/);
	});
});

describe("PASSWORD_SCRYPT: security", () => {
	const production = { ...env, ENVIRONMENT: "production", JWT_SECRET: "x".repeat(40), ENCRYPTION_KEY: "k".repeat(40) };
	const configWith = (value: string) => () => loadConfig({ ...production, PASSWORD_SCRYPT: value } as Cloudflare.Env);

	it("refuses parameters over Cloudflare's cap N*r*p <= 2^20 (local workerd would accept them)", () => {
		expect(configWith("N=16384,r=8,p=9")).toThrow(/PASSWORD_SCRYPT/);
		expect(configWith("N=1024,r=8,p=129")).toThrow(/PASSWORD_SCRYPT/);
	});

	it("refuses parameters whose memory would crowd the 128 MB isolate", () => {
		// N*r*p = 2^20 exactly, but 128 MiB of ROMix buffer.
		expect(configWith("N=131072,r=8,p=1")).toThrow(/PASSWORD_SCRYPT/);
		expect(configWith("N=32768,r=16,p=1")).toThrow(/PASSWORD_SCRYPT/);
	});
});
