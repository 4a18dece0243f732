import { decodeBase64urlIgnorePadding, encodeBase64urlNoPadding } from "@oslojs/encoding";

/**
 * What each derived key is for. The purpose is HKDF's `info`, so every purpose gets its own
 * independent AES-GCM key from the one root (ENCRYPTION_KEY), and a ciphertext made for one
 * purpose never decrypts under another.
 */
export type KeyPurpose = "outbox-body" | "totp-secret";

/**
 * What each derived MAC key is for: HKDF's `info` again, so a signature made for one purpose
 * never verifies under another, and none shares a key with the encryption purposes.
 */
export type MacPurpose = "signed-image-url";

const VERSION = "v1";
const IV_BYTES = 12;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

// Derivation costs a few WebCrypto calls; a key per (root, purpose) is kept for the isolate's life.
const derived = new Map<string, Promise<CryptoKey>>();

/**
 * The AES-256-GCM key for `purpose`, derived from the root secret's UTF-8 bytes with
 * HKDF-SHA-256 (fixed salt, the purpose as info). Non-extractable.
 */
export function purposeKey(root: string, purpose: KeyPurpose): Promise<CryptoKey> {
	const id = `${purpose}\u0000${root}`;
	let key = derived.get(id);
	if (!key) {
		key = deriveKey(root, purpose);
		derived.set(id, key);
		// A failed derivation must not stay cached.
		key.catch(() => derived.delete(id));
	}
	return key;
}

async function deriveKey(root: string, purpose: KeyPurpose): Promise<CryptoKey> {
	const material = await crypto.subtle.importKey("raw", encoder.encode(root), "HKDF", false, ["deriveKey"]);
	return crypto.subtle.deriveKey(
		{ name: "HKDF", hash: "SHA-256", salt: encoder.encode("atrium-hkdf-v1"), info: encoder.encode(purpose) },
		material,
		{ name: "AES-GCM", length: 256 },
		false,
		["encrypt", "decrypt"],
	);
}

const derivedMacs = new Map<string, Promise<CryptoKey>>();

/**
 * The HMAC-SHA-256 key for `purpose`, derived from the root secret like {@link purposeKey}.
 * Rotating the root rotates every derived key: whatever was signed under the old root stops
 * verifying. Non-extractable.
 */
export function macKey(root: string, purpose: MacPurpose): Promise<CryptoKey> {
	const id = `${purpose}\u0000${root}`;
	let key = derivedMacs.get(id);
	if (!key) {
		key = deriveMacKey(root, purpose);
		derivedMacs.set(id, key);
		key.catch(() => derivedMacs.delete(id));
	}
	return key;
}

async function deriveMacKey(root: string, purpose: MacPurpose): Promise<CryptoKey> {
	const material = await crypto.subtle.importKey("raw", encoder.encode(root), "HKDF", false, ["deriveKey"]);
	return crypto.subtle.deriveKey(
		{ name: "HKDF", hash: "SHA-256", salt: encoder.encode("atrium-hkdf-v1"), info: encoder.encode(purpose) },
		material,
		{ name: "HMAC", hash: "SHA-256", length: 256 },
		false,
		["sign", "verify"],
	);
}

/**
 * Encrypts text with AES-GCM under a fresh random 96-bit IV. `context` (e.g. a row id) is bound
 * as additional data, so a ciphertext copied to another row fails to decrypt. Returns
 * `v1.<base64url(iv || ciphertext)>`.
 */
export async function encryptText(key: CryptoKey, plaintext: string, context = ""): Promise<string> {
	const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
	const sealed = await crypto.subtle.encrypt(
		{ name: "AES-GCM", iv, additionalData: encoder.encode(context) },
		key,
		encoder.encode(plaintext),
	);
	const out = new Uint8Array(IV_BYTES + sealed.byteLength);
	out.set(iv);
	out.set(new Uint8Array(sealed), IV_BYTES);
	return `${VERSION}.${encodeBase64urlNoPadding(out)}`;
}

/** Decrypts what {@link encryptText} produced with the same key and context; throws when it was altered. */
export async function decryptText(key: CryptoKey, sealed: string, context = ""): Promise<string> {
	const [version, payload] = sealed.split(".", 2);
	if (version !== VERSION || !payload) throw new Error("not an encrypted value of a known version");
	const bytes = decodeBase64urlIgnorePadding(payload);
	if (bytes.byteLength <= IV_BYTES) throw new Error("encrypted value too short");
	const plain = await crypto.subtle.decrypt(
		{ name: "AES-GCM", iv: bytes.subarray(0, IV_BYTES), additionalData: encoder.encode(context) },
		key,
		bytes.subarray(IV_BYTES),
	);
	return decoder.decode(plain);
}
