import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { api, expectProblem, signedInUser } from "../helpers/api";
import { requestsTo } from "../helpers/network";
import {
	APP_CALLBACK,
	FakeIdentityProviders,
	fakeUser,
	keys,
	linkingUrl,
	loginWith,
	OIDC,
	redirectParams,
	startLogin,
} from "../helpers/oauth-fakes";

const DISCOVERY_PATH = "/.well-known/openid-configuration";
const HOUR = 3600_000;

let idp: FakeIdentityProviders;

beforeEach(() => {
	idp = new FakeIdentityProviders();
	idp.install();
});

afterEach(() => {
	vi.useRealTimers();
});

let clockOffset = 0;

/**
 * Moves the clock past the discovery cache's lifetime, so the next request discovers again. Each
 * call jumps a day further than the last, past anything an earlier test cached; tests that run on
 * real time afterwards are "earlier" than the cached entries and keep hitting the cache.
 */
function expireDiscoveryCache() {
	clockOffset += 24 * HOUR;
	vi.useFakeTimers({ toFake: ["Date"] });
	vi.setSystemTime(Date.now() + clockOffset);
}

type TokenBody = {
	access_token: string;
	user: { id: string; email: string; email_confirmed: boolean; accounts: unknown };
};

describe("generic OpenID Connect issuer: happy paths", () => {
	it("discovers the issuer and signs a new user in with PKCE, nonce and a verified ID token", async () => {
		const user = fakeUser({ name: "Ada Lovelace" });
		const { jar, authorizationUrl } = await startLogin("oidc");
		const url = new URL(authorizationUrl);
		expect(url.origin + url.pathname).toBe(`${OIDC.issuer}/authorize`);
		expect(url.searchParams.get("scope")).toBe("openid email profile");
		const query = idp.approve(authorizationUrl, user);
		const res = await api(`/v1/auth/oauth/oidc/callback?${new URLSearchParams(query)}`, {
			headers: { Cookie: jar.header("/v1/auth/oauth/oidc/callback") },
		});
		expect(res.status).toBe(200);
		const body = (await res.json()) as TokenBody;
		expect(body.user).toMatchObject({ email: user.email, email_confirmed: true, accounts: [{ provider: "oidc" }] });
		// The client authenticated with its secret (client_secret_basic) and sent the PKCE verifier.
		const tokenRequest = requestsTo(OIDC.issuer).find((r) => r.url.endsWith("/token"));
		expect(tokenRequest?.headers.get("Authorization")).toBe(`Basic ${btoa("oidc-client:oidc-secret")}`);
		expect(new URLSearchParams(tokenRequest?.body).get("code_verifier")).toBeTruthy();
	});

	it("reads email claims from UserInfo when the ID token leaves them out", async () => {
		idp.oidcClaimsInUserinfo = true;
		const user = fakeUser();
		const res = await loginWith(idp, "oidc", user);
		expect(res.status).toBe(200);
		expect(((await res.json()) as TokenBody).user).toMatchObject({ email: user.email, email_confirmed: true });
		expect(requestsTo(OIDC.issuer).some((r) => r.url.endsWith("/userinfo"))).toBe(true);
	});

	it("caches the discovery document and the JWKS per isolate, and refreshes them after the TTL", async () => {
		expireDiscoveryCache();
		expect((await loginWith(idp, "oidc", fakeUser())).status).toBe(200);
		expect((await loginWith(idp, "oidc", fakeUser())).status).toBe(200);
		expect(idp.hits.get(DISCOVERY_PATH)).toBe(1);
		expect(idp.hits.get("/jwks")).toBe(1);
		vi.setSystemTime(Date.now() + 2 * HOUR);
		expect((await loginWith(idp, "oidc", fakeUser())).status).toBe(200);
		expect(idp.hits.get(DISCOVERY_PATH)).toBe(2);
	});
});

describe("generic OpenID Connect issuer: errors", () => {
	it("an unreachable issuer at the start sends the app ?error=oauth_failed, or a 400 problem", async () => {
		expireDiscoveryCache();
		idp.discovery = "down";
		const res = await api(`/v1/auth/oauth/oidc?redirect_uri=${encodeURIComponent(APP_CALLBACK)}`, {
			redirect: "manual",
		});
		expect(redirectParams(res).get("error")).toBe("oauth_failed");
		expect(res.headers.getSetCookie()).toEqual([]);
		await expectProblem(await api("/v1/auth/oauth/oidc", { redirect: "manual" }), 400, "oauth_failed");
		// Linking asks the provider only when the linking page is opened (test/routes/oauth-link.test.ts).
		const { token } = await signedInUser();
		const linkUrl = await linkingUrl(token, "oidc");
		const page = await api(new URL(linkUrl).pathname + new URL(linkUrl).search, { headers: { Accept: "text/html" } });
		expect(page.status).toBe(400);
		expect(page.headers.get("Content-Type")).toMatch(/^text\/html/);
	});

	it("refuses a discovery document that names another issuer, and does not cache it", async () => {
		expireDiscoveryCache();
		idp.discovery = { issuer: "https://evil.test" };
		await expectProblem(await api("/v1/auth/oauth/oidc", { redirect: "manual" }), 400, "oauth_failed");
		idp.discovery = {};
		const res = await api("/v1/auth/oauth/oidc", { redirect: "manual" });
		expect(res.status).toBe(302);
		expect(idp.hits.get(DISCOVERY_PATH)).toBe(2);
	});

	it("refuses a discovery document with plain-http endpoints", async () => {
		expireDiscoveryCache();
		idp.discovery = { token_endpoint: "http://issuer.test/token" };
		await expectProblem(await api("/v1/auth/oauth/oidc", { redirect: "manual" }), 400, "oauth_failed");
	});

	it("refuses UserInfo answering for another subject", async () => {
		idp.oidcClaimsInUserinfo = true;
		idp.userinfoSub = "someone-else";
		await expectProblem(await loginWith(idp, "oidc", fakeUser()), 400, "oauth_failed");
	});
});

describe("generic OpenID Connect issuer: ID token checks", () => {
	const now = () => Math.floor(Date.now() / 1000);
	const cases: [string, () => Parameters<typeof setTwist>[0]][] = [
		["signed by a key the issuer never published", () => ({ key: keys.rogue })],
		["signed by another key under the issuer's kid", () => ({ key: keys.rogue, header: { kid: keys.oidc.kid } })],
		["for another client", () => ({ claims: { aud: "someone-else" } })],
		["for several audiences without us as azp", () => ({ claims: { aud: ["oidc-client", "other"], azp: "other" } })],
		["from another issuer", () => ({ claims: { iss: "https://evil.test" } })],
		["expired", () => ({ claims: { exp: now() - 3600, iat: now() - 7200 } })],
		["with another nonce", () => ({ claims: { nonce: "replayed-nonce" } })],
		["without a nonce", () => ({ claims: { nonce: undefined } })],
		["issued in the future", () => ({ claims: { iat: now() + 3600 } })],
	];

	function setTwist(twist: {
		claims?: Record<string, unknown>;
		key?: typeof keys.rogue;
		header?: Record<string, unknown>;
	}) {
		idp.misbehave = { kind: "id_token", ...twist };
	}

	for (const [name, twist] of cases) {
		it(`refuses an ID token ${name}`, async () => {
			setTwist(twist());
			const res = await loginWith(idp, "oidc", fakeUser(), APP_CALLBACK);
			expect(redirectParams(res).get("error")).toBe("oauth_failed");
		});
	}

	it("refuses unsigned (alg none) and HMAC-signed ID tokens", async () => {
		setTwist({ header: { alg: "none" } });
		await expectProblem(await loginWith(idp, "oidc", fakeUser()), 400, "oauth_failed");
		setTwist({ header: { alg: "HS256" } });
		await expectProblem(await loginWith(idp, "oidc", fakeUser()), 400, "oauth_failed");
	});

	it("refetches the JWKS once for an unknown key id before refusing", async () => {
		setTwist({ key: keys.rogue });
		await loginWith(idp, "oidc", fakeUser());
		const before = idp.hits.get("/jwks") ?? 0;
		await loginWith(idp, "oidc", fakeUser());
		expect((idp.hits.get("/jwks") ?? 0) - before).toBeGreaterThanOrEqual(1);
	});

	it("Google ID tokens are checked the same way (wrong audience refused)", async () => {
		setTwist({ claims: { aud: "another-google-client" } });
		await expectProblem(await loginWith(idp, "google", fakeUser()), 400, "oauth_failed");
	});
});
