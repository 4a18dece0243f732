import { decodeBase64urlIgnorePadding } from "@oslojs/encoding";
import { CompactSign, compactVerify } from "jose";
import type { PublicJwk } from "./jwks";

/** Claims of an Atrium access token. */
export type AccessClaims = {
	iss: string;
	aud: string;
	sub: string;
	sid: string;
	jti: string;
	iat: number;
	exp: number;
	/** True when the token came straight from a password or OAuth login, not from a refresh. */
	fresh: boolean;
};

export type JwtVerifyResult = { ok: true; claims: AccessClaims } | { ok: false; reason: "invalid" | "expired" };

const encoder = new TextEncoder();
const keyCache = new Map<string, Promise<CryptoKey>>();

/** The HMAC key of a secret, imported once per isolate (jose would import it on every call). */
function hmacKey(secret: string): Promise<CryptoKey> {
	let key = keyCache.get(secret);
	if (!key) {
		key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
			"sign",
			"verify",
		]);
		keyCache.set(secret, key);
	}
	return key;
}

/** Signs access-token claims as an HS256 JWT keyed with the UTF-8 bytes of `secret`. */
export async function signAccessToken(claims: AccessClaims, secret: string): Promise<string> {
	return new CompactSign(encoder.encode(JSON.stringify(claims)))
		.setProtectedHeader({ alg: "HS256", typ: "JWT" })
		.sign(await hmacKey(secret));
}

function decodeJson(part: string): unknown {
	try {
		return JSON.parse(
			new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(decodeBase64urlIgnorePadding(part)),
		);
	} catch {
		return null;
	}
}

function hasClaimShapes(value: unknown): value is AccessClaims {
	if (typeof value !== "object" || value === null) return false;
	const c = value as Record<string, unknown>;
	return (
		typeof c.iss === "string" &&
		typeof c.aud === "string" &&
		typeof c.sub === "string" &&
		typeof c.sid === "string" &&
		typeof c.jti === "string" &&
		Number.isSafeInteger(c.iat) &&
		Number.isSafeInteger(c.exp) &&
		typeof c.fresh === "boolean"
	);
}

/** Verifies an HS256 access token keyed with `secret` (see `verifyAccessTokenWith`). */
export function verifyAccessToken(
	token: string,
	secret: string,
	expected: { issuer: string; audience: string; nowSeconds: number },
): Promise<JwtVerifyResult> {
	return verifyAccessTokenWith({ alg: "HS256", secrets: [secret] }, token, expected);
}

/** The claim checks every algorithm shares, run only once the signature is known to be good. */
function checkClaims(
	payload: string,
	expected: { issuer: string; audience: string; nowSeconds: number },
): JwtVerifyResult {
	const claims = decodeJson(payload);
	if (!hasClaimShapes(claims)) return { ok: false, reason: "invalid" };
	if (claims.iss !== expected.issuer || claims.aud !== expected.audience) return { ok: false, reason: "invalid" };
	const nbf = (claims as Record<string, unknown>).nbf;
	if (nbf !== undefined && (!Number.isSafeInteger(nbf) || (nbf as number) > expected.nowSeconds)) {
		return { ok: false, reason: "invalid" };
	}
	if (claims.exp <= expected.nowSeconds) return { ok: false, reason: "expired" };
	return { ok: true, claims };
}

/** Access-token algorithms a deployment can choose (JWT_ALGORITHM). */
export type JwtAlgorithm = "HS256" | "ES256" | "EdDSA";
export type AsymmetricAlgorithm = Exclude<JwtAlgorithm, "HS256">;

/** A private signing key as configured in JWT_SIGNING_KEYS (a JWK with its `d`). */
export type PrivateJwk = {
	kid: string;
	kty: string;
	crv: string;
	x: string;
	y?: string;
	d: string;
	alg?: string;
	use?: string;
};

/** The key material of an asymmetric algorithm, as WebCrypto and JOSE name it. */
export const KEY_TYPES: Record<AsymmetricAlgorithm, { kty: string; crv: string }> = {
	ES256: { kty: "EC", crv: "P-256" },
	EdDSA: { kty: "OKP", crv: "Ed25519" },
};

/**
 * Keys that sign and verify access tokens. HS256: the first secret signs, every one verifies
 * (JWT_SECRET, then JWT_SECRET_PREVIOUS). ES256/EdDSA: the first key signs and names itself in
 * `kid`; every key verifies until it is removed from the set.
 */
export type { PublicJwk };
export type AccessTokenKeys =
	| { alg: "HS256"; secrets: readonly [string, ...string[]] }
	| {
			alg: AsymmetricAlgorithm;
			keys: readonly [SigningKey, ...SigningKey[]];
	  };
type SigningKey = { kid: string; privateKey: CryptoKey; publicKey: CryptoKey };

/**
 * The public half of configured keys, as published at /.well-known/jwks.json: only the public
 * members are copied, so a private `d` (or anything else in the configuration) never leaks.
 */
export function publicJwks(alg: AsymmetricAlgorithm, jwks: readonly PrivateJwk[]): PublicJwk[] {
	return jwks.map((jwk) => ({
		kty: jwk.kty,
		crv: jwk.crv,
		x: jwk.x,
		...(jwk.y === undefined ? {} : { y: jwk.y }),
		kid: jwk.kid,
		alg,
		use: "sig",
	}));
}

const WEBCRYPTO: Record<AsymmetricAlgorithm, { name: string; namedCurve?: string }> = {
	ES256: { name: "ECDSA", namedCurve: "P-256" },
	EdDSA: { name: "Ed25519" },
};

/** Imports configured private keys (and their public halves) for signing and verifying. */
export async function importSigningKeys(
	alg: AsymmetricAlgorithm,
	jwks: readonly [PrivateJwk, ...PrivateJwk[]],
): Promise<AccessTokenKeys> {
	const keys = await Promise.all(
		jwks.map(async ({ kid, kty, crv, x, y, d }) => {
			const material = y === undefined ? { kty, crv, x } : { kty, crv, x, y };
			const [privateKey, publicKey] = await Promise.all([
				crypto.subtle.importKey("jwk", { ...material, d }, WEBCRYPTO[alg], false, ["sign"]),
				crypto.subtle.importKey("jwk", material, WEBCRYPTO[alg], false, ["verify"]),
			]);
			return { kid, privateKey, publicKey };
		}),
	);
	return { alg, keys: keys as [SigningKey, ...SigningKey[]] };
}

/** Signs access-token claims with the first key: HS256 with the first secret, else JWS with `kid`. */
export async function signAccessTokenWith(keys: AccessTokenKeys, claims: AccessClaims): Promise<string> {
	if (keys.alg === "HS256") return signAccessToken(claims, keys.secrets[0]);
	const [current] = keys.keys;
	// The compact JWS API of jose (not SignJWT): Atrium builds and checks its own claims (exp
	// required, fixed shapes), which jose's JWT layer would only repeat.
	return new CompactSign(encoder.encode(JSON.stringify(claims)))
		.setProtectedHeader({ alg: keys.alg, typ: "JWT", kid: current.kid })
		.sign(current.privateKey);
}

/** Header members a token may carry: HS256 names no key; ES256/EdDSA name theirs in `kid`. */
const HEADER_MEMBERS: Record<JwtAlgorithm, ReadonlySet<string>> = {
	HS256: new Set(["alg", "typ"]),
	ES256: new Set(["alg", "typ", "kid"]),
	EdDSA: new Set(["alg", "typ", "kid"]),
};

/** The header is pinned: the deployment's algorithm, `typ` JWT if any, and nothing unexpected. */
function pinnedHeader(part: string, alg: JwtAlgorithm): Record<string, unknown> | null {
	const header = decodeJson(part);
	if (header === null || typeof header !== "object" || Array.isArray(header)) return null;
	const members = header as Record<string, unknown>;
	if (members.alg !== alg || (members.typ !== undefined && members.typ !== "JWT")) return null;
	return Object.keys(members).every((member) => HEADER_MEMBERS[alg].has(member)) ? members : null;
}

/** True when the signature decodes strictly (no non-zero unused bits), so it has one valid spelling. */
function canonicalSignature(part: string): boolean {
	try {
		decodeBase64urlIgnorePadding(part);
		return true;
	} catch {
		return false;
	}
}

/**
 * Verifies an access token against every configured key. The algorithm is pinned to the
 * deployment's: a token naming another one (HS256 signed with a public key, `none`) is refused
 * before any key is touched, and with ES256/EdDSA the `kid` must name a configured key. The
 * signature check is jose's; the claims (exp required, nbf honoured) are checked after it.
 */
export async function verifyAccessTokenWith(
	keys: AccessTokenKeys,
	token: string,
	expected: { issuer: string; audience: string; nowSeconds: number },
): Promise<JwtVerifyResult> {
	const parts = token.split(".");
	if (parts.length !== 3) return { ok: false, reason: "invalid" };
	const [headerPart, payload, signature] = parts as [string, string, string];
	const header = pinnedHeader(headerPart, keys.alg);
	if (!header || !canonicalSignature(signature)) return { ok: false, reason: "invalid" };
	const candidates =
		keys.alg === "HS256"
			? await Promise.all(keys.secrets.map(hmacKey))
			: keys.keys.filter((key) => key.kid === header.kid).map((key) => key.publicKey);
	for (const key of candidates) {
		try {
			// The algorithm list pins jose to the deployment's algorithm as well.
			await compactVerify(token, key, { algorithms: [keys.alg] });
		} catch {
			continue;
		}
		return checkClaims(payload, expected);
	}
	return { ok: false, reason: "invalid" };
}
