import { encodeBase64urlNoPadding } from "@oslojs/encoding";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { expectProblem, send, signedInUser } from "../helpers/api";
import { appWith } from "../helpers/worker";

const encoder = new TextEncoder();
const b64 = (value: unknown) =>
	encodeBase64urlNoPadding(encoder.encode(typeof value === "string" ? value : JSON.stringify(value)));

async function hmac(input: string, secret: string, hash = "SHA-256") {
	const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash }, false, ["sign"]);
	return encodeBase64urlNoPadding(new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(input))));
}

/** A token with any header and payload, signed with the deployment's real key unless told otherwise. */
async function forge(header: unknown, payload: unknown, options: { secret?: string; hash?: string } = {}) {
	const input = `${b64(header)}.${b64(payload)}`;
	return `${input}.${await hmac(input, options.secret ?? env.JWT_SECRET ?? "", options.hash)}`;
}

function decodePayload(token: string): Record<string, unknown> {
	const part = token.split(".")[1] ?? "";
	const bytes = Uint8Array.from(atob(part.replace(/-/g, "+").replace(/_/g, "/")), (ch) => ch.charCodeAt(0));
	return JSON.parse(new TextDecoder().decode(bytes));
}

const me = (token: string) => send("GET", "/v1/me", { token });

let valid: string;
let claims: Record<string, unknown>;
let other: { token: string; userId: string };
const HS256 = { alg: "HS256", typ: "JWT" };

// Made once, inside the first test that needs them (the fake Resend is installed per test).
let users: Promise<void> | undefined;
beforeEach(async () => {
	users ??= (async () => {
		const user = await signedInUser();
		valid = user.token;
		claims = decodePayload(valid);
		other = await signedInUser();
	})();
	await users;
});

describe("control", () => {
	it("the untouched token works, and a token re-signed here with the real key works (so the forgeries below fail for their defect alone)", async () => {
		expect((await me(valid)).status).toBe(200);
		expect((await me(await forge(HS256, claims))).status).toBe(200);
	});
});

describe("forged and altered access tokens are refused through the app", () => {
	const now = () => Math.floor(Date.now() / 1000);
	it.each<[string, () => Promise<string>, string]>([
		["alg none, no signature", async () => `${b64({ alg: "none", typ: "JWT" })}.${b64(claims)}.`, "unauthorized"],
		[
			"alg none, with the original signature",
			async () => `${b64({ alg: "none" })}.${b64(claims)}.${valid.split(".")[2]}`,
			"unauthorized",
		],
		["alg 'None' (case games)", async () => forge({ alg: "None", typ: "JWT" }, claims), "unauthorized"],
		[
			"RS256 header, HMAC-signed with the secret (HS/RS confusion)",
			() => forge({ alg: "RS256", typ: "JWT" }, claims),
			"unauthorized",
		],
		["ES256 header", () => forge({ alg: "ES256", typ: "JWT" }, claims), "unauthorized"],
		[
			"HS512 with the right secret",
			() => forge({ alg: "HS512", typ: "JWT" }, claims, { hash: "SHA-512" }),
			"unauthorized",
		],
		[
			"edited payload, original signature",
			async () => `${valid.split(".")[0]}.${b64({ ...claims, sub: other.userId })}.${valid.split(".")[2]}`,
			"unauthorized",
		],
		["wrong key", () => forge(HS256, claims, { secret: "another-secret-that-is-at-least-32-bytes!" }), "unauthorized"],
		["one-byte key", () => forge(HS256, claims, { secret: "x" }), "unauthorized"],
		["expired", () => forge(HS256, { ...claims, iat: now() - 2000, exp: now() - 1 }), "token_expired"],
		["future nbf", () => forge(HS256, { ...claims, nbf: now() + 120 }), "unauthorized"],
		["wrong audience", () => forge(HS256, { ...claims, aud: "someone-else" }), "unauthorized"],
		["audience as an array", () => forge(HS256, { ...claims, aud: [claims.aud, "x"] }), "unauthorized"],
		["wrong issuer", () => forge(HS256, { ...claims, iss: "https://evil.example" }), "unauthorized"],
		["wrong typ", () => forge({ alg: "HS256", typ: "at+jwt" }, claims), "unauthorized"],
		["missing exp", () => forge(HS256, { ...claims, exp: undefined }), "unauthorized"],
		["exp as a string", () => forge(HS256, { ...claims, exp: String(now() + 600) }), "unauthorized"],
		["missing sid", () => forge(HS256, { ...claims, sid: undefined }), "unauthorized"],
		["kid header injection", () => forge({ ...HS256, kid: "../../dev/null" }, claims), "unauthorized"],
		["jku header", () => forge({ ...HS256, jku: "https://evil.example/jwks.json" }, claims), "unauthorized"],
		["embedded jwk header", () => forge({ ...HS256, jwk: { kty: "oct", k: "AAAA" } }, claims), "unauthorized"],
		["payload that is not JSON", async () => forge(HS256, "not json"), "unauthorized"],
		[
			"header that is not JSON",
			async () => {
				const input = `${b64("{alg:HS256")}.${b64(claims)}`;
				return `${input}.${await hmac(input, env.JWT_SECRET ?? "")}`;
			},
			"unauthorized",
		],
		[
			"signed with the right key, but the session of another user (sid/sub mismatch)",
			async () => {
				return forge(HS256, { ...claims, sid: decodePayload(other.token).sid });
			},
			"unauthorized",
		],
		[
			"another user's sub on this user's session",
			async () => forge(HS256, { ...claims, sub: other.userId }),
			"unauthorized",
		],
		["four segments", async () => `${valid}.${valid.split(".")[2]}`, "unauthorized"],
		["padding appended to the signature", async () => `${valid}=`, "unauthorized"],
	])("%s", async (_name, make, code) => {
		const res = await me(await make());
		await expectProblem(res, 401, code);
		expect(res.headers.get("WWW-Authenticate")).toMatch(/^Bearer realm="atrium"/);
	});

	it("a token of a revoked session stops working although its signature and expiry are fine", async () => {
		const user = await signedInUser();
		expect((await send("POST", "/v1/auth/logout", { token: user.token })).status).toBe(204);
		await expectProblem(await me(user.token), 401, "unauthorized");
	});

	it("a token this isolate already verified is refused once it expires, and still after a revocation", async () => {
		const user = await signedInUser();
		// Verified once (and remembered by the isolate), then used again.
		expect((await me(user.token)).status).toBe(200);
		expect((await me(user.token)).status).toBe(200);
		vi.useFakeTimers({ toFake: ["Date"] });
		try {
			vi.setSystemTime(Date.now() + 901_000);
			await expectProblem(await me(user.token), 401, "token_expired");
		} finally {
			vi.useRealTimers();
		}
		const other = await signedInUser();
		expect((await me(other.token)).status).toBe(200);
		expect((await send("POST", "/v1/auth/logout", { token: other.token })).status).toBe(204);
		await expectProblem(await me(other.token), 401, "unauthorized");
	});

	it("a remembered token is verified again under another configuration's keys", async () => {
		const user = await signedInUser();
		expect((await me(user.token)).status).toBe(200);
		const rotated = appWith({ JWT_SECRET: "a-completely-different-secret-of-enough-bytes!" });
		await expectProblem(await rotated.send("GET", "/v1/me", { token: user.token }), 401, "unauthorized");
	});

	it("the token is only read from the Authorization header", async () => {
		await expectProblem(await send("GET", `/v1/me?access_token=${valid}`), 401, "unauthorized");
		await expectProblem(
			await send("GET", "/v1/me", { headers: { Cookie: `access_token=${valid}` } }),
			401,
			"unauthorized",
		);
		await expectProblem(
			await send("GET", "/v1/me", { headers: { Authorization: `Basic ${valid}` } }),
			401,
			"unauthorized",
		);
	});
});

describe("property: random mutations of a valid token are never accepted", () => {
	const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const runs = { numRuns: 100 };
	// Each run is one request through the app; a loaded machine makes them slower, never wrong.
	const timeout = 120_000;

	/** Sends a mutation and records whether it got in; every mutation is distinct from the original. */
	async function accepted(mutated: string): Promise<boolean> {
		if (mutated === valid) return false;
		const res = await me(mutated);
		if (res.status !== 401) {
			// Anything but a 401 is a finding: say which token did it.
			throw new Error(`mutated token answered ${res.status}: ${mutated}`);
		}
		return false;
	}

	it(
		"single character substitutions anywhere",
		async () => {
			await fc.assert(
				fc.asyncProperty(fc.nat(), fc.constantFrom(...ALPHABET), async (position, char) => {
					const index = position % valid.length;
					if (valid[index] === "." || valid[index] === char) return;
					expect(await accepted(valid.slice(0, index) + char + valid.slice(index + 1))).toBe(false);
				}),
				runs,
			);
		},
		timeout,
	);

	it(
		"bit flips in the decoded bytes of any segment (re-encoded canonically)",
		async () => {
			await fc.assert(
				fc.asyncProperty(
					fc.integer({ min: 0, max: 2 }),
					fc.nat(),
					fc.integer({ min: 0, max: 7 }),
					async (segment, at, bit) => {
						const parts = valid.split(".");
						const raw = Uint8Array.from(atob((parts[segment] ?? "").replace(/-/g, "+").replace(/_/g, "/")), (ch) =>
							ch.charCodeAt(0),
						);
						const index = at % raw.length;
						raw[index] = (raw[index] ?? 0) ^ (1 << bit);
						parts[segment] = encodeBase64urlNoPadding(raw);
						expect(await accepted(parts.join("."))).toBe(false);
					},
				),
				runs,
			);
		},
		timeout,
	);

	it(
		"truncations, extensions and insertions",
		async () => {
			await fc.assert(
				fc.asyncProperty(
					fc.oneof(
						fc.nat().map((n) => (t: string) => t.slice(0, n % t.length)),
						fc.nat().map((n) => (t: string) => t.slice((n % (t.length - 1)) + 1)),
						fc
							.string({ unit: fc.constantFrom(...ALPHABET, "."), minLength: 1, maxLength: 8 })
							.map((s) => (t: string) => t + s),
						fc.tuple(fc.nat(), fc.string({ unit: fc.constantFrom(...ALPHABET), minLength: 1, maxLength: 4 })).map(
							([n, s]) =>
								(t: string) =>
									t.slice(0, n % t.length) + s + t.slice(n % t.length),
						),
					),
					async (mutate) => {
						expect(await accepted(mutate(valid))).toBe(false);
					},
				),
				runs,
			);
		},
		timeout,
	);

	it(
		"segment swaps, duplications and splices with another user's token",
		async () => {
			const mine = valid.split(".");
			const theirs = other.token.split(".");
			const pool = [...mine, ...theirs, "", "e30"];
			await fc.assert(
				fc.asyncProperty(
					fc.array(fc.integer({ min: 0, max: pool.length - 1 }), { minLength: 1, maxLength: 5 }),
					async (picks) => {
						const mutated = picks.map((i) => pool[i]).join(".");
						if (mutated === valid || mutated === other.token) return;
						expect(await accepted(mutated)).toBe(false);
					},
				),
				runs,
			);
		},
		timeout,
	);
});
