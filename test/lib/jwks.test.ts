import { encodeBase64urlNoPadding } from "@oslojs/encoding";
import { describe, expect, it } from "vitest";
import { isEmailVerified, type PublicJwk, verifyIdToken } from "../../src/lib/jwks";

const encoder = new TextEncoder();
const NOW = 1_800_000_000;
const expected = { issuers: ["https://issuer.test"], clientId: "client", nonce: "n-1", nowSeconds: NOW };
const claims = { iss: "https://issuer.test", sub: "user-1", aud: "client", exp: NOW + 300, iat: NOW, nonce: "n-1" };

type Alg = "RS256" | "ES256";

async function keyPair(alg: Alg, kid: string) {
	const params =
		alg === "RS256"
			? { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }
			: { name: "ECDSA", namedCurve: "P-256" };
	const pair = (await crypto.subtle.generateKey(params, true, ["sign", "verify"])) as CryptoKeyPair;
	const jwk = (await crypto.subtle.exportKey("jwk", pair.publicKey)) as PublicJwk;
	return { alg, privateKey: pair.privateKey, jwk: { ...jwk, kid, use: "sig" } as PublicJwk };
}

async function sign(key: Awaited<ReturnType<typeof keyPair>>, payload: object, header: object = {}) {
	const head = encodeBase64urlNoPadding(encoder.encode(JSON.stringify({ alg: key.alg, kid: key.jwk.kid, ...header })));
	const body = encodeBase64urlNoPadding(encoder.encode(JSON.stringify(payload)));
	const algorithm = key.alg === "RS256" ? { name: "RSASSA-PKCS1-v1_5" } : { name: "ECDSA", hash: "SHA-256" };
	const signature = await crypto.subtle.sign(algorithm, key.privateKey, encoder.encode(`${head}.${body}`));
	return `${head}.${body}.${encodeBase64urlNoPadding(new Uint8Array(signature))}`;
}

const rsa = await keyPair("RS256", "rsa-1");
const ec = await keyPair("ES256", "ec-1");
const other = await keyPair("RS256", "rsa-2");

describe("verifyIdToken: happy paths", () => {
	it.each([rsa, ec])("accepts a valid $alg token", async (key) => {
		const result = await verifyIdToken(await sign(key, claims), [rsa.jwk, ec.jwk], expected);
		expect(result).toEqual({ ok: true, claims });
	});

	it("accepts a token without kid when the issuer publishes a single usable key", async () => {
		const token = await sign(rsa, claims, { kid: undefined });
		expect((await verifyIdToken(token, [rsa.jwk, ec.jwk], expected)).ok).toBe(true);
	});

	it("accepts an audience list that contains us when azp names us", async () => {
		const token = await sign(rsa, { ...claims, aud: ["client", "api"], azp: "client" });
		expect((await verifyIdToken(token, [rsa.jwk], expected)).ok).toBe(true);
	});

	it("tolerates a minute of clock skew on exp", async () => {
		const token = await sign(rsa, { ...claims, exp: NOW - 30 });
		expect((await verifyIdToken(token, [rsa.jwk], expected)).ok).toBe(true);
	});

	it("reads email_verified as boolean or the string true", () => {
		expect([true, "true", false, "false", undefined, 1].map(isEmailVerified)).toEqual([
			true,
			true,
			false,
			false,
			false,
			false,
		]);
	});
});

describe("verifyIdToken: refusals", () => {
	const refusals: [string, () => Promise<string>, string][] = [
		["malformed", async () => "a.b", "malformed"],
		[
			"alg none",
			async () => `${(await sign(rsa, claims, { alg: "none" })).split(".").slice(0, 2).join(".")}.`,
			"malformed",
		],
		["HS256", async () => sign(rsa, claims, { alg: "HS256" }), "malformed"],
		["unknown kid", async () => sign(other, claims), "unknown_key"],
		["RS256 header over an EC key id", async () => sign(rsa, claims, { kid: "ec-1" }), "unknown_key"],
		["forged signature", async () => sign(other, claims, { kid: "rsa-1" }), "bad_signature"],
		["wrong issuer", async () => sign(rsa, { ...claims, iss: "https://evil.test" }), "bad_claims"],
		["wrong audience", async () => sign(rsa, { ...claims, aud: "other" }), "bad_claims"],
		["several audiences, no azp", async () => sign(rsa, { ...claims, aud: ["client", "api"] }), "bad_claims"],
		["azp of another client", async () => sign(rsa, { ...claims, azp: "other" }), "bad_claims"],
		["no sub", async () => sign(rsa, { ...claims, sub: undefined }), "bad_claims"],
		["no exp", async () => sign(rsa, { ...claims, exp: undefined }), "bad_claims"],
		["iat in the future", async () => sign(rsa, { ...claims, iat: NOW + 3600 }), "bad_claims"],
		["expired", async () => sign(rsa, { ...claims, exp: NOW - 120 }), "expired"],
		["other nonce", async () => sign(rsa, { ...claims, nonce: "n-2" }), "nonce_mismatch"],
		["no nonce", async () => sign(rsa, { ...claims, nonce: undefined }), "nonce_mismatch"],
	];

	it.each(refusals)("refuses %s", async (_name, token, reason) => {
		const result = await verifyIdToken(await token(), [rsa.jwk, ec.jwk], expected);
		expect(result).toEqual({ ok: false, reason });
	});

	it("refuses a token without kid when several keys could match", async () => {
		const token = await sign(rsa, claims, { kid: undefined });
		expect(await verifyIdToken(token, [rsa.jwk, other.jwk], expected)).toEqual({ ok: false, reason: "unknown_key" });
	});

	it("refuses a payload changed after signing", async () => {
		const [head, , signature] = (await sign(rsa, claims)).split(".");
		const body = encodeBase64urlNoPadding(encoder.encode(JSON.stringify({ ...claims, sub: "admin" })));
		expect(await verifyIdToken(`${head}.${body}.${signature}`, [rsa.jwk], expected)).toEqual({
			ok: false,
			reason: "bad_signature",
		});
	});
});
