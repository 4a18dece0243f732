import { decodeBase64urlIgnorePadding, encodeBase64urlNoPadding } from "@oslojs/encoding";

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
// The header is fixed: the algorithm is pinned, so a token naming any other is refused outright.
const HEADER = encodeBase64urlNoPadding(encoder.encode(JSON.stringify({ alg: "HS256", typ: "JWT" })));
const keyCache = new Map<string, Promise<CryptoKey>>();

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
	const payload = encodeBase64urlNoPadding(encoder.encode(JSON.stringify(claims)));
	const signingInput = `${HEADER}.${payload}`;
	const signature = await crypto.subtle.sign("HMAC", await hmacKey(secret), encoder.encode(signingInput));
	return `${signingInput}.${encodeBase64urlNoPadding(new Uint8Array(signature))}`;
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

/**
 * Verifies signature, pinned header, issuer, audience and expiry. `exp` is required; `nbf`, when
 * present, is honoured. Only the signature check touches the key, and it is constant-time.
 */
export async function verifyAccessToken(
	token: string,
	secret: string,
	expected: { issuer: string; audience: string; nowSeconds: number },
): Promise<JwtVerifyResult> {
	const parts = token.split(".");
	if (parts.length !== 3) return { ok: false, reason: "invalid" };
	const [header, payload, signature] = parts as [string, string, string];
	const headerValue = decodeJson(header) as Record<string, unknown> | null;
	if (headerValue?.alg !== "HS256" || (headerValue.typ !== undefined && headerValue.typ !== "JWT")) {
		return { ok: false, reason: "invalid" };
	}
	if (Object.keys(headerValue).some((k) => k !== "alg" && k !== "typ")) return { ok: false, reason: "invalid" };
	let signatureBytes: Uint8Array;
	try {
		// Throws on non-zero unused bits too, so a signature has exactly one valid spelling.
		signatureBytes = decodeBase64urlIgnorePadding(signature);
	} catch {
		return { ok: false, reason: "invalid" };
	}
	const valid = await crypto.subtle.verify(
		"HMAC",
		await hmacKey(secret),
		signatureBytes,
		encoder.encode(`${header}.${payload}`),
	);
	if (!valid) return { ok: false, reason: "invalid" };
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
