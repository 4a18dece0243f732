// navigator.credentials glue: Atrium sends and takes WebAuthn's JSON forms (base64url strings);
// the browser API wants and gives ArrayBuffers. Browsers with PublicKeyCredential's JSON helpers
// (parseCreationOptionsFromJSON, toJSON) use them; others get the same conversion done here.

type Json = Record<string, unknown>;

// Structural stand-ins for the DOM's WebAuthn types, so the client compiles for Workers and Node too.
type Descriptor = { type: "public-key"; id: ArrayBuffer };
/** What navigator.credentials.create({publicKey}) takes. */
export type CreationOptions = Json & {
	challenge: ArrayBuffer;
	user: { id: ArrayBuffer; name: string; displayName: string };
};
/** What navigator.credentials.get({publicKey}) takes. */
export type RequestOptions = Json & { challenge: ArrayBuffer };
/** The PublicKeyCredential create() and get() resolve to. */
export type PublicKeyCredentialLike = {
	id: string;
	rawId: ArrayBuffer;
	type: string;
	authenticatorAttachment?: string | null;
	response: {
		clientDataJSON: ArrayBuffer;
		attestationObject?: ArrayBuffer;
		getTransports?: () => string[];
		authenticatorData?: ArrayBuffer;
		signature?: ArrayBuffer;
		userHandle?: ArrayBuffer | null;
	};
	getClientExtensionResults?: () => Json;
	toJSON?: () => Json;
};

/** Base64url (no padding) to bytes. */
export function fromBase64url(text: string): ArrayBuffer {
	const base64 = text
		.replace(/-/g, "+")
		.replace(/_/g, "/")
		.padEnd(Math.ceil(text.length / 4) * 4, "=");
	const binary = atob(base64);
	const bytes = new Uint8Array(binary.length);
	for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
	return bytes.buffer;
}

/** Bytes to base64url without padding. */
export function toBase64url(buffer: ArrayBuffer | ArrayBufferView): string {
	const bytes =
		buffer instanceof ArrayBuffer
			? new Uint8Array(buffer)
			: new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
	let binary = "";
	for (const byte of bytes) binary += String.fromCharCode(byte);
	return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

type CredentialStatics = {
	parseCreationOptionsFromJSON?: (options: Json) => CreationOptions;
	parseRequestOptionsFromJSON?: (options: Json) => RequestOptions;
};

function statics(): CredentialStatics {
	return (globalThis as unknown as { PublicKeyCredential?: CredentialStatics }).PublicKeyCredential ?? {};
}

function withIds(list: unknown): Descriptor[] | undefined {
	if (!Array.isArray(list)) return undefined;
	return list.map((item: { id: string }) => ({ type: "public-key" as const, id: fromBase64url(item.id) }));
}

/** PublicKeyCredentialCreationOptionsJSON (from POST /v1/me/passkeys/options) for navigator.credentials.create. */
export function creationOptions(options: Json): CreationOptions {
	const parse = statics().parseCreationOptionsFromJSON;
	if (parse) return parse(options);
	const user = options.user as { id: string; name: string; displayName: string };
	return {
		...options,
		challenge: fromBase64url(options.challenge as string),
		user: { ...user, id: fromBase64url(user.id) },
		excludeCredentials: withIds(options.excludeCredentials),
	};
}

/** PublicKeyCredentialRequestOptionsJSON (from POST /v1/auth/passkey/options) for navigator.credentials.get. */
export function requestOptions(options: Json): RequestOptions {
	const parse = statics().parseRequestOptionsFromJSON;
	if (parse) return parse(options);
	return {
		...options,
		challenge: fromBase64url(options.challenge as string),
		allowCredentials: withIds(options.allowCredentials),
	};
}

/** A credential from create() or get() as the Registration/AuthenticationResponseJSON Atrium takes. */
export function credentialJson(credential: PublicKeyCredentialLike): Json {
	if (typeof credential.toJSON === "function") return credential.toJSON();
	const { response } = credential;
	const encoded: Json = { clientDataJSON: toBase64url(response.clientDataJSON) };
	if (response.attestationObject) {
		encoded.attestationObject = toBase64url(response.attestationObject);
		encoded.transports = response.getTransports?.() ?? [];
	} else if (response.authenticatorData && response.signature) {
		encoded.authenticatorData = toBase64url(response.authenticatorData);
		encoded.signature = toBase64url(response.signature);
		if (response.userHandle) encoded.userHandle = toBase64url(response.userHandle);
	}
	return {
		id: credential.id,
		rawId: toBase64url(credential.rawId),
		type: credential.type,
		response: encoded,
		clientExtensionResults: credential.getClientExtensionResults?.() ?? {},
		authenticatorAttachment: credential.authenticatorAttachment ?? undefined,
	};
}
