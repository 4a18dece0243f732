import { ECDSAPublicKey, decodePKIXECDSASignature, p256 } from "@oslojs/crypto/ecdsa";
import { RSAPublicKey } from "@oslojs/crypto/rsa";
import { decodeBase64urlIgnorePadding } from "@oslojs/encoding";
import {
	COSEKeyType,
	ClientDataType,
	coseAlgorithmES256,
	coseAlgorithmRS256,
	coseEllipticCurveP256,
	createAssertionSignatureMessage,
	parseAttestationObject,
	parseAuthenticatorData,
	parseClientDataJSON,
} from "@oslojs/webauthn";
import { constantTimeEqual } from "./crypto";

/**
 * WebAuthn Level 2 ceremonies for passkeys (ES256 and RS256), on @oslojs/webauthn for the CBOR and
 * authenticator-data parsing and WebCrypto for the signatures. Pure: the caller brings the expected
 * challenge, origins, RP ID and stored key; nothing here reads or writes storage.
 */

/** The algorithms offered, in order of preference (COSE identifiers). */
export const PASSKEY_ALGORITHMS = [coseAlgorithmES256, coseAlgorithmRS256] as const;
export type PasskeyAlgorithm = (typeof PASSKEY_ALGORITHMS)[number];

/** Why a ceremony was refused; for logs and the audit trail, never shown to the client. */
export type CeremonyFailure =
	| "malformed"
	| "wrong_type"
	| "wrong_challenge"
	| "wrong_origin"
	| "wrong_rp_id"
	| "user_not_present"
	| "user_not_verified"
	| "unsupported_algorithm"
	| "credential_mismatch"
	| "bad_signature";

export type RelyingParty = { rpId: string; origins: readonly string[] };

export type RegistrationInput = RelyingParty & {
	/** base64url fields of a RegistrationResponseJSON. */
	credentialId: string;
	clientDataJSON: string;
	attestationObject: string;
	expectedChallenge: Uint8Array;
};

export type RegisteredCredential = {
	/** base64url, as the browser reports it (the key of later sign-ins). */
	credentialId: string;
	algorithm: PasskeyAlgorithm;
	/** SubjectPublicKeyInfo (DER), ready for WebCrypto's importKey("spki"). */
	publicKey: Uint8Array;
	signCount: number;
};

export type AssertionInput = RelyingParty & {
	clientDataJSON: string;
	authenticatorData: string;
	signature: string;
	expectedChallenge: Uint8Array;
	algorithm: number;
	publicKey: Uint8Array;
};

type Checked<T> = ({ ok: true } & T) | { ok: false; reason: CeremonyFailure };

function decode(value: string): Uint8Array {
	return decodeBase64urlIgnorePadding(value);
}

/** The client data checks shared by both ceremonies; every comparison is verbatim. */
function checkClientData(
	clientDataJSON: Uint8Array,
	type: ClientDataType,
	expectedChallenge: Uint8Array,
	origins: readonly string[],
): CeremonyFailure | null {
	const clientData = parseClientDataJSON(clientDataJSON);
	if (clientData.type !== type) return "wrong_type";
	if (!constantTimeEqual(clientData.challenge, expectedChallenge)) return "wrong_challenge";
	if (!origins.includes(clientData.origin)) return "wrong_origin";
	// A credential used from a frame of another site is not a sign-in on this one.
	if (clientData.crossOrigin === true) return "wrong_origin";
	return null;
}

/**
 * Verifies a registration (attestation `none`; any other statement is ignored, never trusted):
 * client data, RP ID hash, user presence and verification, and an ES256 or RS256 key.
 */
export function verifyRegistration(input: RegistrationInput): Checked<{ credential: RegisteredCredential }> {
	try {
		const clientFailure = checkClientData(
			decode(input.clientDataJSON),
			ClientDataType.Create,
			input.expectedChallenge,
			input.origins,
		);
		if (clientFailure) return { ok: false, reason: clientFailure };
		const { authenticatorData } = parseAttestationObject(decode(input.attestationObject));
		if (!authenticatorData.verifyRelyingPartyIdHash(input.rpId)) return { ok: false, reason: "wrong_rp_id" };
		if (!authenticatorData.userPresent) return { ok: false, reason: "user_not_present" };
		if (!authenticatorData.userVerified) return { ok: false, reason: "user_not_verified" };
		const credential = authenticatorData.credential;
		if (!credential) return { ok: false, reason: "malformed" };
		if (!constantTimeEqual(credential.id, decode(input.credentialId)))
			return { ok: false, reason: "credential_mismatch" };
		const key = credential.publicKey;
		let algorithm: PasskeyAlgorithm;
		let publicKey: Uint8Array;
		if (key.type() === COSEKeyType.EC2 && key.algorithm() === coseAlgorithmES256) {
			const { curve, x, y } = key.ec2();
			if (curve !== coseEllipticCurveP256) return { ok: false, reason: "unsupported_algorithm" };
			algorithm = coseAlgorithmES256;
			publicKey = new ECDSAPublicKey(p256, x, y).encodePKIXUncompressed();
		} else if (key.type() === COSEKeyType.RSA && key.algorithm() === coseAlgorithmRS256) {
			const { n, e } = key.rsa();
			algorithm = coseAlgorithmRS256;
			publicKey = new RSAPublicKey(n, e).encodePKIX();
		} else {
			return { ok: false, reason: "unsupported_algorithm" };
		}
		return {
			ok: true,
			credential: {
				credentialId: input.credentialId,
				algorithm,
				publicKey,
				signCount: authenticatorData.signatureCounter,
			},
		};
	} catch {
		// @oslojs throws on malformed CBOR, JSON or base64url: all of them are a refused credential.
		return { ok: false, reason: "malformed" };
	}
}

/** WebCrypto parameters of a stored key's algorithm. */
function webCryptoAlgorithm(algorithm: number) {
	if (algorithm === coseAlgorithmES256) {
		return { importAs: { name: "ECDSA", namedCurve: "P-256" }, verifyAs: { name: "ECDSA", hash: "SHA-256" } };
	}
	if (algorithm === coseAlgorithmRS256) {
		return { importAs: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, verifyAs: { name: "RSASSA-PKCS1-v1_5" } };
	}
	return null;
}

/**
 * Verifies a sign-in assertion against a stored key: client data, RP ID hash, user presence and
 * verification, and the signature over authenticatorData || SHA-256(clientDataJSON). Answers the
 * authenticator's signature counter; the caller decides whether it moved forward.
 */
export async function verifyAssertion(input: AssertionInput): Promise<Checked<{ signCount: number }>> {
	try {
		const clientDataJSON = decode(input.clientDataJSON);
		const clientFailure = checkClientData(clientDataJSON, ClientDataType.Get, input.expectedChallenge, input.origins);
		if (clientFailure) return { ok: false, reason: clientFailure };
		const rawAuthenticatorData = decode(input.authenticatorData);
		const authenticatorData = parseAuthenticatorData(rawAuthenticatorData);
		if (!authenticatorData.verifyRelyingPartyIdHash(input.rpId)) return { ok: false, reason: "wrong_rp_id" };
		if (!authenticatorData.userPresent) return { ok: false, reason: "user_not_present" };
		if (!authenticatorData.userVerified) return { ok: false, reason: "user_not_verified" };
		const webCrypto = webCryptoAlgorithm(input.algorithm);
		if (!webCrypto) return { ok: false, reason: "unsupported_algorithm" };
		let signature = decode(input.signature);
		// WebAuthn ECDSA signatures are DER; WebCrypto wants r || s.
		if (input.algorithm === coseAlgorithmES256) signature = decodePKIXECDSASignature(signature).encodeIEEEP1363(p256);
		const key = await crypto.subtle.importKey("spki", input.publicKey, webCrypto.importAs, false, ["verify"]);
		const message = createAssertionSignatureMessage(rawAuthenticatorData, clientDataJSON);
		const valid = await crypto.subtle.verify(webCrypto.verifyAs, key, signature, message);
		if (!valid) return { ok: false, reason: "bad_signature" };
		return { ok: true, signCount: authenticatorData.signatureCounter };
	} catch {
		return { ok: false, reason: "malformed" };
	}
}

/**
 * True when a counter may follow the stored one: it must grow, except that an authenticator
 * without a counter reports 0 every time (0 after 0 is allowed).
 */
export function counterAdvances(stored: number, received: number): boolean {
	return received > stored || (received === 0 && stored === 0);
}

/** An IPv4 or (bracketless) IPv6 literal. */
export function isIpLiteral(value: string): boolean {
	if (/^\d{1,3}(\.\d{1,3}){3}$/.test(value)) return value.split(".").every((part) => Number(part) <= 255);
	return /^[0-9a-f:]+$/.test(value) && value.includes(":");
}

/** A valid WebAuthn RP ID: a lower-case domain name, or an IP literal (for local development). */
export function isValidRpId(value: string): boolean {
	if (isIpLiteral(value)) return true;
	return /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(value);
}

const LOOPBACK = /^(localhost|.+\.localhost|127(\.\d{1,3}){3}|\[::1\])$/;

/**
 * What is wrong with an allowed origin for an RP ID, or null: an origin in its canonical form
 * (scheme://host[:port], as browsers report it), https (http only on loopback hosts), on the RP
 * ID or one of its subdomains.
 */
export function originProblem(origin: string, rpId: string): string | null {
	let url: URL;
	try {
		url = new URL(origin);
	} catch {
		return "is not a URL";
	}
	if (url.origin !== origin) return `must be written as its origin (${url.origin})`;
	const host = url.hostname;
	if (url.protocol !== "https:" && !(url.protocol === "http:" && LOOPBACK.test(host))) {
		return "must be https (http only on a loopback host)";
	}
	const bareHost = host.startsWith("[") ? host.slice(1, -1) : host;
	if (bareHost !== rpId && !bareHost.endsWith(`.${rpId}`)) return `is not on the RP ID ${rpId} or a subdomain of it`;
	return null;
}
