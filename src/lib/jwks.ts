import { decodeBase64urlIgnorePadding } from "@oslojs/encoding";
import { compactVerify, createLocalJWKSet, errors, type JWK } from "jose";

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

/** Algorithms we verify; `none` and HMAC are refused outright (jose is told so, too). */
const ALGORITHMS = ["RS256", "ES256"];

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

/** The issuer's keys as jose's key resolver: it matches `kid`, `alg`, `kty` and `use`. */
function keyResolver(keys: readonly PublicJwk[]) {
	// jose picks the one key a token names; without a `kid`, several candidates are refused rather than guessed.
	return createLocalJWKSet({ keys: keys.map((key) => ({ ...key })) as JWK[] });
}

/** Maps jose's refusal to our reasons: a key we do not have is worth one JWKS refetch. */
function refusal(error: unknown): "unknown_key" | "bad_signature" | "malformed" {
	if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys)
		return "unknown_key";
	if (error instanceof errors.JWSSignatureVerificationFailed) return "bad_signature";
	return "malformed";
}

function audienceList(aud: unknown): string[] | null {
	if (typeof aud === "string") return [aud];
	if (Array.isArray(aud) && aud.length > 0 && aud.every((item) => typeof item === "string")) return aud;
	return null;
}

/**
 * Verifies an OpenID Connect ID token (OIDC Core 3.1.3.7): RS256/ES256 signature against the
 * issuer's keys (jose), then `iss`, `aud` (and `azp` when several audiences), `exp`, `iat` and `nonce`.
 * Pure: the caller fetches the JWKS and passes the clock.
 */
export async function verifyIdToken(
	token: string,
	keys: readonly PublicJwk[],
	expected: IdTokenExpectations,
): Promise<IdTokenResult> {
	const parts = token.split(".");
	if (parts.length !== 3) return { ok: false, reason: "malformed" };
	const claims = decodeJson(parts[1] ?? "");
	if (!claims) return { ok: false, reason: "malformed" };
	try {
		await compactVerify(token, keyResolver(keys), { algorithms: ALGORITHMS });
	} catch (error) {
		return { ok: false, reason: refusal(error) };
	}

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
