import { sha256 } from "@oslojs/crypto/sha2";
import { encodeBase32LowerCaseNoPadding, encodeBase64urlNoPadding, encodeHexLowerCase } from "@oslojs/encoding";

/** Random bytes from the platform CSPRNG. */
export function randomBytes(length: number): Uint8Array {
	const bytes = new Uint8Array(length);
	crypto.getRandomValues(bytes);
	return bytes;
}

/** An opaque, non-sequential identifier (120 random bits, base32). */
export function newId(): string {
	return encodeBase32LowerCaseNoPadding(randomBytes(15));
}

/** A bearer secret (256 random bits, base64url) for refresh tokens and mailed links. */
export function newSecretToken(): string {
	return encodeBase64urlNoPadding(randomBytes(32));
}

/** Hex SHA-256 of a token: the only form in which bearer secrets are stored. */
export function hashToken(token: string): string {
	return encodeHexLowerCase(sha256(new TextEncoder().encode(token)));
}

/** Compares two byte strings in time that depends only on their length. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
	if (a.length !== b.length) return false;
	let diff = 0;
	for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
	return diff === 0;
}
