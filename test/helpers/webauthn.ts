import { decodeIEEEP1363ECDSASignature, p256 } from "@oslojs/crypto/ecdsa";
import { sha256 } from "@oslojs/crypto/sha2";
import { decodeBase64urlIgnorePadding, encodeBase64urlNoPadding } from "@oslojs/encoding";
import { expect } from "vitest";
import { send } from "./api";

/**
 * A software authenticator for the Workers-pool tests: it builds real CBOR attestation objects and
 * authenticator data and signs with WebCrypto ES256 or RS256 keys, as a platform authenticator
 * would. Every field a test may want to falsify can be overridden per ceremony.
 */

type CborValue = number | string | Uint8Array | CborValue[] | Map<number | string, CborValue>;

function cborHead(major: number, length: number): number[] {
	if (length < 24) return [(major << 5) | length];
	if (length < 0x100) return [(major << 5) | 24, length];
	if (length < 0x10000) return [(major << 5) | 25, length >> 8, length & 0xff];
	return [(major << 5) | 26, (length >>> 24) & 0xff, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff];
}

/** Definite-length CBOR for the few types WebAuthn uses. */
export function encodeCbor(value: CborValue): Uint8Array {
	const out: number[] = [];
	const write = (item: CborValue) => {
		if (typeof item === "number") {
			out.push(...(item >= 0 ? cborHead(0, item) : cborHead(1, -1 - item)));
		} else if (typeof item === "string") {
			const bytes = new TextEncoder().encode(item);
			out.push(...cborHead(3, bytes.length), ...bytes);
		} else if (item instanceof Uint8Array) {
			out.push(...cborHead(2, item.length), ...item);
		} else if (Array.isArray(item)) {
			out.push(...cborHead(4, item.length));
			for (const element of item) write(element);
		} else {
			out.push(...cborHead(5, item.size));
			for (const [key, element] of item) {
				write(key);
				write(element);
			}
		}
	};
	write(value);
	return Uint8Array.from(out);
}

const concat = (...parts: Uint8Array[]) => {
	const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
	let offset = 0;
	for (const part of parts) {
		out.set(part, offset);
		offset += part.length;
	}
	return out;
};

const b64 = encodeBase64urlNoPadding;
const text = (value: string) => new TextEncoder().encode(value);

export type Algorithm = "ES256" | "RS256";

/** What a test may falsify in one ceremony. */
export type CeremonyOverrides = {
	origin?: string;
	rpId?: string;
	type?: string;
	challenge?: string;
	userVerified?: boolean;
	crossOrigin?: boolean;
	/** The counter to report (default: one more than the last). */
	counter?: number;
	/** The credential id to claim (default: this authenticator's). */
	credentialId?: string;
	userHandle?: string | null;
};

export type CreationOptions = {
	challenge: string;
	rp: { id: string; name: string };
	user: { id: string; name: string; displayName: string };
	pubKeyCredParams: { type: string; alg: number }[];
	excludeCredentials: { type: string; id: string }[];
	authenticatorSelection: Record<string, unknown>;
	attestation: string;
	timeout: number;
};

export type RequestOptions = {
	challenge: string;
	rpId: string;
	userVerification: string;
	allowCredentials: unknown[];
	timeout: number;
};

export class SoftwareAuthenticator {
	readonly credentialId = b64(crypto.getRandomValues(new Uint8Array(32)));
	counter = 0;
	userHandle: string | null = null;
	private keys: CryptoKeyPair | undefined;

	constructor(
		readonly algorithm: Algorithm = "ES256",
		readonly origin = "https://atrium.test",
		readonly rpId = "atrium.test",
		/** An authenticator without a counter reports 0 every time. */
		readonly counts = true,
	) {}

	private async keyPair(): Promise<CryptoKeyPair> {
		this.keys ??= (await crypto.subtle.generateKey(
			this.algorithm === "ES256"
				? { name: "ECDSA", namedCurve: "P-256" }
				: {
						name: "RSASSA-PKCS1-v1_5",
						modulusLength: 2048,
						publicExponent: new Uint8Array([1, 0, 1]),
						hash: "SHA-256",
					},
			true,
			["sign", "verify"],
		)) as CryptoKeyPair;
		return this.keys;
	}

	private async coseKey(): Promise<Uint8Array> {
		const jwk = (await crypto.subtle.exportKey("jwk", (await this.keyPair()).publicKey)) as JsonWebKey;
		const d = (value: string | undefined) => decodeBase64urlIgnorePadding(value ?? "");
		const key =
			this.algorithm === "ES256"
				? new Map<number, CborValue>([
						[1, 2],
						[3, -7],
						[-1, 1],
						[-2, d(jwk.x)],
						[-3, d(jwk.y)],
					])
				: new Map<number, CborValue>([
						[1, 3],
						[3, -257],
						[-1, d(jwk.n)],
						[-2, d(jwk.e)],
					]);
		return encodeCbor(key);
	}

	private nextCounter(overrides: CeremonyOverrides): number {
		if (overrides.counter !== undefined) return overrides.counter;
		if (this.counts) this.counter += 1;
		return this.counter;
	}

	private authenticatorData(overrides: CeremonyOverrides, counter: number, attested?: Uint8Array): Uint8Array {
		const userVerified = overrides.userVerified ?? true;
		const flags = 0x01 | (userVerified ? 0x04 : 0) | (attested ? 0x40 : 0);
		const count = new Uint8Array(4);
		new DataView(count.buffer).setUint32(0, counter);
		return concat(sha256(text(overrides.rpId ?? this.rpId)), Uint8Array.of(flags), count, attested ?? new Uint8Array());
	}

	private clientData(type: string, challenge: string, overrides: CeremonyOverrides): Uint8Array {
		return text(
			JSON.stringify({
				type: overrides.type ?? type,
				challenge: overrides.challenge ?? challenge,
				origin: overrides.origin ?? this.origin,
				crossOrigin: overrides.crossOrigin ?? false,
			}),
		);
	}

	/** navigator.credentials.create(), serialized as a RegistrationResponseJSON. */
	async create(options: CreationOptions, overrides: CeremonyOverrides = {}) {
		const credentialId = decodeBase64urlIgnorePadding(overrides.credentialId ?? this.credentialId);
		const idLength = Uint8Array.of(credentialId.length >> 8, credentialId.length & 0xff);
		const attested = concat(new Uint8Array(16), idLength, credentialId, await this.coseKey());
		const authData = this.authenticatorData(overrides, this.nextCounter(overrides), attested);
		const attestationObject = encodeCbor(
			new Map<string, CborValue>([
				["fmt", "none"],
				["attStmt", new Map()],
				["authData", authData],
			]),
		);
		this.userHandle = options.user.id;
		const id = overrides.credentialId ?? this.credentialId;
		return {
			id,
			rawId: id,
			type: "public-key",
			response: {
				clientDataJSON: b64(this.clientData("webauthn.create", options.challenge, overrides)),
				attestationObject: b64(attestationObject),
				transports: ["internal"],
			},
			clientExtensionResults: {},
			authenticatorAttachment: "platform",
		};
	}

	/** navigator.credentials.get(), serialized as an AuthenticationResponseJSON. */
	async get(options: RequestOptions, overrides: CeremonyOverrides = {}) {
		const authData = this.authenticatorData(overrides, this.nextCounter(overrides));
		const clientDataJSON = this.clientData("webauthn.get", options.challenge, overrides);
		const message = concat(authData, sha256(clientDataJSON));
		const { privateKey } = await this.keyPair();
		let signature: Uint8Array = new Uint8Array(
			await crypto.subtle.sign(
				this.algorithm === "ES256" ? { name: "ECDSA", hash: "SHA-256" } : { name: "RSASSA-PKCS1-v1_5" },
				privateKey,
				message,
			),
		);
		// WebCrypto signs r || s; authenticators send DER.
		if (this.algorithm === "ES256") signature = decodeIEEEP1363ECDSASignature(p256, signature).encodePKIX();
		const id = overrides.credentialId ?? this.credentialId;
		return {
			id,
			rawId: id,
			type: "public-key",
			response: {
				clientDataJSON: b64(clientDataJSON),
				authenticatorData: b64(authData),
				signature: b64(signature),
				userHandle: overrides.userHandle === undefined ? this.userHandle : overrides.userHandle,
			},
			clientExtensionResults: {},
			authenticatorAttachment: "platform",
		};
	}
}

/** POST /v1/me/passkeys/options (expects 200). */
export async function registrationOptions(token: string) {
	const res = await send("POST", "/v1/me/passkeys/options", { token });
	expect(res.status).toBe(200);
	return (await res.json()) as { challenge_id: string; options: CreationOptions };
}

/** POST /v1/auth/passkey/options (expects 200). */
export async function signInOptions() {
	const res = await send("POST", "/v1/auth/passkey/options");
	expect(res.status).toBe(200);
	return (await res.json()) as { challenge_id: string; options: RequestOptions };
}

/** Registers a passkey made by `authenticator` for the signed-in user (expects 201). */
export async function addPasskey(token: string, authenticator: SoftwareAuthenticator, name?: string) {
	const { challenge_id, options } = await registrationOptions(token);
	const credential = await authenticator.create(options);
	const res = await send("POST", "/v1/me/passkeys", { token, body: { challenge_id, credential, name } });
	expect(res.status).toBe(201);
	return (await res.json()) as { id: string; name: string; created_at: string; last_used_at: string | null };
}

/** A whole passkey sign-in: options, then the assertion; answers the response. */
export async function signInWithPasskey(authenticator: SoftwareAuthenticator, overrides: CeremonyOverrides = {}) {
	const { challenge_id, options } = await signInOptions();
	const credential = await authenticator.get(options, overrides);
	return send("POST", "/v1/auth/passkey", { body: { challenge_id, credential } });
}
