// A software passkey for `npm run bench`: an ES256 key in Node's WebCrypto that answers WebAuthn
// registration and sign-in ceremonies the way a platform authenticator would (CBOR attestation
// object with attestation "none", authenticator data with the UP and UV flags). It keeps no
// signature counter (it reports 0, as counterless authenticators do), so pre-signed assertions
// stay valid in any order. test/helpers/webauthn.ts is the tests' fuller version (RS256, faults).
import { createHash, webcrypto } from "node:crypto";
import { decodeIEEEP1363ECDSASignature, p256 } from "@oslojs/crypto/ecdsa";
import { decodeBase64urlIgnorePadding, encodeBase64urlNoPadding } from "@oslojs/encoding";

const b64 = encodeBase64urlNoPadding;
const sha256 = (bytes) => new Uint8Array(createHash("sha256").update(bytes).digest());
const text = (value) => new TextEncoder().encode(value);
const concat = (...parts) => Uint8Array.from(parts.flatMap((part) => [...part]));

function head(major, length) {
	if (length < 24) return [(major << 5) | length];
	if (length < 0x100) return [(major << 5) | 24, length];
	return [(major << 5) | 25, length >> 8, length & 0xff];
}

/** Definite-length CBOR of integers, strings, byte strings and Maps (all WebAuthn needs here). */
function cbor(value) {
	if (typeof value === "number") return value >= 0 ? head(0, value) : head(1, -1 - value);
	if (typeof value === "string") return [...head(3, text(value).length), ...text(value)];
	if (value instanceof Uint8Array) return [...head(2, value.length), ...value];
	return [...head(5, value.size), ...[...value].flatMap(([k, v]) => [...cbor(k), ...cbor(v)])];
}

export class BenchPasskey {
	constructor(origin, rpId) {
		this.origin = origin;
		this.rpId = rpId;
		this.credentialId = b64(webcrypto.getRandomValues(new Uint8Array(32)));
	}

	authenticatorData(attested = new Uint8Array()) {
		// UP | UV, plus AT when a credential is attached; counter 0.
		const flags = 0x01 | 0x04 | (attested.length ? 0x40 : 0);
		return concat(sha256(text(this.rpId)), [flags], [0, 0, 0, 0], attested);
	}

	clientData(type, challenge) {
		return text(JSON.stringify({ type, challenge, origin: this.origin, crossOrigin: false }));
	}

	/** A RegistrationResponseJSON for POST /v1/me/passkeys. */
	async create(options) {
		this.keys = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign"]);
		this.userHandle = options.user.id;
		const jwk = await webcrypto.subtle.exportKey("jwk", this.keys.publicKey);
		const key = new Map([
			[1, 2],
			[3, -7],
			[-1, 1],
			[-2, decodeBase64urlIgnorePadding(jwk.x)],
			[-3, decodeBase64urlIgnorePadding(jwk.y)],
		]);
		const id = decodeBase64urlIgnorePadding(this.credentialId);
		const attested = concat(new Uint8Array(16), [id.length >> 8, id.length & 0xff], id, cbor(key));
		const attestation = new Map([
			["fmt", "none"],
			["attStmt", new Map()],
			["authData", this.authenticatorData(attested)],
		]);
		return {
			id: this.credentialId,
			rawId: this.credentialId,
			type: "public-key",
			response: {
				clientDataJSON: b64(this.clientData("webauthn.create", options.challenge)),
				attestationObject: b64(Uint8Array.from(cbor(attestation))),
			},
		};
	}

	/** An AuthenticationResponseJSON for POST /v1/auth/passkey. */
	async get(options) {
		const authData = this.authenticatorData();
		const clientDataJSON = this.clientData("webauthn.get", options.challenge);
		const raw = new Uint8Array(
			await webcrypto.subtle.sign(
				{ name: "ECDSA", hash: "SHA-256" },
				this.keys.privateKey,
				concat(authData, sha256(clientDataJSON)),
			),
		);
		return {
			id: this.credentialId,
			rawId: this.credentialId,
			type: "public-key",
			response: {
				clientDataJSON: b64(clientDataJSON),
				authenticatorData: b64(authData),
				signature: b64(decodeIEEEP1363ECDSASignature(p256, raw).encodePKIX()),
				userHandle: this.userHandle,
			},
		};
	}
}
