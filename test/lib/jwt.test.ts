import { encodeBase64urlNoPadding } from "@oslojs/encoding";
import { describe, expect, it } from "vitest";
import { type AccessClaims, signAccessToken, verifyAccessToken } from "../../src/lib/jwt";
import { expectProblem, send, signedInUser } from "../helpers/api";

const SECRET = "test-secret-that-is-at-least-32-bytes-long!!";
const now = Math.floor(Date.now() / 1000);
const claims: AccessClaims = {
	iss: "atrium",
	aud: "atrium-api",
	sub: "u",
	sid: "s",
	jti: "j",
	iat: now,
	exp: now + 900,
	fresh: true,
};
const expected = { issuer: "atrium", audience: "atrium-api", nowSeconds: now };
const b64 = (value: unknown) => encodeBase64urlNoPadding(new TextEncoder().encode(JSON.stringify(value)));

async function hmac(input: string, secret = SECRET) {
	const key = await crypto.subtle.importKey(
		"raw",
		new TextEncoder().encode(secret),
		{ name: "HMAC", hash: "SHA-256" },
		false,
		["sign"],
	);
	return encodeBase64urlNoPadding(
		new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(input))),
	);
}

async function forge(header: unknown, payload: unknown, secret = SECRET) {
	const input = `${b64(header)}.${b64(payload)}`;
	return `${input}.${await hmac(input, secret)}`;
}

describe("verifyAccessToken", () => {
	it("accepts a token it signed", async () => {
		const token = await signAccessToken(claims, SECRET);
		expect(await verifyAccessToken(token, SECRET, expected)).toEqual({ ok: true, claims });
	});

	it.each([
		["alg none", async () => `${b64({ alg: "none", typ: "JWT" })}.${b64(claims)}.`],
		["HS512 header", () => forge({ alg: "HS512", typ: "JWT" }, claims)],
		["RS256 header (HS/RS confusion)", () => forge({ alg: "RS256", typ: "JWT" }, claims)],
		["extra header field (kid)", () => forge({ alg: "HS256", typ: "JWT", kid: "x" }, claims)],
		["wrong key", () => forge({ alg: "HS256", typ: "JWT" }, claims, "another-secret-of-at-least-32-bytes!!")],
		["wrong audience", () => forge({ alg: "HS256", typ: "JWT" }, { ...claims, aud: "other" })],
		["wrong issuer", () => forge({ alg: "HS256", typ: "JWT" }, { ...claims, iss: "other" })],
		["missing exp", () => forge({ alg: "HS256", typ: "JWT" }, { ...claims, exp: undefined })],
		["future nbf", () => forge({ alg: "HS256", typ: "JWT" }, { ...claims, nbf: now + 60 })],
		["wrong typ", () => forge({ alg: "HS256", typ: "at+jwt" }, claims)],
		["garbage", async () => "a.b.c"],
		["two parts", async () => "a.b"],
	])("refuses %s", async (_name, make) => {
		expect(await verifyAccessToken(await make(), SECRET, expected)).toEqual({ ok: false, reason: "invalid" });
	});

	it("refuses a non-canonical spelling of a valid signature", async () => {
		const token = await signAccessToken(claims, SECRET);
		const last = token.at(-1) ?? "";
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		// 32 bytes leave 2 unused bits in the last of 43 characters: its 3 siblings decode the same.
		const index = alphabet.indexOf(last);
		const sibling = alphabet[(index & ~3) | ((index + 1) & 3)] ?? "";
		expect(await verifyAccessToken(`${token.slice(0, -1)}${sibling}`, SECRET, expected)).toEqual({
			ok: false,
			reason: "invalid",
		});
	});

	it("refuses an edited payload", async () => {
		const token = await signAccessToken(claims, SECRET);
		const [header, , signature] = token.split(".");
		const edited = `${header}.${b64({ ...claims, sub: "admin" })}.${signature}`;
		expect(await verifyAccessToken(edited, SECRET, expected)).toEqual({ ok: false, reason: "invalid" });
	});

	it("reports an expired token as expired", async () => {
		const token = await signAccessToken({ ...claims, exp: now - 1 }, SECRET);
		expect(await verifyAccessToken(token, SECRET, expected)).toEqual({ ok: false, reason: "expired" });
	});
});

describe("through the app", () => {
	it("refuses a tampered token, and an expired one with token_expired", async () => {
		const { token, userId } = await signedInUser();
		// Change a character well inside the signature: the last one also carries padding bits.
		const at = token.length - 10;
		const tampered = `${token.slice(0, at)}${token[at] === "A" ? "B" : "A"}${token.slice(at + 1)}`;
		await expectProblem(await send("GET", "/v1/me", { token: tampered }), 401, "unauthorized");
		const [, payload] = token.split(".");
		const decoded = JSON.parse(
			new TextDecoder().decode(
				Uint8Array.from(atob((payload ?? "").replace(/-/g, "+").replace(/_/g, "/")), (ch) => ch.charCodeAt(0)),
			),
		);
		expect(decoded.sub).toBe(userId);
		const expired = await signAccessToken({ ...decoded, iat: now - 2000, exp: now - 1000 }, SECRET);
		const res = await send("GET", "/v1/me", { token: expired });
		await expectProblem(res, 401, "token_expired");
		expect(res.headers.get("WWW-Authenticate")).toMatch(/^Bearer .*invalid_token/);
	});
});
