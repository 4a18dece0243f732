/**
 * Fake GitHub, Google and OpenID Connect issuer, answering at the network edge (fakeOrigin) so
 * that Atrium's real arctic clients, discovery, JWKS fetches and ID-token verification all run.
 * Each fake behaves like the real service where it matters for security: codes are single use
 * and bound to the client, the redirect URI and (for PKCE) the code challenge; ID tokens are
 * RS256-signed with a key pair generated here and published as a JWKS.
 */
import { encodeBase64urlNoPadding } from "@oslojs/encoding";
import { expect } from "vitest";
import { api } from "./api";
import { fakeOrigin } from "./network";

export const APP_CALLBACK = "https://app.test/callback";
/** A second allowed redirect URI with a query of its own (see OAUTH_REDIRECT_URIS in vitest.config.ts). */
export const APP_SETTINGS = "https://app.test/settings/linked?tab=accounts";

export const GITHUB = { clientId: "gh-client", clientSecret: "gh-secret" };
export const GOOGLE = { clientId: "google-client.apps.googleusercontent.com", clientSecret: "google-secret" };
export const OIDC = {
	issuer: "https://issuer.test",
	clientId: "oidc-client",
	clientSecret: "oidc-secret",
	name: "Test SSO",
};

export type ProviderName = "github" | "google" | "oidc";

/** Who signs in at the fake provider. */
export type FakeUser = {
	id: string;
	email: string | null;
	emailVerified: boolean;
	name?: string;
	/** GitHub only: extra addresses of the emails API. */
	otherEmails?: { email: string; verified: boolean }[];
};

let userCounter = 0;
/** A provider user with a unique id and (by default verified) address. */
export function fakeUser(overrides: Partial<FakeUser> = {}): FakeUser {
	userCounter += 1;
	const id = `${100000 + userCounter}${crypto.randomUUID().slice(0, 4).replace(/\D/g, "")}`;
	return {
		id,
		email: `idp-${userCounter}-${crypto.randomUUID().slice(0, 8)}@example.com`,
		emailVerified: true,
		name: `Provider User ${userCounter}`,
		...overrides,
	};
}

// ---------------------------------------------------------------- keys and ID tokens

type SigningKey = { kid: string; privateKey: CryptoKey; publicJwk: JsonWebKey };

async function generateSigningKey(kid: string): Promise<SigningKey> {
	const pair = (await crypto.subtle.generateKey(
		{ name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
		true,
		["sign", "verify"],
	)) as CryptoKeyPair;
	const publicJwk = (await crypto.subtle.exportKey("jwk", pair.publicKey)) as JsonWebKey;
	return { kid, privateKey: pair.privateKey, publicJwk };
}

const encoder = new TextEncoder();

/** Signs `claims` as an RS256 JWT with `key`; `header` overrides let tests forge odd tokens. */
export async function signJwt(
	claims: Record<string, unknown>,
	key: SigningKey,
	header: Record<string, unknown> = {},
): Promise<string> {
	const head = encodeBase64urlNoPadding(
		encoder.encode(JSON.stringify({ alg: "RS256", typ: "JWT", kid: key.kid, ...header })),
	);
	const body = encodeBase64urlNoPadding(encoder.encode(JSON.stringify(claims)));
	const signature = await crypto.subtle.sign("RSASSA-PKCS1-v1_5", key.privateKey, encoder.encode(`${head}.${body}`));
	return `${head}.${body}.${encodeBase64urlNoPadding(new Uint8Array(signature))}`;
}

/** The keys every fake publishes (one per test file), plus one nobody publishes, for forgeries. */
export const keys = {
	google: await generateSigningKey(`google-${crypto.randomUUID()}`),
	oidc: await generateSigningKey(`oidc-${crypto.randomUUID()}`),
	rogue: await generateSigningKey(`rogue-${crypto.randomUUID()}`),
};

function jwks(...published: SigningKey[]) {
	return { keys: published.map((key) => ({ ...key.publicJwk, kid: key.kid, alg: "RS256", use: "sig" })) };
}

async function s256(verifier: string): Promise<string> {
	return encodeBase64urlNoPadding(new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(verifier))));
}

// ---------------------------------------------------------------- the fake identity providers

type Grant = {
	user: FakeUser;
	clientId: string;
	redirectUri: string | null;
	codeChallenge: string | null;
	nonce: string | null;
	used: boolean;
};

/** Ways a test can make the provider misbehave on the next token request or ID token. */
export type Misbehaviour =
	| { kind: "unreachable" }
	| { kind: "server_error" }
	| { kind: "id_token"; claims?: Record<string, unknown>; key?: SigningKey; header?: Record<string, unknown> };

/** State shared by the three fakes; `install()` registers their origins for the current test. */
export class FakeIdentityProviders {
	readonly grants = new Map<string, Grant>();
	readonly tokens = new Map<string, FakeUser>();
	misbehave: Misbehaviour | null = null;
	/** OIDC only: keep email claims out of the ID token so Atrium must ask UserInfo. */
	oidcClaimsInUserinfo = false;
	/** OIDC only: fields to change in the discovery document, or "down" to refuse connections. */
	discovery: Record<string, unknown> | "down" = {};
	/** OIDC only: a `sub` for UserInfo other than the ID token's. */
	userinfoSub: string | null = null;
	/** Counts per URL path, to see caching at work. */
	readonly hits = new Map<string, number>();

	install(): void {
		fakeOrigin("https://github.com", (request) => this.githubToken(request));
		fakeOrigin("https://api.github.com", (request) => this.githubApi(request));
		fakeOrigin("https://oauth2.googleapis.com", (request) => this.oidcToken(request, "google"));
		fakeOrigin("https://www.googleapis.com", (request) => this.count(request, () => Response.json(jwks(keys.google))));
		fakeOrigin(OIDC.issuer, (request) => this.oidcIssuer(request));
	}

	private count(request: Request, respond: () => Response | Promise<Response>) {
		const path = new URL(request.url).pathname;
		this.hits.set(path, (this.hits.get(path) ?? 0) + 1);
		return respond();
	}

	/**
	 * Plays the user's visit to the provider's authorization URL: checks what Atrium put in it
	 * and issues a code bound to it. Returns the callback query a real provider would send.
	 */
	approve(authorizationUrl: string, user: FakeUser): { code: string; state: string } {
		const url = new URL(authorizationUrl);
		const provider = providerOf(url);
		const params = url.searchParams;
		const expectedClient = { github: GITHUB, google: GOOGLE, oidc: OIDC }[provider].clientId;
		expect(params.get("client_id")).toBe(expectedClient);
		expect(params.get("response_type")).toBe("code");
		expect(params.get("redirect_uri")).toBe(`https://atrium.test/v1/auth/oauth/${provider}/callback`);
		const state = params.get("state");
		if (!state) throw new Error("authorization URL without state");
		if (provider !== "github") {
			expect(params.get("code_challenge_method")).toBe("S256");
			expect(params.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
			expect(params.get("nonce")).toBeTruthy();
			expect(params.get("scope")?.split(" ")).toContain("openid");
		}
		const code = `code-${crypto.randomUUID()}`;
		this.grants.set(code, {
			user,
			clientId: expectedClient,
			redirectUri: params.get("redirect_uri"),
			codeChallenge: params.get("code_challenge"),
			nonce: params.get("nonce"),
			used: false,
		});
		return { code, state };
	}

	private misbehaviour(): Response | null {
		const failure = this.misbehave;
		if (failure?.kind === "unreachable") throw new TypeError("connect ECONNREFUSED");
		if (failure?.kind === "server_error") return new Response("upstream exploded", { status: 502 });
		return null;
	}

	/** Redeems a code once, for the client it was issued to (like a real authorization server). */
	private async redeem(request: Request, client: { clientId: string; clientSecret: string }) {
		const form = new URLSearchParams(await request.text());
		const basic = request.headers.get("Authorization");
		const expectedBasic = `Basic ${btoa(`${client.clientId}:${client.clientSecret}`)}`;
		const grant = this.grants.get(form.get("code") ?? "");
		if (basic !== expectedBasic) return { error: "invalid_client" } as const;
		if (form.get("grant_type") !== "authorization_code" || !grant || grant.used)
			return { error: "invalid_grant" } as const;
		grant.used = true;
		if (grant.clientId !== client.clientId || grant.redirectUri !== form.get("redirect_uri")) {
			return { error: "invalid_grant" } as const;
		}
		if (grant.codeChallenge !== null && grant.codeChallenge !== (await s256(form.get("code_verifier") ?? ""))) {
			return { error: "invalid_grant" } as const;
		}
		const accessToken = `at-${crypto.randomUUID()}`;
		this.tokens.set(accessToken, grant.user);
		return { grant, accessToken } as const;
	}

	private async githubToken(request: Request): Promise<Response> {
		if (new URL(request.url).pathname !== "/login/oauth/access_token")
			return new Response("not found", { status: 404 });
		const failed = this.misbehaviour();
		if (failed) return failed;
		const result = await this.redeem(request, GITHUB);
		// GitHub answers 200 with an error body for a bad code.
		if ("error" in result)
			return Response.json({
				error: "bad_verification_code",
				error_description: "The code passed is incorrect or expired.",
			});
		return Response.json({ access_token: result.accessToken, token_type: "bearer", scope: "read:user,user:email" });
	}

	private githubApi(request: Request): Response {
		const user = this.tokens.get(request.headers.get("Authorization")?.replace(/^Bearer /, "") ?? "");
		if (!user) return Response.json({ message: "Bad credentials" }, { status: 401 });
		const path = new URL(request.url).pathname;
		if (path === "/user") {
			return Response.json({ id: Number(user.id), login: `login${user.id}`, name: user.name ?? null, email: null });
		}
		if (path === "/user/emails") {
			const primary = user.email
				? [{ email: user.email, primary: true, verified: user.emailVerified, visibility: "private" }]
				: [];
			const others = (user.otherEmails ?? []).map((entry) => ({ ...entry, primary: false, visibility: null }));
			return Response.json([...others, ...primary]);
		}
		return Response.json({ message: "Not Found" }, { status: 404 });
	}

	private async oidcToken(request: Request, provider: "google" | "oidc"): Promise<Response> {
		const failed = this.misbehaviour();
		if (failed) return failed;
		const result = await this.redeem(request, provider === "google" ? GOOGLE : OIDC);
		if ("error" in result) return Response.json({ error: result.error }, { status: 400 });
		const { grant } = result;
		const now = Math.floor(Date.now() / 1000);
		const hideEmail = provider === "oidc" && this.oidcClaimsInUserinfo;
		const claims: Record<string, unknown> = {
			iss: provider === "google" ? "https://accounts.google.com" : OIDC.issuer,
			sub: grant.user.id,
			aud: grant.clientId,
			iat: now,
			exp: now + 3600,
			nonce: grant.nonce,
			...(hideEmail
				? {}
				: { email: grant.user.email ?? undefined, email_verified: grant.user.emailVerified, name: grant.user.name }),
		};
		const twist = this.misbehave?.kind === "id_token" ? this.misbehave : null;
		const key = twist?.key ?? (provider === "google" ? keys.google : keys.oidc);
		const idToken = await signJwt({ ...claims, ...twist?.claims }, key, twist?.header);
		return Response.json({
			access_token: result.accessToken,
			token_type: "Bearer",
			expires_in: 3600,
			id_token: idToken,
		});
	}

	private oidcIssuer(request: Request): Response | Promise<Response> {
		return this.count(request, () => {
			const path = new URL(request.url).pathname;
			if (path === "/.well-known/openid-configuration") {
				if (this.discovery === "down") throw new TypeError("connect ECONNREFUSED");
				return Response.json({
					issuer: OIDC.issuer,
					authorization_endpoint: `${OIDC.issuer}/authorize`,
					token_endpoint: `${OIDC.issuer}/token`,
					jwks_uri: `${OIDC.issuer}/jwks`,
					userinfo_endpoint: `${OIDC.issuer}/userinfo`,
					response_types_supported: ["code"],
					subject_types_supported: ["public"],
					id_token_signing_alg_values_supported: ["RS256"],
					code_challenge_methods_supported: ["S256"],
					...this.discovery,
				});
			}
			if (path === "/jwks") return Response.json(jwks(keys.oidc));
			if (path === "/token") return this.oidcToken(request, "oidc");
			if (path === "/userinfo") {
				const user = this.tokens.get(request.headers.get("Authorization")?.replace(/^Bearer /, "") ?? "");
				if (!user) return new Response(null, { status: 401 });
				return Response.json({
					sub: this.userinfoSub ?? user.id,
					email: user.email,
					email_verified: user.emailVerified,
					name: user.name,
				});
			}
			return new Response("not found", { status: 404 });
		});
	}
}

function providerOf(url: URL): ProviderName {
	if (url.origin === "https://github.com") return "github";
	if (url.origin === "https://accounts.google.com") return "google";
	if (url.origin === OIDC.issuer) return "oidc";
	throw new Error(`not a fake provider: ${url}`);
}

// ---------------------------------------------------------------- a browser's cookie jar

/** Just enough of a browser: keeps cookies by name and sends those whose path matches. */
export class CookieJar {
	private readonly cookies = new Map<string, { value: string; path: string }>();

	store(res: Response): void {
		for (const line of res.headers.getSetCookie()) {
			const [pair = "", ...attributes] = line.split(";").map((part) => part.trim());
			const eq = pair.indexOf("=");
			const name = pair.slice(0, eq);
			const value = pair.slice(eq + 1);
			const path = attributes.find((a) => /^path=/i.test(a))?.slice(5) ?? "/";
			const expired = attributes.some((a) => /^max-age=0$/i.test(a)) || value === "";
			if (expired) this.cookies.delete(name);
			else this.cookies.set(name, { value, path });
		}
	}

	header(path: string): string {
		return [...this.cookies]
			.filter(([, cookie]) => path.startsWith(cookie.path))
			.map(([name, cookie]) => `${name}=${cookie.value}`)
			.join("; ");
	}

	/** Requests `path` through the app with this jar's cookies, and keeps what it sets. */
	async get(path: string, init: RequestInit = {}): Promise<Response> {
		const headers = new Headers(init.headers);
		const cookie = this.header(new URL(path, "https://atrium.test").pathname);
		if (cookie) headers.set("Cookie", cookie);
		const res = await api(path, { ...init, headers, redirect: "manual" });
		this.store(res);
		return res;
	}
}

// ---------------------------------------------------------------- whole flows

export type StartedFlow = { jar: CookieJar; authorizationUrl: string };

/** `GET /v1/auth/oauth/:provider` in a fresh browser; expects the 302 to the provider. */
export async function startLogin(
	provider: ProviderName,
	redirectUri?: string,
	jar = new CookieJar(),
): Promise<StartedFlow> {
	const query = redirectUri ? `?redirect_uri=${encodeURIComponent(redirectUri)}` : "";
	const res = await jar.get(`/v1/auth/oauth/${provider}${query}`);
	expect(res.status).toBe(302);
	const location = res.headers.get("Location");
	if (!location) throw new Error("no Location on the start redirect");
	return { jar, authorizationUrl: location };
}

/** The callback request the provider's redirect makes the browser send. */
export function callback(jar: CookieJar, provider: ProviderName, query: Record<string, string>): Promise<Response> {
	return jar.get(`/v1/auth/oauth/${provider}/callback?${new URLSearchParams(query)}`);
}

/** Start, consent as `user`, callback: the whole browser round trip. Returns the callback response. */
export async function loginWith(
	idp: FakeIdentityProviders,
	provider: ProviderName,
	user: FakeUser,
	redirectUri?: string,
): Promise<Response> {
	const { jar, authorizationUrl } = await startLogin(provider, redirectUri);
	return callback(jar, provider, idp.approve(authorizationUrl, user));
}

/** `POST /v1/me/accounts/:provider` (the app's API call, no cookies kept): the linking URL it answers. */
export async function linkingUrl(token: string, provider: ProviderName, body?: { redirect_uri?: string }) {
	const res = await api(`/v1/me/accounts/${provider}`, {
		method: "POST",
		headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
		body: body ? JSON.stringify(body) : undefined,
	});
	expect(res.status).toBe(200);
	expect(res.headers.getSetCookie()).toEqual([]);
	const { authorization_url } = (await res.json()) as { authorization_url: string };
	return authorization_url;
}

/** The ticket of a linking URL. */
export function ticketOf(linkUrl: string): string {
	return new URL(linkUrl).searchParams.get("ticket") ?? "";
}

/** Presses the linking page's button in `browser`: the form post of the page's ticket. */
export function pressLinkButton(browser: CookieJar, provider: ProviderName, ticket: string): Promise<Response> {
	return browser.get(`/v1/auth/oauth/${provider}/link`, {
		method: "POST",
		headers: { "Content-Type": "application/x-www-form-urlencoded" },
		body: new URLSearchParams({ ticket }).toString(),
	});
}

export type StartedLink = StartedFlow & { linkUrl: string; page: Response };

/**
 * The whole "linking from any client" start: the API call (its own cookie jar), then a fresh
 * browser that opens the linking page and presses its button, which 302s to the provider.
 */
export async function startLink(
	token: string,
	provider: ProviderName,
	body?: { redirect_uri?: string },
): Promise<StartedLink> {
	const linkUrl = await linkingUrl(token, provider, body);
	const jar = new CookieJar();
	const url = new URL(linkUrl);
	const page = await jar.get(url.pathname + url.search, { headers: { Accept: "text/html" } });
	expect(page.status).toBe(200);
	const pressed = await pressLinkButton(jar, provider, ticketOf(linkUrl));
	expect(pressed.status).toBe(302);
	const location = pressed.headers.get("Location");
	if (!location) throw new Error("no Location on the linking button's redirect");
	return { jar, authorizationUrl: location, linkUrl, page };
}

/** Links `identity` at `provider` to the signed-in `token` through the whole ticket flow; the callback response. */
export async function linkWith(
	idp: FakeIdentityProviders,
	token: string,
	provider: ProviderName,
	identity: FakeUser,
	body?: { redirect_uri?: string },
): Promise<Response> {
	const { jar, authorizationUrl } = await startLink(token, provider, body);
	return callback(jar, provider, idp.approve(authorizationUrl, identity));
}

/** The `code` (or `error`) query parameter of a redirect back to the app. */
export function redirectParams(res: Response): URLSearchParams {
	expect(res.status).toBe(302);
	return new URL(res.headers.get("Location") ?? "").searchParams;
}
