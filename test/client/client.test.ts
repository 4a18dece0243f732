// The typed client (client/, the @atrium/client workspace package) against the real app: its fetch
// goes through the Worker's own fetch handler, over the same local D1 and R2 as every other test.
import {
	AtriumError,
	type CredentialsContainerLike,
	type StoredTokens,
	type TokenChange,
	createAtriumClient,
	memoryStorage,
	ok,
	toBase64url,
} from "@atrium/client";
import { exports } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { fixture } from "../fixtures";
import { BASE, PASSWORD, send, signedInUser, uniqueEmail } from "../helpers/api";
import { enableTotp, pinClock, totpCode } from "../helpers/mfa";
import { waitForMail } from "../helpers/resend";
import { SoftwareAuthenticator } from "../helpers/webauthn";

/**
 * navigator.credentials played by the software authenticator: it takes the browser-form options the
 * client made (ArrayBuffers) and answers a credential whose toJSON() is the authenticator's JSON.
 */
function credentialsOf(authenticator: SoftwareAuthenticator): CredentialsContainerLike {
	type BrowserOptions = Record<string, unknown> & { challenge: ArrayBuffer; user?: { id: ArrayBuffer } };
	const json = (options: unknown) => {
		const browser = options as BrowserOptions;
		const user = browser.user ? { user: { ...browser.user, id: toBase64url(browser.user.id) } } : {};
		return { ...browser, ...user, challenge: toBase64url(browser.challenge) } as never;
	};
	return {
		create: async ({ publicKey }) => wrap(await authenticator.create(json(publicKey))),
		get: async ({ publicKey }) => wrap(await authenticator.get(json(publicKey))),
	};
}

function wrap(credential: object) {
	return { toJSON: () => credential };
}

/** A client whose every request goes through the Worker, with the requests it made recorded by path. */
function clientFor(
	options: {
		now?: () => number;
		storage?: ReturnType<typeof memoryStorage>;
		credentials?: CredentialsContainerLike;
	} = {},
) {
	const paths: string[] = [];
	const changes: { tokens: StoredTokens | null; reason: TokenChange }[] = [];
	const client = createAtriumClient({
		baseUrl: `${BASE}/`,
		storage: options.storage,
		now: options.now,
		fetch: (request) => {
			paths.push(`${request.method} ${new URL(request.url).pathname}`);
			return exports.default.fetch(request);
		},
		onTokensChange: (tokens, reason) => changes.push({ tokens, reason }),
		credentials: options.credentials,
	});
	return { client, paths, changes, refreshes: () => paths.filter((p) => p === "POST /v1/auth/refresh").length };
}

async function signedInClient(options: { now?: () => number } = {}) {
	const user = await signedInUser();
	const harness = clientFor(options);
	const result = await harness.client.auth.signIn({ email: user.email, password: user.password });
	expect(result.status).toBe("signed_in");
	return { ...harness, user };
}

afterEach(() => {
	vi.useRealTimers();
});

describe("client: happy paths", () => {
	it("signs in, keeps the tokens and calls an authenticated operation with them", async () => {
		const { client, user, changes } = await signedInClient();
		const me = await ok(client.api.GET("/v1/me"));
		expect(me.email).toBe(user.email);
		expect(changes.map((change) => change.reason)).toEqual(["signed_in"]);
		const stored = await client.tokens();
		expect(stored?.access_token).toMatch(/^ey/);
	});

	it("carries the latest X-D1-Bookmark back on the next call", async () => {
		const user = await signedInUser();
		const exchanges: { sent: string | null; received: string | null }[] = [];
		const client = createAtriumClient({
			baseUrl: BASE,
			fetch: async (request) => {
				const response = await exports.default.fetch(request);
				exchanges.push({ sent: request.headers.get("X-D1-Bookmark"), received: response.headers.get("X-D1-Bookmark") });
				return response;
			},
		});
		await client.auth.signIn({ email: user.email, password: user.password });
		await ok(client.api.PATCH("/v1/me", { body: { name: "Ada" } }));
		const written = exchanges.at(-1)?.received;
		expect(written).toMatch(/^[0-9a-f-]+$/);
		expect(client.bookmark()).toBe(written);
		await ok(client.api.GET("/v1/images"));
		expect(exchanges.at(-1)?.sent).toBe(written);
	});

	it("ten concurrent calls with an expired access token share exactly one refresh, and all succeed", async () => {
		const { client, refreshes } = await signedInClient();
		const before = await client.tokens();
		vi.useFakeTimers({ toFake: ["Date"] });
		// Past the access token's 15 minutes: the server would refuse it now.
		vi.setSystemTime(Date.now() + 16 * 60_000);
		const results = await Promise.all(Array.from({ length: 10 }, () => ok(client.api.GET("/v1/me"))));
		expect(results.every((me) => me.id === results[0]?.id)).toBe(true);
		expect(refreshes()).toBe(1);
		expect((await client.tokens())?.refresh_token).not.toBe(before?.refresh_token);
	});

	it("when the server says the token expired, ten concurrent calls retry after one shared refresh", async () => {
		// The client's clock stands still, so it does not see the expiry coming; the server does.
		const frozen = Date.now();
		const { client, refreshes, paths } = await signedInClient({ now: () => frozen });
		vi.useFakeTimers({ toFake: ["Date"] });
		vi.setSystemTime(Date.now() + 16 * 60_000);
		const results = await Promise.all(Array.from({ length: 10 }, () => ok(client.api.GET("/v1/images"))));
		expect(results).toHaveLength(10);
		expect(refreshes()).toBe(1);
		expect(paths.filter((p) => p === "GET /v1/images")).toHaveLength(20);
	});

	it("completes an mfa_required sign-in as a typed second step", async () => {
		pinClock();
		const user = await signedInUser();
		const { secret } = await enableTotp(user.token);
		const { client } = clientFor();
		const first = await client.auth.signIn({ email: user.email, password: user.password });
		if (first.status !== "mfa_required") throw new Error("expected the second step");
		expect(first.challenge.methods).toEqual(["totp", "recovery_code"]);
		expect(await client.tokens()).toBeNull();
		const tokens = await client.auth.completeMfa(first.challenge, { code: totpCode(secret) });
		expect(tokens.user.id).toBe(user.userId);
		const me = await ok(client.api.GET("/v1/me"));
		expect(me.mfa.totp).toBe(true);
	});

	it("signs in with the mailed code of a magic link", async () => {
		const user = await signedInUser();
		const { client } = clientFor();
		await client.auth.requestMagicLink({ email: user.email });
		const code = /\b(\d{6})\b/.exec((await waitForMail(user.email, 2)).text)?.[1] ?? "";
		const result = await client.auth.verifyMagicLink({ email: user.email, code });
		expect(result.status).toBe("signed_in");
		expect((await ok(client.api.GET("/v1/me"))).id).toBe(user.userId);
	});

	it("registers a passkey through the credentials glue and signs in with it, past a TOTP step", async () => {
		pinClock();
		const user = await signedInUser();
		const { secret } = await enableTotp(user.token);
		const authenticator = new SoftwareAuthenticator();
		const owner = clientFor({ credentials: credentialsOf(authenticator) });
		const first = await owner.client.auth.signIn({ email: user.email, password: user.password });
		if (first.status !== "mfa_required") throw new Error("expected the second step");
		await owner.client.auth.completeMfa(first.challenge, { code: totpCode(secret) });
		const passkey = await owner.client.passkeys.register("Laptop");
		expect(passkey.name).toBe("Laptop");
		const fresh = clientFor({ credentials: credentialsOf(authenticator) });
		const tokens = await fresh.client.auth.signInWithPasskey();
		expect(tokens.user.id).toBe(user.userId);
		expect((await ok(fresh.client.api.GET("/v1/me"))).mfa.passkeys).toBe(1);
	});

	it("uploads a Blob raw and as multipart, and the content_url renders without a token", async () => {
		const { client } = await signedInClient();
		const png = new Blob([fixture("tiny.png")], { type: "image/png" });
		const raw = await client.images.upload(png, { filename: "raw.png" });
		const form = await client.images.upload(png, { filename: "form.png", multipart: true });
		expect([raw.filename, form.filename]).toEqual(["raw.png", "form.png"]);
		const image = await exports.default.fetch(new Request(raw.content_url));
		expect(image.status).toBe(200);
		expect(image.headers.get("Content-Type")).toBe("image/png");
		const replaced = await client.images.replace(raw.id, new Blob([fixture("tiny.gif")], { type: "image/gif" }), {
			ifMatch: raw.etag,
		});
		expect(replaced.content_type).toBe("image/gif");
	});

	it("signs out: the tokens are forgotten and the server session is over", async () => {
		const { client, changes } = await signedInClient();
		const stored = await client.tokens();
		await client.auth.signOut();
		expect(await client.tokens()).toBeNull();
		expect(changes.at(-1)?.reason).toBe("signed_out");
		const refresh = await send("POST", "/v1/auth/refresh", { body: { refresh_token: stored?.refresh_token } });
		expect(refresh.status).toBe(401);
	});
});

describe("client: errors", () => {
	it("turns problem+json into an AtriumError carrying the code and the localized title", async () => {
		const { client } = clientFor();
		const email = uniqueEmail();
		const error = await client.auth.signIn({ email, password: PASSWORD }).catch((e: unknown) => e);
		expect(error).toBeInstanceOf(AtriumError);
		expect(error).toMatchObject({ status: 401, code: "invalid_credentials" });
		expect((error as AtriumError).message.length).toBeGreaterThan(0);
	});

	it("a revoked session surfaces as a typed error, and the tokens are dropped once", async () => {
		const { client, user, changes } = await signedInClient();
		const elsewhere = await send("POST", "/v1/auth/logout-all", { token: user.token });
		expect(elsewhere.status).toBe(204);
		const error = await ok(client.api.GET("/v1/me")).catch((e: unknown) => e);
		expect(error).toBeInstanceOf(AtriumError);
		expect((error as AtriumError).code).toBe("unauthorized");
		expect(await client.tokens()).toBeNull();
		expect(changes.filter((change) => change.reason === "session_ended")).toHaveLength(1);
		await expect(client.refresh()).rejects.toMatchObject({ code: "unauthorized" });
	});

	it("an explicit refresh after the session ended rejects with the server's code", async () => {
		const { client, user } = await signedInClient();
		await send("POST", "/v1/auth/logout-all", { token: user.token });
		await expect(client.refresh()).rejects.toMatchObject({ status: 401, code: "invalid_refresh_token" });
	});

	it("a failed upload rejects with the refusal code and stores nothing", async () => {
		const { client } = await signedInClient();
		const notImage = new Blob([new TextEncoder().encode("plain text, not pixels")], { type: "image/png" });
		await expect(client.images.upload(notImage)).rejects.toMatchObject({ code: "unsupported_image_type" });
		const list = await ok(client.api.GET("/v1/images"));
		expect(list.images).toEqual([]);
	});
});

describe("client: security", () => {
	it("never sends the access token to the anonymous token endpoints", async () => {
		const { client, user } = await signedInClient();
		const sent: (string | null)[] = [];
		const spy = createAtriumClient({
			baseUrl: BASE,
			storage: memoryStorage(await client.tokens()),
			fetch: (request) => {
				if (new URL(request.url).pathname === "/v1/auth/login") sent.push(request.headers.get("Authorization"));
				return exports.default.fetch(request);
			},
		});
		await spy.auth.signIn({ email: user.email, password: user.password });
		expect(sent).toEqual([null]);
	});

	it("a second client sharing the storage uses the tokens the first one rotated, never the spent ones", async () => {
		const storage = memoryStorage();
		const user = await signedInUser();
		const tab1 = clientFor({ storage });
		await tab1.client.auth.signIn({ email: user.email, password: user.password });
		const tab2 = clientFor({ storage });
		vi.useFakeTimers({ toFake: ["Date"] });
		vi.setSystemTime(Date.now() + 16 * 60_000);
		await ok(tab1.client.api.GET("/v1/me"));
		// Past the reuse interval: presenting the old refresh token again would end the session.
		vi.setSystemTime(Date.now() + 60_000);
		const me = await ok(tab2.client.api.GET("/v1/me"));
		expect(me.id).toBe(user.userId);
		expect(tab1.refreshes() + tab2.refreshes()).toBe(1);
	});
});
