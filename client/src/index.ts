import createFetchClient from "openapi-fetch";
import { AtriumError, problemOf } from "./errors";
import type { components, paths } from "./openapi";
import { memoryStorage, type StoredTokens, type TokenStorage } from "./storage";
import { createTokenKeeper, type TokenBody, type TokenChange } from "./tokens";
import { type PublicKeyCredentialLike, credentialJson, creationOptions, requestOptions } from "./webauthn";

export { AtriumError, isAtriumError, type Problem } from "./errors";
export type { components, operations, paths } from "./openapi";
export { localStorageStorage, memoryStorage, type StoredTokens, type TokenStorage } from "./storage";
export type { TokenChange } from "./tokens";
export { credentialJson, creationOptions, fromBase64url, requestOptions, toBase64url } from "./webauthn";

type Schemas = components["schemas"];
export type Tokens = Schemas["Tokens"];
export type MfaRequired = Schemas["MfaRequired"];
export type Me = Schemas["Me"];
export type Image = Schemas["Image"];
export type Passkey = Schemas["Passkey"];

/** navigator.credentials, or a stand-in (tests, a native bridge) with the same two methods. */
export type CredentialsContainerLike = {
	create(options: { publicKey: unknown }): Promise<unknown>;
	get(options: { publicKey: unknown; mediation?: string }): Promise<unknown>;
};

/** The end of a first factor: signed in, or a second step to answer with `completeMfa`. */
export type SignInResult = { status: "signed_in"; tokens: Tokens } | { status: "mfa_required"; challenge: MfaRequired };

export type AtriumClientOptions = {
	/** Where Atrium is served, e.g. `https://auth.example.com`. */
	baseUrl: string;
	/** Where the token pair lives; memory by default. */
	storage?: TokenStorage;
	/** A fetch to use instead of the global one (tests, service bindings, instrumentation). */
	fetch?: (request: Request) => Promise<Response>;
	/** Refresh this many seconds before the access token expires (default 30). */
	refreshLeewaySeconds?: number;
	/** Web Locks name for refreshing across tabs (default "atrium-refresh"); false turns it off. */
	lockName?: string | false;
	/** Milliseconds since the epoch; injectable for tests. */
	now?: () => number;
	/** Called whenever the stored tokens change (sign-in, refresh, sign-out, a session ended by the server). */
	onTokensChange?: (tokens: StoredTokens | null, reason: TokenChange) => void;
	/** Where passkey ceremonies run; `navigator.credentials` by default. */
	credentials?: CredentialsContainerLike;
};

/** Operations that never take a bearer token: the client must not attach one (or refresh for one). */
const ANONYMOUS = new Set([
	"/v1/auth/login",
	"/v1/auth/register",
	"/v1/auth/refresh",
	"/v1/auth/mfa",
	"/v1/auth/oauth/exchange",
	"/v1/auth/magic-link",
	"/v1/auth/magic-link/verify",
	"/v1/auth/passkey/options",
	"/v1/auth/passkey",
]);
/** Operations whose success ends the session on this client. */
const SIGN_OUT = new Set(["/v1/auth/logout", "/v1/auth/logout-all"]);
const BOOKMARK = "X-D1-Bookmark";

/**
 * A typed Atrium client. `api` covers every operation of the OpenAPI document (typed paths,
 * bodies, answers and error codes); the helpers around it do what every app otherwise writes by
 * hand: keep the tokens, refresh them once for all concurrent calls, carry the D1 bookmark, and
 * turn problem+json into `AtriumError`.
 */
export function createAtriumClient(options: AtriumClientOptions) {
	const baseUrl = options.baseUrl.replace(/\/+$/, "");
	const transport = options.fetch ?? ((request: Request) => globalThis.fetch(request));
	const now = options.now ?? Date.now;
	let bookmark: string | null = null;

	async function send(request: Request): Promise<Response> {
		if (bookmark && !request.headers.has(BOOKMARK)) request.headers.set(BOOKMARK, bookmark);
		const response = await transport(request);
		bookmark = response.headers.get(BOOKMARK) ?? bookmark;
		return response;
	}

	const keeper = createTokenKeeper({
		storage: options.storage ?? memoryStorage(),
		now,
		leewayMs: (options.refreshLeewaySeconds ?? 30) * 1000,
		lockName: options.lockName ?? "atrium-refresh",
		onChange: (tokens, reason) => options.onTokensChange?.(tokens, reason),
		postRefresh: (refreshToken) =>
			send(
				new Request(`${baseUrl}/v1/auth/refresh`, {
					method: "POST",
					headers: { "Content-Type": "application/json" },
					body: JSON.stringify({ refresh_token: refreshToken }),
				}),
			),
	});

	/** Attaches the access token, retries once after a refresh when the server says it expired, keeps new tokens. */
	async function authedFetch(request: Request): Promise<Response> {
		const path = new URL(request.url).pathname;
		const attach = !request.headers.has("Authorization") && !ANONYMOUS.has(path);
		const tokens = attach ? await keeper.fresh() : null;
		const retry = tokens ? request.clone() : null;
		if (tokens) request.headers.set("Authorization", `Bearer ${tokens.access_token}`);
		let response = await send(request);
		if (response.status === 401 && tokens && retry) {
			const code = (await problemOf(response.clone())).code;
			if (code === "token_expired" || code === "unauthorized") {
				const outcome = await keeper.refresh(tokens.refresh_token);
				if (outcome.ok) {
					retry.headers.set("Authorization", `Bearer ${outcome.tokens.access_token}`);
					response = await send(retry);
				}
			}
		}
		await observe(path, response);
		return response;
	}

	/** Keeps the tokens of any sign-in answer and forgets them on sign-out. */
	async function observe(path: string, response: Response): Promise<void> {
		if (!response.ok) return;
		if (SIGN_OUT.has(path) || (path === "/v1/me" && response.status === 204)) {
			await keeper.clear("signed_out");
			return;
		}
		if (!path.startsWith("/v1/auth/") || !response.headers.get("Content-Type")?.includes("json")) return;
		const body = (await response.clone().json()) as Partial<TokenBody>;
		if (typeof body.access_token === "string" && typeof body.refresh_token === "string") {
			await keeper.save(body as TokenBody, "signed_in");
		}
	}

	const api = createFetchClient<paths>({ baseUrl, fetch: authedFetch });

	function signInResult(data: Tokens | MfaRequired): SignInResult {
		return "mfa_required" in data ? { status: "mfa_required", challenge: data } : { status: "signed_in", tokens: data };
	}

	/** Sends one raw request through the client (auth, refresh, bookmark) and throws on failure. */
	async function raw(path: string, init: RequestInit): Promise<Response> {
		const response = await authedFetch(new Request(`${baseUrl}${path}`, init));
		if (!response.ok) throw new AtriumError(await problemOf(response));
		return response;
	}

	function credentials(): CredentialsContainerLike {
		const container =
			options.credentials ??
			(globalThis as { navigator?: { credentials?: CredentialsContainerLike } }).navigator?.credentials;
		if (!container) throw new Error("passkeys need navigator.credentials (a browser) or options.credentials");
		return container;
	}

	return {
		/** Every operation, typed from the OpenAPI document: `await client.api.GET("/v1/me")`. */
		api,
		/** The base URL without a trailing slash. */
		baseUrl,
		/** The stored tokens, or null when signed out. */
		tokens: () => keeper.current(),
		/** Refreshes now (shared with any refresh already running); throws if the session ended. */
		async refresh(): Promise<StoredTokens> {
			const current = await keeper.current();
			const outcome = await keeper.refresh(current?.refresh_token);
			if (!outcome.ok) throw new AtriumError(outcome.problem);
			return outcome.tokens;
		},
		/** The latest `X-D1-Bookmark` seen (sent back on every call so reads see this client's writes). */
		bookmark: () => bookmark,
		auth: {
			/** Signs in with email and password; with TOTP on, answers the second step to complete. */
			async signIn(body: { email: string; password: string }): Promise<SignInResult> {
				return signInResult(await ok(api.POST("/v1/auth/login", { body })));
			},
			/** Answers the `mfa_required` step with a TOTP code or a recovery code. */
			async completeMfa(challenge: MfaRequired, answer: { code: string } | { recovery_code: string }): Promise<Tokens> {
				return ok(api.POST("/v1/auth/mfa", { body: { mfa_token: challenge.mfa_token, ...answer } }));
			},
			/** Exchanges the one-time `code` an OAuth (or magic-link) redirect brought back. */
			async exchangeCode(code: string): Promise<SignInResult> {
				return signInResult(await ok(api.POST("/v1/auth/oauth/exchange", { body: { code } })));
			},
			/**
			 * Mails a sign-in link and a 6-digit code (202 whatever the address). With `redirect_to`, the
			 * link's button comes back to it with `?code=` for `exchangeCode`.
			 */
			async requestMagicLink(body: { email: string; redirect_to?: string; locale?: string }): Promise<void> {
				await ok(api.POST("/v1/auth/magic-link", { body }));
			},
			/** Signs in with the mailed code (`{email, code}`) or the link's token (`{token}`). */
			async verifyMagicLink(body: { email: string; code: string } | { token: string }): Promise<SignInResult> {
				return signInResult(await ok(api.POST("/v1/auth/magic-link/verify", { body })));
			},
			/** Signs in with a passkey the browser holds for this site (no email asked; satisfies two-step). */
			async signInWithPasskey(): Promise<Tokens> {
				const { challenge_id, options: json } = await ok(api.POST("/v1/auth/passkey/options"));
				const credential = (await credentials().get({ publicKey: requestOptions(json) })) as PublicKeyCredentialLike;
				const body = { challenge_id, credential: credentialJson(credential) } as never;
				return ok(api.POST("/v1/auth/passkey", { body }));
			},
			/** The URL to open in the browser to sign in with a provider; it comes back to `redirectUri?code=`. */
			oauthUrl(provider: string, redirectUri?: string): string {
				const url = new URL(`${baseUrl}/v1/auth/oauth/${encodeURIComponent(provider)}`);
				if (redirectUri) url.searchParams.set("redirect_uri", redirectUri);
				return url.toString();
			},
			/** Ends this session (or every session) and forgets the tokens, even when offline. */
			async signOut(options: { everywhere?: boolean } = {}): Promise<void> {
				const path = options.everywhere ? "/v1/auth/logout-all" : "/v1/auth/logout";
				try {
					if (await keeper.current()) await raw(path, { method: "POST" });
				} finally {
					if (await keeper.current()) await keeper.clear("signed_out");
				}
			},
		},
		passkeys: {
			/** Creates a passkey for the signed-in user (fresh sign-in needed) and registers it. */
			async register(name?: string): Promise<Passkey> {
				const { challenge_id, options: json } = await ok(api.POST("/v1/me/passkeys/options"));
				const credential = (await credentials().create({
					publicKey: creationOptions(json),
				})) as PublicKeyCredentialLike;
				const body = { challenge_id, credential: credentialJson(credential), ...(name ? { name } : {}) } as never;
				return ok(api.POST("/v1/me/passkeys", { body }));
			},
		},
		images: {
			/** Uploads a File or Blob as raw bytes (or multipart with `multipart: true`). */
			async upload(file: Blob, options: { filename?: string; multipart?: boolean } = {}): Promise<Image> {
				const filename = options.filename ?? (file as { name?: string }).name;
				const query = filename && !options.multipart ? `?filename=${encodeURIComponent(filename)}` : "";
				return (await raw(`/v1/images${query}`, uploadInit("POST", file, filename, options.multipart))).json();
			},
			/** Replaces an image's bytes; `ifMatch` (its etag) refuses the write if someone changed it first. */
			async replace(id: string, file: Blob, options: { ifMatch?: string } = {}): Promise<Image> {
				const init = uploadInit("PUT", file);
				if (options.ifMatch) (init.headers as Headers).set("If-Match", options.ifMatch);
				return (await raw(`/v1/images/${encodeURIComponent(id)}/content`, init)).json();
			},
			/** Sets the signed-in user's avatar from a File or Blob; answers its new `avatar_url`. */
			async setAvatar(file: Blob): Promise<{ avatar_url: string }> {
				return (await raw("/v1/me/avatar", uploadInit("PUT", file))).json();
			},
		},
	};
}

export type AtriumClient = ReturnType<typeof createAtriumClient>;

function uploadInit(method: string, file: Blob, filename?: string, multipart = false): RequestInit {
	if (multipart) {
		const form = new FormData();
		form.set("image", file, filename ?? "image");
		return { method, body: form };
	}
	return { method, body: file, headers: new Headers({ "Content-Type": file.type || "application/octet-stream" }) };
}

/**
 * Unwraps an `api` call: its data, or an `AtriumError` carrying the problem's typed `code`.
 * `await ok(client.api.GET("/v1/images"))`.
 */
export async function ok<Data, Failure>(
	call: Promise<{ data?: Data; error?: Failure; response: Response }>,
): Promise<Data> {
	const { data, error, response } = await call;
	if (error !== undefined || !response.ok) {
		const problem =
			error && typeof error === "object" && "code" in error
				? { ...(error as object), status: response.status }
				: { title: response.statusText, status: response.status, code: "unexpected_response" };
		throw new AtriumError(problem as ConstructorParameters<typeof AtriumError>[0]);
	}
	return data as Data;
}
