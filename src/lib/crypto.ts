import { timingSafeEqual } from "node:crypto";
import { sha256 } from "@oslojs/crypto/sha2";
import { encodeBase32LowerCaseNoPadding, encodeBase64urlNoPadding, encodeHexLowerCase } from "@oslojs/encoding";

const textEncoder = new TextEncoder();

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

/** Compares two byte strings in time that depends only on their length (node:crypto's compare). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
	return a.length === b.length && timingSafeEqual(a, b);
}

/** `constantTimeEqual` over the UTF-8 bytes of two strings. */
export function constantTimeEqualText(a: string, b: string): boolean {
	return constantTimeEqual(textEncoder.encode(a), textEncoder.encode(b));
}
