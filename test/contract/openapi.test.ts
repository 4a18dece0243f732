import { env, exports } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { BASE, PASSWORD, register, signedInUser, uniqueEmail } from "../helpers/api";
import { interceptPrepare } from "../helpers/d1-recorder";
import { fixture } from "../fixtures";
import { pngOf, uploadImage } from "../helpers/images";
import { enableTotp, firstStep, pinClock, totpCode } from "../helpers/mfa";
import {
	APP_CALLBACK,
	type CookieJar,
	FakeIdentityProviders,
	fakeUser,
	linkingUrl,
	startLink,
	startLogin,
	ticketOf,
} from "../helpers/oauth-fakes";
import { tokenFrom, waitForMail } from "../helpers/resend";
import { SoftwareAuthenticator, addPasskey, registrationOptions, signInOptions } from "../helpers/webauthn";
import { appWith } from "../helpers/worker";

/**
 * The contract test: walks the served /openapi.json and, for every operation and every status it
 * documents, sends one real request through the app (real D1 and R2, faked providers) and checks
 * the answer against the document: status, a documented content type, the body against the
 * documented schema (undocumented fields fail too) and the documented headers. An operation or a
 * status without a scenario fails, and so does a scenario for something the document does not say.
 */

type JsonSchema = Record<string, unknown>;
type MediaTypes = Record<string, { schema?: JsonSchema }>;
type DocResponse = { description: string; headers?: Record<string, unknown>; content?: MediaTypes };
type Operation = {
	operationId: string;
	security?: unknown[];
	requestBody?: { content: MediaTypes };
	responses: Record<string, DocResponse>;
};
type OpenApiDocument = {
	paths: Record<string, Record<string, Operation>>;
	components: { schemas: Record<string, JsonSchema> };
};

const served = await exports.default.fetch(new Request(`${BASE}/openapi.json`));
const document = (await served.json()) as OpenApiDocument;

// ------------------------------------------------------------------ requests

type Vars = Parameters<typeof appWith>[0];

/** One request to send, and how: through another configuration, more than once, with D1 down. */
type Spec = {
	method: string;
	path: string;
	token?: string;
	json?: unknown;
	body?: BodyInit;
	headers?: Record<string, string>;
	vars?: Vars;
	/** Send it this many times (fresh each time) and judge the last answer. */
	repeat?: number;
	d1Down?: boolean;
	/** R2 answers with a transient internal error (routes that never touch D1). */
	r2Down?: boolean;
};

type Scenario = () => Promise<Spec>;

function toRequest(spec: Spec): Request {
	const headers = new Headers(spec.headers);
	if (spec.token) headers.set("Authorization", `Bearer ${spec.token}`);
	let body = spec.body;
	if (spec.json !== undefined) {
		headers.set("Content-Type", "application/json");
		body = JSON.stringify(spec.json);
	}
	return new Request(new URL(spec.path, BASE), { method: spec.method, headers, body, redirect: "manual" });
}

async function send(spec: Spec): Promise<Response> {
	const app = spec.vars ? appWith(spec.vars) : null;
	const deliver = (request: Request) => (app ? app.fetch(request) : exports.default.fetch(request));
	const restore = spec.d1Down
		? interceptPrepare(() => {
				throw new Error("D1_ERROR: database unavailable");
			})
		: null;
	const r2Spy = spec.r2Down
		? vi.spyOn(env.IMAGES, "head").mockImplementation(() => {
				throw new Error("head: We encountered an internal error. Please try again. (10001)");
			})
		: null;
	try {
		let res = await deliver(toRequest(spec));
		for (let i = 1; i < (spec.repeat ?? 1); i++) {
			await res.body?.cancel();
			res = await deliver(toRequest(spec));
		}
		return res;
	} finally {
		restore?.();
		r2Spy?.mockRestore();
	}
}

// ------------------------------------------------------------------ fixtures

let idp: FakeIdentityProviders;

beforeEach(() => {
	idp = new FakeIdentityProviders();
	idp.install();
});

afterEach(() => {
	vi.useRealTimers();
});

const png = () => pngOf(16, 16);

/** A confirmed user with an image. */
async function userWithImage() {
	const user = await signedInUser();
	const image = await uploadImage(user.token, png());
	return { ...user, image };
}

/** A user whose image passes the upload checks but cannot be decoded (its scan names undefined tables). */
async function userWithUndecodableImage() {
	const user = await signedInUser();
	const bytes = fixture("tiny.jpg");
	const sos = bytes.findIndex((byte, i) => byte === 0xff && bytes[i + 1] === 0xda);
	bytes[sos + 6] = 0x33;
	const image = await uploadImage(user.token, bytes, "broken.jpg");
	return { ...user, image };
}

/** A confirmed user with an avatar. */
async function userWithAvatar() {
	const user = await signedInUser();
	const res = await send({ method: "PUT", path: "/v1/me/avatar", token: user.token, body: png(), headers: IMAGE });
	expect(res.status).toBe(200);
	return user;
}

/** A reset link's token for a confirmed user. */
async function resetToken() {
	const { email } = await signedInUser();
	const res = await send({ method: "POST", path: "/v1/auth/password/forgot", json: { email } });
	expect(res.status).toBe(202);
	return tokenFrom(await waitForMail(email, 2), "/v1/auth/password/reset");
}

/** A magic link's token for a confirmed user (through `vars`, e.g. to allow a redirect_to). */
async function magicToken(extra: Record<string, unknown> = {}, vars?: Vars) {
	const { email } = await signedInUser();
	const res = await send({ method: "POST", path: "/v1/auth/magic-link", json: { email, ...extra }, vars });
	expect(res.status).toBe(202);
	return tokenFrom(await waitForMail(email, 2), "/v1/auth/magic-link");
}

const FORM = { "Content-Type": "application/x-www-form-urlencoded" };

/** An email-change link's token (mailed to `newEmail`) of a confirmed user. */
async function emailChangeToken(newEmail = uniqueEmail("new")) {
	const { token } = await signedInUser();
	const res = await send({ method: "POST", path: "/v1/me/email", token, json: { new_email: newEmail } });
	expect(res.status).toBe(202);
	return tokenFrom(await waitForMail(newEmail), "/v1/auth/email/confirm");
}

/** The callback request of an approved provider flow, with the browser's flow cookie. */
function callbackSpec(jar: CookieJar, provider: string, query: Record<string, string>): Spec {
	const path = `/v1/auth/oauth/${provider}/callback?${new URLSearchParams(query)}`;
	return { method: "GET", path, headers: { Cookie: jar.header(new URL(path, BASE).pathname) } };
}

/** A login flow started (optionally towards the app) and approved at the provider as `user`. */
async function approvedLogin(user = fakeUser(), redirectUri?: string) {
	const { jar, authorizationUrl } = await startLogin("github", redirectUri);
	return callbackSpec(jar, "github", idp.approve(authorizationUrl, user));
}

/** A link flow of the signed-in `token` (ticket, page, button), approved at the provider as `identity`. */
async function approvedLink(token: string, provider: "github" | "google", identity = fakeUser()) {
	const { jar, authorizationUrl } = await startLink(token, provider);
	return callbackSpec(jar, provider, idp.approve(authorizationUrl, identity));
}

/** The path of a fresh linking page of a new signed-in user. */
async function linkPagePath(provider: "github" | "google" = "github") {
	const url = new URL(await linkingUrl((await signedInUser()).token, provider));
	return url.pathname + url.search;
}

/** The linking button's form post of a fresh ticket (or of `ticket`). */
async function linkButton(ticket?: string): Promise<Spec> {
	const spent = ticket ?? ticketOf(await linkingUrl((await signedInUser()).token, "github"));
	return {
		method: "POST",
		path: "/v1/auth/oauth/github/link",
		body: new URLSearchParams({ ticket: spent }).toString(),
		headers: { "Content-Type": "application/x-www-form-urlencoded" },
	};
}

/** A ticket whose button was already pressed once. */
async function spentTicket(): Promise<string> {
	const { linkUrl } = await startLink((await signedInUser()).token, "github");
	return ticketOf(linkUrl);
}

/** A user who signs in with `provider` only (no password). */
async function oauthOnlyUser(provider: "github" | "google") {
	const { jar, authorizationUrl } = await startLogin(provider);
	const res = await send(callbackSpec(jar, provider, idp.approve(authorizationUrl, fakeUser())));
	expect(res.status).toBe(200);
	const tokens = (await res.json()) as { access_token: string };
	return { token: tokens.access_token };
}

const IMAGE = { "Content-Type": "image/png" };
const LONG = "x".repeat(1025);
const TOO_LARGE_IMAGE = () => pngOf(16, 16, 1_048_577);
const TOO_MANY_PIXELS = () => pngOf(10_000, 10_000);
const NOT_AN_IMAGE = () => new TextEncoder().encode("<svg onload=alert(1)>");
const expired = (seconds: number) => {
	vi.useFakeTimers({ toFake: ["Date"] });
	vi.setSystemTime(Date.now() + seconds * 1000);
};

// ------------------------------------------------------------------ scenarios

/**
 * The scenarios of each operation that need more than the generic ones (below). The first 2xx/3xx
 * scenario of an operation is its "happy" request, which the generic ones vary.
 */
const scenarios: Record<string, Record<string, Scenario>> = {
	"GET /health": { 200: async () => ({ method: "GET", path: "/health" }) },
	"GET /v1/locales": { 200: async () => ({ method: "GET", path: "/v1/locales" }) },
	"GET /.well-known/jwks.json": { 200: async () => ({ method: "GET", path: "/.well-known/jwks.json" }) },

	"POST /v1/auth/register": {
		202: async () => ({
			method: "POST",
			path: "/v1/auth/register",
			json: { email: uniqueEmail(), password: PASSWORD },
		}),
	},
	"POST /v1/auth/login": {
		200: async () => {
			const { email } = await signedInUser();
			return { method: "POST", path: "/v1/auth/login", json: { email, password: PASSWORD } };
		},
		401: async () => ({
			method: "POST",
			path: "/v1/auth/login",
			json: { email: uniqueEmail(), password: "not the password" },
		}),
		403: async () => {
			const { email } = await register();
			return { method: "POST", path: "/v1/auth/login", json: { email, password: PASSWORD } };
		},
	},
	"POST /v1/auth/refresh": {
		200: async () => {
			const { tokens } = await signedInUser();
			return { method: "POST", path: "/v1/auth/refresh", json: { refresh_token: tokens.refresh_token } };
		},
		401: async () => ({ method: "POST", path: "/v1/auth/refresh", json: { refresh_token: "not-a-token" } }),
	},
	"POST /v1/auth/logout": {
		204: async () => ({ method: "POST", path: "/v1/auth/logout", token: (await signedInUser()).token }),
	},
	"POST /v1/auth/logout-all": {
		204: async () => ({ method: "POST", path: "/v1/auth/logout-all", token: (await signedInUser()).token }),
	},

	"GET /v1/auth/confirm": {
		200: async () => ({ method: "GET", path: "/v1/auth/confirm?token=unknown", headers: { Accept: "text/html" } }),
		400: async () => ({ method: "GET", path: `/v1/auth/confirm?token=${"x".repeat(513)}` }),
	},
	"POST /v1/auth/confirm": {
		200: async () => ({ method: "POST", path: "/v1/auth/confirm", json: { token: (await register()).confirmToken } }),
		400: async () => ({ method: "POST", path: "/v1/auth/confirm", json: { token: "not-a-token" } }),
		409: async () => {
			const { confirmToken } = await register();
			expect((await send({ method: "POST", path: "/v1/auth/confirm", json: { token: confirmToken } })).status).toBe(
				200,
			);
			return { method: "POST", path: "/v1/auth/confirm", json: { token: confirmToken } };
		},
		410: async () => {
			const { confirmToken } = await register();
			expired(1801);
			return { method: "POST", path: "/v1/auth/confirm", json: { token: confirmToken } };
		},
	},
	"POST /v1/auth/confirm/resend": {
		202: async () => ({ method: "POST", path: "/v1/auth/confirm/resend", json: { email: uniqueEmail() } }),
	},
	"POST /v1/auth/password/forgot": {
		202: async () => ({ method: "POST", path: "/v1/auth/password/forgot", json: { email: uniqueEmail() } }),
	},
	"GET /v1/auth/password/reset": {
		200: async () => ({ method: "GET", path: "/v1/auth/password/reset?token=unknown" }),
		400: async () => ({ method: "GET", path: `/v1/auth/password/reset?token=${"x".repeat(513)}` }),
	},
	"POST /v1/auth/password/reset": {
		200: async () => ({
			method: "POST",
			path: "/v1/auth/password/reset",
			json: { token: await resetToken(), password: "a brand new passphrase" },
		}),
		400: async () => ({
			method: "POST",
			path: "/v1/auth/password/reset",
			json: { token: "not-a-token", password: "a brand new passphrase" },
		}),
		410: async () => {
			const token = await resetToken();
			expired(1801);
			return { method: "POST", path: "/v1/auth/password/reset", json: { token, password: "a brand new passphrase" } };
		},
	},

	"POST /v1/auth/magic-link": {
		202: async () => ({ method: "POST", path: "/v1/auth/magic-link", json: { email: uniqueEmail() } }),
	},
	"GET /v1/auth/magic-link": {
		200: async () => ({ method: "GET", path: `/v1/auth/magic-link?token=${await magicToken()}` }),
		400: async () => ({ method: "GET", path: `/v1/auth/magic-link?token=${"x".repeat(513)}` }),
	},
	"POST /v1/auth/magic-link/verify": {
		200: async () => ({ method: "POST", path: "/v1/auth/magic-link/verify", json: { token: await magicToken() } }),
		302: async () => {
			const vars = { APP_REDIRECT_URLS: "https://app.test/signed-in" };
			const token = await magicToken({ redirect_to: "https://app.test/signed-in" }, vars);
			const body = new URLSearchParams({ token }).toString();
			return { method: "POST", path: "/v1/auth/magic-link/verify", body, headers: FORM, vars };
		},
		400: async () => ({ method: "POST", path: "/v1/auth/magic-link/verify", json: { token: "not-a-token" } }),
		403: async () => {
			const { email, userId } = await signedInUser();
			expect((await send({ method: "POST", path: "/v1/auth/magic-link", json: { email } })).status).toBe(202);
			const token = tokenFrom(await waitForMail(email, 2), "/v1/auth/magic-link");
			await disableUser(userId);
			return { method: "POST", path: "/v1/auth/magic-link/verify", json: { token } };
		},
		410: async () => {
			const token = await magicToken();
			expired(601);
			return { method: "POST", path: "/v1/auth/magic-link/verify", json: { token } };
		},
	},

	"POST /v1/me/email": {
		202: async () => ({
			method: "POST",
			path: "/v1/me/email",
			token: (await signedInUser()).token,
			json: { new_email: uniqueEmail("new") },
		}),
		401: async () => ({ method: "POST", path: "/v1/me/email", json: { new_email: uniqueEmail("new") } }),
		429: async () => ({
			method: "POST",
			path: "/v1/me/email",
			token: (await signedInUser()).token,
			json: { new_email: uniqueEmail("new") },
			vars: { RATE_LIMIT_MAIL_EMAIL: "1/3600" },
			repeat: 2,
		}),
	},
	"GET /v1/auth/email/confirm": {
		200: async () => ({ method: "GET", path: `/v1/auth/email/confirm?token=${await emailChangeToken()}` }),
		400: async () => ({ method: "GET", path: `/v1/auth/email/confirm?token=${"x".repeat(513)}` }),
	},
	"POST /v1/auth/email/confirm": {
		200: async () => ({ method: "POST", path: "/v1/auth/email/confirm", json: { token: await emailChangeToken() } }),
		400: async () => ({ method: "POST", path: "/v1/auth/email/confirm", json: { token: "not-a-token" } }),
		409: async () => {
			const target = uniqueEmail("taken");
			const token = await emailChangeToken(target);
			const taken = await send({
				method: "POST",
				path: "/v1/auth/register",
				json: { email: target, password: PASSWORD },
			});
			expect(taken.status).toBe(202);
			return { method: "POST", path: "/v1/auth/email/confirm", json: { token } };
		},
		410: async () => {
			const token = await emailChangeToken();
			expired(1801);
			return { method: "POST", path: "/v1/auth/email/confirm", json: { token } };
		},
	},

	"GET /v1/auth/oauth": { 200: async () => ({ method: "GET", path: "/v1/auth/oauth" }) },
	"POST /v1/auth/oauth/exchange": {
		200: async () => {
			const res = await send(await approvedLogin(fakeUser(), APP_CALLBACK));
			const code = new URL(res.headers.get("Location") ?? "").searchParams.get("code");
			return { method: "POST", path: "/v1/auth/oauth/exchange", json: { code } };
		},
		400: async () => ({ method: "POST", path: "/v1/auth/oauth/exchange", json: { code: "not-a-code" } }),
		403: async () => {
			const identity = fakeUser();
			const signup = await send(await approvedLogin(identity));
			const { user } = (await signup.json()) as { user: { id: string } };
			const res = await send(await approvedLogin(identity, APP_CALLBACK));
			const code = new URL(res.headers.get("Location") ?? "").searchParams.get("code");
			await disableUser(user.id);
			return { method: "POST", path: "/v1/auth/oauth/exchange", json: { code } };
		},
	},
	"GET /v1/auth/oauth/{provider}": {
		302: async () => ({ method: "GET", path: "/v1/auth/oauth/github" }),
		400: async () => ({ method: "GET", path: "/v1/auth/oauth/github?redirect_uri=https%3A%2F%2Fevil.test%2F" }),
		404: async () => ({ method: "GET", path: "/v1/auth/oauth/myspace" }),
	},
	"GET /v1/auth/oauth/{provider}/callback": {
		200: async () => approvedLogin(),
		302: async () => approvedLogin(fakeUser(), APP_CALLBACK),
		400: async () => ({ method: "GET", path: "/v1/auth/oauth/github/callback?code=x&state=y" }),
		401: async () => {
			const { token } = await signedInUser();
			const spec = await approvedLink(token, "github");
			expect((await send({ method: "POST", path: "/v1/auth/logout", token })).status).toBe(204);
			return spec;
		},
		403: async () => {
			const identity = fakeUser();
			const signup = await send(await approvedLogin(identity));
			await disableUser(((await signup.json()) as { user: { id: string } }).user.id);
			return approvedLogin(identity);
		},
		404: async () => ({ method: "GET", path: "/v1/auth/oauth/myspace/callback?code=x&state=y" }),
		409: async () => {
			const identity = fakeUser();
			const { jar, authorizationUrl } = await startLogin("github");
			expect((await send(callbackSpec(jar, "github", idp.approve(authorizationUrl, identity)))).status).toBe(200);
			return approvedLink((await signedInUser()).token, "github", identity);
		},
	},

	"GET /v1/auth/oauth/{provider}/link": {
		200: async () => ({ method: "GET", path: await linkPagePath(), headers: { Accept: "text/html" } }),
		400: async () => ({ method: "GET", path: "/v1/auth/oauth/github/link?ticket=unknown" }),
		404: async () => ({ method: "GET", path: "/v1/auth/oauth/myspace/link?ticket=unknown" }),
		410: async () => ({ method: "GET", path: `/v1/auth/oauth/github/link?ticket=${await spentTicket()}` }),
		429: async () => ({
			method: "GET",
			path: "/v1/auth/oauth/github/link?ticket=unknown",
			vars: { RATE_LIMIT_LINK_IP: "1/3600" },
			repeat: 2,
		}),
	},
	"POST /v1/auth/oauth/{provider}/link": {
		302: async () => linkButton(),
		400: async () => linkButton("unknown"),
		404: async () => ({ ...(await linkButton()), path: "/v1/auth/oauth/myspace/link" }),
		410: async () => linkButton(await spentTicket()),
		413: async () => linkButton("x".repeat(70 * 1024)),
		429: async () => ({ ...(await linkButton("unknown")), vars: { RATE_LIMIT_LINK_IP: "1/3600" }, repeat: 2 }),
	},

	"GET /v1/me/accounts": {
		200: async () => ({ method: "GET", path: "/v1/me/accounts", token: (await signedInUser()).token }),
	},
	"POST /v1/me/accounts/{provider}": {
		200: async () => ({ method: "POST", path: "/v1/me/accounts/github", token: (await signedInUser()).token }),
		404: async () => ({ method: "POST", path: "/v1/me/accounts/myspace", token: (await signedInUser()).token }),
	},
	"DELETE /v1/me/accounts/{provider}": {
		204: async () => {
			const { token } = await signedInUser();
			expect((await send(await approvedLink(token, "github"))).status).toBe(200);
			return { method: "DELETE", path: "/v1/me/accounts/github", token };
		},
		400: async () => ({
			method: "DELETE",
			path: `/v1/me/accounts/${"x".repeat(65)}`,
			token: (await signedInUser()).token,
		}),
		404: async () => ({ method: "DELETE", path: "/v1/me/accounts/github", token: (await signedInUser()).token }),
		409: async () => ({
			method: "DELETE",
			path: "/v1/me/accounts/google",
			token: (await oauthOnlyUser("google")).token,
		}),
	},

	"PUT /v1/me/avatar": uploadScenarios("PUT", async () => "/v1/me/avatar", 200),
	"DELETE /v1/me/avatar": {
		204: async () => ({ method: "DELETE", path: "/v1/me/avatar", token: (await userWithAvatar()).token }),
		404: async () => ({ method: "DELETE", path: "/v1/me/avatar", token: (await signedInUser()).token }),
	},
	"GET /v1/users/{id}/avatar": {
		200: async () => ({ method: "GET", path: `/v1/users/${(await userWithAvatar()).userId}/avatar` }),
		304: async () => {
			const path = `/v1/users/${(await userWithAvatar()).userId}/avatar`;
			const first = await send({ method: "GET", path });
			await first.body?.cancel();
			return { method: "GET", path, headers: { "If-None-Match": first.headers.get("ETag") ?? "" } };
		},
		404: async () => ({ method: "GET", path: `/v1/users/${(await signedInUser()).userId}/avatar` }),
	},

	"GET /v1/images/{id}/content": {
		200: async () => {
			const { token, image } = await userWithImage();
			return { method: "GET", path: `/v1/images/${image.id}/content`, token };
		},
		206: async () => {
			const { token, image } = await userWithImage();
			return { method: "GET", path: `/v1/images/${image.id}/content`, token, headers: { Range: "bytes=0-3" } };
		},
		304: async () => {
			const { token, image } = await userWithImage();
			return { method: "GET", path: `/v1/images/${image.id}/content`, token, headers: { "If-None-Match": image.etag } };
		},
		404: async () => ({ method: "GET", path: "/v1/images/unknown/content", token: (await signedInUser()).token }),
		416: async () => {
			const { token, image } = await userWithImage();
			return { method: "GET", path: `/v1/images/${image.id}/content`, token, headers: { Range: "bytes=9999-" } };
		},
		400: async () => {
			const { token, image } = await userWithImage();
			return { method: "GET", path: `/v1/images/${image.id}/content?w=0`, token };
		},
		415: async () => {
			const { token, image } = await userWithUndecodableImage();
			return { method: "GET", path: `/v1/images/${image.id}/content?w=2`, token };
		},
	},
	"GET /v1/images/{id}/shared": {
		200: async () => ({ method: "GET", path: (await userWithImage()).image.content_url }),
		206: async () => ({
			method: "GET",
			path: (await userWithImage()).image.content_url,
			headers: { Range: "bytes=0-3" },
		}),
		304: async () => {
			const { image } = await userWithImage();
			return { method: "GET", path: image.content_url, headers: { "If-None-Match": image.etag } };
		},
		403: async () => ({ method: "GET", path: `${(await userWithImage()).image.content_url}&w=10` }),
		404: async () => {
			const { token, image } = await userWithImage();
			expect((await send({ method: "DELETE", path: `/v1/images/${image.id}`, token })).status).toBe(204);
			return { method: "GET", path: image.content_url };
		},
		410: async () => {
			const { image } = await userWithImage();
			expired(2 * 3600);
			return { method: "GET", path: image.content_url };
		},
		416: async () => ({
			method: "GET",
			path: (await userWithImage()).image.content_url,
			headers: { Range: "bytes=9999-" },
		}),
		503: async () => ({ method: "GET", path: (await userWithImage()).image.content_url, r2Down: true }),
		415: async () => {
			const { token, image } = await userWithUndecodableImage();
			const res = await send({ method: "POST", path: `/v1/images/${image.id}/links`, token, json: { w: 2 } });
			return { method: "GET", path: ((await res.json()) as { url: string }).url };
		},
	},
	"POST /v1/images/{id}/links": {
		201: async () => {
			const { token, image } = await userWithImage();
			return { method: "POST", path: `/v1/images/${image.id}/links`, token, json: { expires_in: 600 } };
		},
		404: async () => ({ method: "POST", path: "/v1/images/unknown/links", token: (await signedInUser()).token }),
	},
	"POST /v1/images": uploadScenarios("POST", async () => "/v1/images", 201),
	"GET /v1/images": {
		200: async () => ({ method: "GET", path: "/v1/images", token: (await userWithImage()).token }),
		400: async () => ({ method: "GET", path: "/v1/images?limit=0", token: (await signedInUser()).token }),
	},
	"GET /v1/images/{id}": {
		200: async () => {
			const { token, image } = await userWithImage();
			return { method: "GET", path: `/v1/images/${image.id}`, token };
		},
		404: async () => ({ method: "GET", path: "/v1/images/unknown", token: (await signedInUser()).token }),
	},
	"PUT /v1/images/{id}/content": {
		...uploadScenarios("PUT", async (token) => `/v1/images/${(await uploadImage(token, png())).id}/content`, 200),
		403: async () => {
			const { token, image } = await userWithImage();
			const body = pngOf(16, 16, 200);
			return {
				method: "PUT",
				path: `/v1/images/${image.id}/content`,
				token,
				body,
				headers: IMAGE,
				vars: { QUOTA_BYTES: "100" },
			};
		},
		404: async () => ({
			method: "PUT",
			path: "/v1/images/unknown/content",
			token: (await signedInUser()).token,
			body: png(),
			headers: IMAGE,
		}),
		412: async () => {
			const { token, image } = await userWithImage();
			const headers = { ...IMAGE, "If-Match": '"not-the-etag"' };
			return { method: "PUT", path: `/v1/images/${image.id}/content`, token, body: png(), headers };
		},
	},
	"PATCH /v1/images/{id}": {
		200: async () => {
			const { token, image } = await userWithImage();
			return { method: "PATCH", path: `/v1/images/${image.id}`, token, json: { filename: "renamed.png" } };
		},
		404: async () => ({
			method: "PATCH",
			path: "/v1/images/unknown",
			token: (await signedInUser()).token,
			json: { filename: "renamed.png" },
		}),
	},
	"DELETE /v1/images/{id}": {
		204: async () => {
			const { token, image } = await userWithImage();
			return { method: "DELETE", path: `/v1/images/${image.id}`, token };
		},
		404: async () => ({ method: "DELETE", path: "/v1/images/unknown", token: (await signedInUser()).token }),
	},

	"GET /v1/me": { 200: async () => ({ method: "GET", path: "/v1/me", token: (await signedInUser()).token }) },
	"PATCH /v1/me": {
		200: async () => ({ method: "PATCH", path: "/v1/me", token: (await signedInUser()).token, json: { name: "Ada" } }),
	},
	"DELETE /v1/me": {
		204: async () => ({ method: "DELETE", path: "/v1/me", token: (await signedInUser()).token }),
	},
	"PUT /v1/me/password": {
		200: async () => ({
			method: "PUT",
			path: "/v1/me/password",
			token: (await signedInUser()).token,
			json: { current_password: PASSWORD, new_password: "another long passphrase" },
		}),
		// A wrong current password counts against the account's login-failure limit.
		429: async () => ({
			method: "PUT",
			path: "/v1/me/password",
			token: (await signedInUser()).token,
			json: { current_password: "not the password", new_password: "another long passphrase" },
			vars: { RATE_LIMIT_LOGIN_ACCOUNT: "1/3600" },
			repeat: 2,
		}),
	},
	"GET /v1/me/activity": {
		200: async () => ({ method: "GET", path: "/v1/me/activity", token: (await signedInUser()).token }),
		400: async () => ({ method: "GET", path: "/v1/me/activity?limit=0", token: (await signedInUser()).token }),
	},
	"GET /v1/me/export": {
		200: async () => ({ method: "GET", path: "/v1/me/export", token: (await userWithImage()).token }),
	},

	"POST /v1/me/mfa/totp": {
		200: async () => ({ method: "POST", path: "/v1/me/mfa/totp", token: (await signedInUser()).token }),
		409: async () => ({ method: "POST", path: "/v1/me/mfa/totp", token: (await userWithTotp()).token }),
	},
	"POST /v1/me/mfa/totp/verify": {
		200: async () => {
			pinClock();
			const { token } = await signedInUser();
			const started = await send({ method: "POST", path: "/v1/me/mfa/totp", token });
			const { secret } = (await started.json()) as { secret: string };
			return { method: "POST", path: "/v1/me/mfa/totp/verify", token, json: { code: totpCode(secret) } };
		},
		409: async () => ({
			method: "POST",
			path: "/v1/me/mfa/totp/verify",
			token: (await userWithTotp()).token,
			json: { code: "123456" },
		}),
		// A wrong first code counts against the account's code attempts.
		429: async () => ({
			method: "POST",
			path: "/v1/me/mfa/totp/verify",
			token: (await signedInUser()).token,
			json: { code: "000000" },
			vars: { RATE_LIMIT_MFA_ACCOUNT: "1/3600" },
			repeat: 2,
		}),
	},
	"DELETE /v1/me/mfa/totp": {
		204: async () => {
			const { token, secret } = await userWithTotp();
			return { method: "DELETE", path: "/v1/me/mfa/totp", token, json: { code: totpCode(secret) } };
		},
		409: async () => ({
			method: "DELETE",
			path: "/v1/me/mfa/totp",
			token: (await signedInUser()).token,
			json: { code: "123456" },
		}),
		429: async () => {
			const { token, secret } = await userWithTotp();
			return {
				method: "DELETE",
				path: "/v1/me/mfa/totp",
				token,
				json: { code: totpCode(secret, 4) },
				vars: { RATE_LIMIT_MFA_ACCOUNT: "1/3600" },
				repeat: 2,
			};
		},
	},
	"POST /v1/me/mfa/recovery-codes": {
		200: async () => ({ method: "POST", path: "/v1/me/mfa/recovery-codes", token: (await userWithTotp()).token }),
		409: async () => ({ method: "POST", path: "/v1/me/mfa/recovery-codes", token: (await signedInUser()).token }),
	},
	"POST /v1/auth/mfa": {
		200: async () => {
			const { email, secret } = await userWithTotp();
			const { mfa_token } = await firstStep(email);
			return { method: "POST", path: "/v1/auth/mfa", json: { mfa_token, code: totpCode(secret) } };
		},
		401: async () => ({ method: "POST", path: "/v1/auth/mfa", json: { mfa_token: "unknown", code: "123456" } }),
		403: async () => {
			const { email, secret, userId } = await userWithTotp();
			const { mfa_token } = await firstStep(email);
			await disableUser(userId);
			return { method: "POST", path: "/v1/auth/mfa", json: { mfa_token, code: totpCode(secret) } };
		},
		429: async () => {
			const { email } = await userWithTotp();
			const { mfa_token } = await firstStep(email);
			return {
				method: "POST",
				path: "/v1/auth/mfa",
				json: { mfa_token, code: "000000" },
				vars: { RATE_LIMIT_MFA_IP: "1/3600" },
				repeat: 2,
			};
		},
	},
	"GET /v1/me/sessions": {
		200: async () => ({ method: "GET", path: "/v1/me/sessions", token: (await signedInUser()).token }),
	},
	"DELETE /v1/me/sessions/{id}": {
		204: async () => {
			const { token } = await signedInUser();
			const listed = await send({ method: "GET", path: "/v1/me/sessions", token });
			const { sessions } = (await listed.json()) as { sessions: { id: string }[] };
			return { method: "DELETE", path: `/v1/me/sessions/${sessions[0]?.id}`, token };
		},
		400: async () => ({
			method: "DELETE",
			path: `/v1/me/sessions/${"x".repeat(65)}`,
			token: (await signedInUser()).token,
		}),
		404: async () => ({ method: "DELETE", path: "/v1/me/sessions/unknown", token: (await signedInUser()).token }),
	},

	"GET /v1/admin/users": {
		200: async () => ({ method: "GET", path: "/v1/admin/users?limit=2", token: ADMIN_KEY }),
		400: async () => ({ method: "GET", path: "/v1/admin/users?limit=101", token: ADMIN_KEY }),
		404: async () => ({ method: "GET", path: "/v1/admin/users", token: ADMIN_KEY, vars: { ADMIN_API_KEY: "" } }),
		429: adminRateLimited("/v1/admin/users", "GET"),
	},
	...adminUserScenarios("GET", "/v1/admin/users/{id}", "", 200),
	...adminUserScenarios("POST", "/v1/admin/users/{id}/disable", "/disable", 200),
	...adminUserScenarios("POST", "/v1/admin/users/{id}/enable", "/enable", 200),
	...adminUserScenarios("POST", "/v1/admin/users/{id}/sessions/revoke", "/sessions/revoke", 204),
	...adminUserScenarios("DELETE", "/v1/admin/users/{id}", "", 204),
	"POST /v1/me/passkeys/options": {
		200: async () => ({ method: "POST", path: "/v1/me/passkeys/options", token: (await signedInUser()).token }),
	},
	"POST /v1/me/passkeys": {
		201: async () => passkeyRegistration(),
		400: async () => passkeyRegistration({ origin: "https://evil.test" }),
	},
	"GET /v1/me/passkeys": {
		200: async () => ({ method: "GET", path: "/v1/me/passkeys", token: (await userWithPasskey()).token }),
	},
	"DELETE /v1/me/passkeys/{id}": {
		204: async () => {
			const { token, passkey } = await userWithPasskey();
			return { method: "DELETE", path: `/v1/me/passkeys/${passkey.id}`, token };
		},
		400: async () => ({
			method: "DELETE",
			path: `/v1/me/passkeys/${"x".repeat(65)}`,
			token: (await signedInUser()).token,
		}),
		404: async () => ({ method: "DELETE", path: "/v1/me/passkeys/unknown", token: (await signedInUser()).token }),
		409: async () => {
			const { token, passkey, userId } = await userWithPasskey();
			// The passkey becomes the account's only way in: no password, no provider.
			await env.DB.prepare("update users set password_hash = null where id = ?").bind(userId).run();
			return { method: "DELETE", path: `/v1/me/passkeys/${passkey.id}`, token };
		},
	},
	"POST /v1/auth/passkey/options": {
		200: async () => ({ method: "POST", path: "/v1/auth/passkey/options" }),
	},
	"POST /v1/auth/passkey": {
		200: async () => passkeySignIn(),
		401: async () => passkeySignIn({ counter: 0 }),
		403: async () => {
			const { authenticator, userId } = await userWithPasskey();
			await disableUser(userId);
			const { challenge_id, options } = await signInOptions();
			return {
				method: "POST",
				path: "/v1/auth/passkey",
				json: { challenge_id, credential: await authenticator.get(options) },
			};
		},
	},
};

const ADMIN_KEY = "test-admin-key-that-is-at-least-32-bytes";

/** Disables an account through the admin API. */
async function disableUser(id: string) {
	expect((await send({ method: "POST", path: `/v1/admin/users/${id}/disable`, token: ADMIN_KEY })).status).toBe(200);
}

/** Wrong keys from one address past a limit of 1: the second answer is 429. */
function adminRateLimited(path: string, method: string): Scenario {
	return async () => ({
		method,
		path,
		token: "not-the-admin-key",
		headers: { "CF-Connecting-IP": `203.0.113.${Math.floor(Math.random() * 250) + 1}` },
		vars: { RATE_LIMIT_ADMIN_AUTH_IP: "1/3600" },
		repeat: 2,
	});
}

/** The scenarios of a per-user admin operation. */
function adminUserScenarios(
	method: string,
	template: string,
	suffix: string,
	success: number,
): Record<string, Record<string, Scenario>> {
	const path = (id: string) => `/v1/admin/users/${id}${suffix}`;
	return {
		[`${method} ${template}`]: {
			[success]: async () => ({ method, path: path((await signedInUser()).userId), token: ADMIN_KEY }),
			400: async () => ({ method, path: path("x".repeat(65)), token: ADMIN_KEY }),
			404: async () => ({ method, path: path("nosuchuser"), token: ADMIN_KEY }),
			429: adminRateLimited(path("nosuchuser"), method),
		},
	};
}

/** A confirmed user with one passkey made by a software authenticator. */
async function userWithPasskey() {
	const user = await signedInUser();
	const authenticator = new SoftwareAuthenticator();
	return { ...user, authenticator, passkey: await addPasskey(user.token, authenticator) };
}

/** POST /v1/me/passkeys with a fresh challenge (and whatever the authenticator is told to falsify). */
async function passkeyRegistration(overrides = {}): Promise<Spec> {
	const { token } = await signedInUser();
	const { challenge_id, options } = await registrationOptions(token);
	const credential = await new SoftwareAuthenticator().create(options, overrides);
	return { method: "POST", path: "/v1/me/passkeys", token, json: { challenge_id, credential } };
}

/** POST /v1/auth/passkey with a fresh challenge (a counter of 0 after 1 is refused). */
async function passkeySignIn(overrides = {}): Promise<Spec> {
	const { authenticator } = await userWithPasskey();
	const { challenge_id, options } = await signInOptions();
	const credential = await authenticator.get(options, overrides);
	return { method: "POST", path: "/v1/auth/passkey", json: { challenge_id, credential } };
}

/** A confirmed user with TOTP on (the clock pinned, so each code's step is known). */
async function userWithTotp() {
	pinClock();
	const user = await signedInUser();
	return { ...user, ...(await enableTotp(user.token)) };
}

/** What every upload operation (new image, replacement, avatar) can be answered with. */
function uploadScenarios(
	method: string,
	pathFor: (token: string) => Promise<string>,
	success: number,
): Record<string, Scenario> {
	const upload = (bytes: () => Uint8Array, extra: Partial<Spec> = {}, query = ""): Scenario => {
		return async () => {
			const { token } = await signedInUser();
			const path = `${await pathFor(token)}${query}`;
			return { method, path, token, body: bytes(), headers: IMAGE, ...extra };
		};
	};
	const scenariosOfUpload: Record<string, Scenario> = {
		[success]: upload(png),
		400: upload(png, {}, `?filename=${LONG}`),
		413: upload(TOO_LARGE_IMAGE),
		415: upload(NOT_AN_IMAGE),
		422: upload(TOO_MANY_PIXELS),
	};
	if (method === "POST") scenariosOfUpload[403] = upload(png, { vars: { QUOTA_IMAGES: "1" }, repeat: 2 });
	return scenariosOfUpload;
}

// ------------------------------------------------------------------ generic variations of the happy request

const BIG_JSON = JSON.stringify({ padding: "x".repeat(70 * 1024) });

/** Documented problems that any operation of its kind can produce the same way. */
function genericScenario(operation: Operation, status: string, happy: Scenario): Scenario | null {
	const codes = problemCodes(operation.responses[status]);
	const jsonBody = Boolean(operation.requestBody?.content["application/json"]);
	if (status === "503") return async () => ({ ...(await happy()), d1Down: true });
	if (status === "401" && codes.includes("unauthorized")) {
		return async () => ({ ...(await happy()), token: undefined });
	}
	if (status === "413" && codes.includes("payload_too_large")) {
		return async () => ({ ...(await happy()), json: undefined, body: BIG_JSON, headers: JSON_TYPE });
	}
	if (status === "415" && codes.includes("unsupported_media_type")) {
		return async () => ({
			...(await happy()),
			json: undefined,
			body: "hello",
			headers: { "Content-Type": "text/plain" },
		});
	}
	if (status === "429" && codes.includes("rate_limited")) {
		const limits: Vars = {
			RATE_LIMIT_LOGIN_IP: "1/3600",
			RATE_LIMIT_REGISTER_IP: "1/3600",
			RATE_LIMIT_MAIL_IP: "1/3600",
			RATE_LIMIT_UPLOAD_USER: "1/3600",
		};
		return async () => ({ ...(await happy()), vars: limits, repeat: 2 });
	}
	if (status === "400" && jsonBody) return async () => ({ ...(await happy()), json: [] });
	return null;
}

const JSON_TYPE = { "Content-Type": "application/json" };

function problemCodes(response: DocResponse | undefined): string[] {
	const schema = response?.content?.["application/problem+json"]?.schema as
		| { properties?: { code?: { enum?: string[] } } }
		| undefined;
	return schema?.properties?.code?.enum ?? [];
}

// ------------------------------------------------------------------ checking an answer against the document

/** The documented schema with its references inlined; objects refuse undocumented fields. */
function resolve(schema: unknown): unknown {
	if (Array.isArray(schema)) return schema.map(resolve);
	if (!schema || typeof schema !== "object") return schema;
	const ref = (schema as { $ref?: string }).$ref;
	if (ref) return resolve(document.components.schemas[ref.replace("#/components/schemas/", "")]);
	const out: Record<string, unknown> = {};
	for (const [key, value] of Object.entries(schema)) {
		out[key] =
			key === "properties"
				? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v)]))
				: resolve(value);
	}
	if (out.type === "object" && out.properties && out.additionalProperties === undefined)
		out.additionalProperties = false;
	return out;
}

function matchingMediaType(documented: string[], contentType: string): string | undefined {
	const essence = contentType.split(";")[0]?.trim().toLowerCase() ?? "";
	return documented.find((type) => type === essence || (type.endsWith("/*") && essence.startsWith(type.slice(0, -1))));
}

async function expectDocumented(operation: Operation, status: string, res: Response) {
	const documented = operation.responses[status];
	if (!documented) throw new Error(`status ${status} is not documented`);
	const text = await res.text();
	expect(res.status, text.slice(0, 500)).toBe(Number(status));
	const mediaTypes = Object.keys(documented.content ?? {});
	if (mediaTypes.length === 0) {
		expect(text).toBe("");
	} else {
		const contentType = res.headers.get("Content-Type") ?? "";
		const mediaType = matchingMediaType(mediaTypes, contentType);
		expect(mediaType, `${contentType} is not one of ${mediaTypes.join(", ")}`).toBeDefined();
		const schema = documented.content?.[mediaType as string]?.schema;
		if (mediaType?.endsWith("json")) {
			const parsed = z.fromJSONSchema(resolve(schema) as z.core.JSONSchema.JSONSchema).safeParse(JSON.parse(text));
			expect(parsed.error?.issues ?? [], text.slice(0, 500)).toEqual([]);
		} else if (mediaType === "text/html") {
			expect(text).toMatch(/^<!doctype html>/i);
		} else {
			expect(text.length).toBeGreaterThan(0);
		}
	}
	for (const name of Object.keys(documented.headers ?? {})) {
		// A 401 lists WWW-Authenticate for its bearer failures; invalid_credentials carries none.
		if (name === "WWW-Authenticate" && text.includes('"code":"invalid_credentials"')) continue;
		// Stored bytes are the same in every language (src/middleware/language.ts).
		if (name === "Content-Language" && mediaTypes.some((type) => type.startsWith("image/"))) continue;
		expect(res.headers.get(name), `header ${name}`).not.toBeNull();
	}
}

// ------------------------------------------------------------------ one test per documented status

const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
	Object.entries(methods).map(([method, operation]) => ({ key: `${method.toUpperCase()} ${path}`, operation })),
);

describe("the served OpenAPI document", () => {
	it("describes the whole API: every operation has scenarios, and every scenario a documented operation", () => {
		expect(operations.length).toBeGreaterThanOrEqual(36);
		expect(operations.map(({ key }) => key).sort()).toEqual(Object.keys(scenarios).sort());
	});

	it("has a scenario only for statuses the document lists", () => {
		const stale = operations.flatMap(({ key, operation }) =>
			Object.keys(scenarios[key] ?? {})
				.filter((status) => !operation.responses[status])
				.map((status) => `${key} ${status}`),
		);
		expect(stale).toEqual([]);
	});
});

for (const { key, operation } of operations) {
	describe(`${key} (${operation.operationId})`, () => {
		const own = scenarios[key] ?? {};
		const happyStatus = Object.keys(own).find((status) => /^[23]/.test(status));
		for (const status of Object.keys(operation.responses)) {
			it(`answers ${status} as documented`, async () => {
				const happy = happyStatus ? own[happyStatus] : undefined;
				const scenario = own[status] ?? (happy ? genericScenario(operation, status, happy) : null);
				if (!scenario) throw new Error(`no scenario for ${key} ${status}`);
				await expectDocumented(operation, status, await send(await scenario()));
			});
		}
	});
}
