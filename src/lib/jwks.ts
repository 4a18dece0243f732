import { decodeBase64urlIgnorePadding } from "@oslojs/encoding";

/** A public key as published in an issuer's JWKS document (only the members we read). */
export type PublicJwk = {
	kty: string;
	kid?: string;
	alg?: string;
	use?: string;
	crv?: string;
	n?: string;
	e?: string;
	x?: string;
	y?: string;
};

/** Claims of a verified OpenID Connect ID token that Atrium relies on. */
export type IdTokenClaims = {
	iss: string;
	sub: string;
	aud: string | string[];
	exp: number;
	iat?: number;
	nonce?: string;
	azp?: string;
	email?: string;
	email_verified?: boolean | string;
	name?: string;
	[claim: string]: unknown;
};

export type IdTokenExpectations = {
	/** Accepted `iss` values (Google uses two spellings); compared exactly. */
	issuers: readonly string[];
	clientId: string;
	nonce: string;
	nowSeconds: number;
	/** Clock skew tolerated on `exp` and `iat`. */
	leewaySeconds?: number;
};

export type IdTokenResult =
	| { ok: true; claims: IdTokenClaims }
	| { ok: false; reason: "malformed" | "unknown_key" | "bad_signature" | "bad_claims" | "expired" | "nonce_mismatch" };

/** Algorithms we verify, each with the key type it must use; `none` and HMAC are refused outright. */
const ALGORITHMS = {
	RS256: {
		kty: "RSA",
		import: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
		verify: { name: "RSASSA-PKCS1-v1_5" },
	},
	ES256: {
		kty: "EC",
		import: { name: "ECDSA", namedCurve: "P-256" },
		verify: { name: "ECDSA", hash: "SHA-256" },
	},
} as const;

type Algorithm = keyof typeof ALGORITHMS;

function isAlgorithm(value: unknown): value is Algorithm {
	return value === "RS256" || value === "ES256";
}

function decodeJson(part: string): Record<string, unknown> | null {
	try {
		const value: unknown = JSON.parse(
			new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(decodeBase64urlIgnorePadding(part)),
		);
		return typeof value === "object" && value !== null && !Array.isArray(value)
			? (value as Record<string, unknown>)
			: null;
	} catch {
		return null;
	}
}

/** Reads the unverified header of a JWS: only to pick a key, never to trust anything else. */
export function peekJwsHeader(token: string): { alg: unknown; kid: unknown } | null {
	const header = decodeJson(token.split(".")[0] ?? "");
	return header ? { alg: header.alg, kid: header.kid } : null;
}

/**
 * Chooses the key a token names. Without a `kid` the issuer must publish exactly one usable key,
 * otherwise we would be guessing.
 */
export function selectKey(keys: readonly PublicJwk[], alg: Algorithm, kid: unknown): PublicJwk | undefined {
	const usable = keys.filter(
		(key) =>
			key.kty === ALGORITHMS[alg].kty &&
			(key.use === undefined || key.use === "sig") &&
			(key.alg === undefined || key.alg === alg) &&
			(alg !== "ES256" || key.crv === "P-256"),
	);
	if (typeof kid === "string") return usable.find((key) => key.kid === kid);
	return usable.length === 1 ? usable[0] : undefined;
}

async function importKey(jwk: PublicJwk, alg: Algorithm): Promise<CryptoKey | null> {
	const { kty, n, e, crv, x, y } = jwk;
	const material: JsonWebKey = kty === "RSA" ? { kty, n, e } : { kty, crv, x, y };
	try {
		return await crypto.subtle.importKey("jwk", material, ALGORITHMS[alg].import, false, ["verify"]);
	} catch {
		return null;
	}
}

function audienceList(aud: unknown): string[] | null {
	if (typeof aud === "string") return [aud];
	if (Array.isArray(aud) && aud.length > 0 && aud.every((item) => typeof item === "string")) return aud;
	return null;
}

/**
 * Verifies an OpenID Connect ID token (OIDC Core 3.1.3.7): RS256/ES256 signature against the
 * issuer's keys, then `iss`, `aud` (and `azp` when several audiences), `exp`, `iat` and `nonce`.
 * Pure: the caller fetches the JWKS and passes the clock.
 */
export async function verifyIdToken(
	token: string,
	keys: readonly PublicJwk[],
	expected: IdTokenExpectations,
): Promise<IdTokenResult> {
	const parts = token.split(".");
	if (parts.length !== 3) return { ok: false, reason: "malformed" };
	const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
	const header = decodeJson(headerPart);
	const claims = decodeJson(payloadPart);
	if (!header || !claims || !isAlgorithm(header.alg)) return { ok: false, reason: "malformed" };
	const alg = header.alg;
	const jwk = selectKey(keys, alg, header.kid);
	if (!jwk) return { ok: false, reason: "unknown_key" };
	const key = await importKey(jwk, alg);
	if (!key) return { ok: false, reason: "unknown_key" };
	let signature: Uint8Array;
	try {
		signature = decodeBase64urlIgnorePadding(signaturePart);
	} catch {
		return { ok: false, reason: "malformed" };
	}
	const signed = await crypto.subtle.verify(
		ALGORITHMS[alg].verify,
		key,
		signature,
		new TextEncoder().encode(`${headerPart}.${payloadPart}`),
	);
	if (!signed) return { ok: false, reason: "bad_signature" };

	const leeway = expected.leewaySeconds ?? 60;
	const audiences = audienceList(claims.aud);
	if (
		typeof claims.iss !== "string" ||
		!expected.issuers.includes(claims.iss) ||
		typeof claims.sub !== "string" ||
		claims.sub === "" ||
		!audiences?.includes(expected.clientId) ||
		(audiences.length > 1 && claims.azp !== expected.clientId) ||
		(claims.azp !== undefined && claims.azp !== expected.clientId) ||
		typeof claims.exp !== "number" ||
		(claims.iat !== undefined && (typeof claims.iat !== "number" || claims.iat > expected.nowSeconds + leeway))
	) {
		return { ok: false, reason: "bad_claims" };
	}
	if (claims.exp + leeway <= expected.nowSeconds) return { ok: false, reason: "expired" };
	if (typeof claims.nonce !== "string" || claims.nonce !== expected.nonce)
		return { ok: false, reason: "nonce_mismatch" };
	return { ok: true, claims: claims as IdTokenClaims };
}

/** `email_verified` as a boolean; some issuers send the string "true". */
export function isEmailVerified(value: unknown): boolean {
	return value === true || value === "true";
}
