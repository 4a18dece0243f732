import { beforeEach, describe, expect, it } from "vitest";
import { expectProblem, login, send, signedInUser } from "../helpers/api";
import {
	APP_CALLBACK,
	APP_SETTINGS,
	CookieJar,
	callback,
	FakeIdentityProviders,
	type FakeUser,
	fakeUser,
	loginWith,
	type ProviderName,
	redirectParams,
	startLink as startBrowserLink,
} from "../helpers/oauth-fakes";

type Accounts = { accounts: { provider: string; provider_user_id: string; email: string | null; linked_at: string }[] };

let idp: FakeIdentityProviders;

beforeEach(() => {
	idp = new FakeIdentityProviders();
	idp.install();
});

/**
 * The ticket flow: the API call, then a fresh browser opens the linking URL and presses the
 * button, then consent at the provider; returns the browser's jar and the callback query.
 */
async function startLink(token: string, provider: ProviderName, user: FakeUser, body?: { redirect_uri?: string }) {
	const { jar, authorizationUrl } = await startBrowserLink(token, provider, body);
	return { jar, authorizationUrl, query: idp.approve(authorizationUrl, user) };
}

async function accountsOf(token: string): Promise<Accounts> {
	const res = await send("GET", "/v1/me/accounts", { token });
	expect(res.status).toBe(200);
	return res.json();
}

/** A password-less user who signed up through `provider`, with fresh tokens. */
async function oauthOnlyUser(provider: ProviderName = "github") {
	const identity = fakeUser();
	const res = await loginWith(idp, provider, identity);
	expect(res.status).toBe(200);
	const tokens = (await res.json()) as { access_token: string; user: { id: string; email: string } };
	return { identity, token: tokens.access_token, userId: tokens.user.id, email: tokens.user.email };
}

describe("linked accounts: happy paths", () => {
	it("lists linked identities with provider id, email and link time", async () => {
		const { token, identity } = await oauthOnlyUser("google");
		const { accounts } = await accountsOf(token);
		expect(accounts).toHaveLength(1);
		expect(accounts[0]).toMatchObject({ provider: "google", provider_user_id: identity.id, email: identity.email });
		expect(Date.parse(accounts[0]?.linked_at ?? "")).toBeGreaterThan(Date.now() - 60_000);
		expect(accounts[0]?.linked_at).toMatch(/Z$/);
	});

	it("links a provider to the signed-in user who started, whatever the provider's email", async () => {
		const local = await signedInUser();
		const identity = fakeUser(); // a different address than the local account's
		const { jar, authorizationUrl, query } = await startLink(local.token, "github", identity, {
			redirect_uri: APP_SETTINGS,
		});
		expect(new URL(authorizationUrl).origin).toBe("https://github.com");
		const res = await callback(jar, "github", query);
		const params = redirectParams(res);
		expect(params.get("linked")).toBe("github");
		expect(params.get("tab")).toBe("accounts");
		expect(params.has("code")).toBe(false);
		const me = (await (await send("GET", "/v1/me", { token: local.token })).json()) as { accounts: unknown };
		expect(me.accounts).toEqual([{ provider: "github" }]);
		// The identity now signs in to that same account.
		const viaGithub = await loginWith(idp, "github", identity);
		expect(((await viaGithub.json()) as { user: { id: string } }).user.id).toBe(local.userId);
	});

	it("ends on an HTML page when linking without a redirect_uri, and accepts one in the query too", async () => {
		const local = await signedInUser();
		const { jar, query } = await startLink(local.token, "oidc", fakeUser());
		const res = await callback(jar, "oidc", query);
		expect(res.status).toBe(200);
		expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
		expect(await res.text()).toContain("Test SSO is now linked to your account.");
		expect(await accountsOf(local.token)).toMatchObject({ accounts: [{ provider: "oidc" }] });

		const viaQuery = await send("POST", `/v1/me/accounts/google?redirect_uri=${encodeURIComponent(APP_CALLBACK)}`, {
			token: local.token,
		});
		expect(viaQuery.status).toBe(200);
	});

	it("unlinks a provider when a password remains", async () => {
		const local = await signedInUser();
		const { jar, query } = await startLink(local.token, "google", fakeUser());
		expect((await callback(jar, "google", query)).status).toBe(200);
		const res = await send("DELETE", "/v1/me/accounts/google", { token: local.token });
		expect(res.status).toBe(204);
		expect(await accountsOf(local.token)).toEqual({ accounts: [] });
	});

	it("unlinks one of two providers of an OAuth-only user", async () => {
		const user = await oauthOnlyUser("github");
		const { jar, query } = await startLink(user.token, "google", fakeUser());
		expect((await callback(jar, "google", query)).status).toBe(200);
		expect((await send("DELETE", "/v1/me/accounts/github", { token: user.token })).status).toBe(204);
		expect((await accountsOf(user.token)).accounts.map((a) => a.provider)).toEqual(["google"]);
	});
});

describe("linked accounts: errors", () => {
	it("requires a bearer token", async () => {
		await expectProblem(await send("GET", "/v1/me/accounts"), 401, "unauthorized");
		await expectProblem(await send("POST", "/v1/me/accounts/github"), 401, "unauthorized");
		await expectProblem(await send("DELETE", "/v1/me/accounts/github"), 401, "unauthorized");
	});

	it("409 last_login_method when the only provider of a password-less account is removed", async () => {
		const user = await oauthOnlyUser("google");
		const res = await send("DELETE", "/v1/me/accounts/google", { token: user.token });
		const problem = await expectProblem(res, 409, "last_login_method");
		expect(problem.detail).toMatch(/only way to sign in/);
		expect((await accountsOf(user.token)).accounts).toHaveLength(1);
	});

	it("after setting a first password, the last provider can go", async () => {
		const user = await oauthOnlyUser("github");
		const set = await send("PUT", "/v1/me/password", {
			token: user.token,
			body: { new_password: "first password here" },
		});
		expect(set.status).toBe(200);
		expect((await send("DELETE", "/v1/me/accounts/github", { token: user.token })).status).toBe(204);
		expect((await login(user.email, "first password here")).user.id).toBe(user.userId);
	});

	it("404 for a provider that is not linked, provider_not_found for an unknown one", async () => {
		const local = await signedInUser();
		await expectProblem(await send("DELETE", "/v1/me/accounts/github", { token: local.token }), 404, "not_found");
		await expectProblem(
			await send("DELETE", "/v1/me/accounts/myspace", { token: local.token }),
			404,
			"provider_not_found",
		);
	});

	it("400 redirect_uri_not_allowed when linking towards an unlisted URI", async () => {
		const local = await signedInUser();
		const res = await send("POST", "/v1/me/accounts/github", {
			token: local.token,
			body: { redirect_uri: "https://evil.test/" },
		});
		await expectProblem(res, 400, "redirect_uri_not_allowed");
	});

	it("409 email_in_use when the identity already belongs to another account", async () => {
		const owner = await oauthOnlyUser("github");
		const other = await signedInUser();
		const { jar, query } = await startLink(other.token, "github", owner.identity, { redirect_uri: APP_CALLBACK });
		expect(redirectParams(await callback(jar, "github", query)).get("error")).toBe("email_in_use");
		expect(await accountsOf(other.token)).toEqual({ accounts: [] });
		const { jar: jar2, query: query2 } = await startLink(other.token, "github", owner.identity);
		const page = await callback(jar2, "github", query2);
		expect(page.status).toBe(409);
		expect(page.headers.get("Content-Type")).toMatch(/^text\/html/);
		expect(await page.text()).toContain("Email already in use");
	});
});

describe("linked accounts: security", () => {
	it("a link flow completes only in the browser that pressed the button", async () => {
		const victim = await signedInUser();
		const { query } = await startLink(victim.token, "github", fakeUser());
		// Somebody else's browser (or a callback URL sent to the victim) has no flow cookie.
		await expectProblem(await callback(new CookieJar(), "github", query), 400, "oauth_state_mismatch");
		expect(await accountsOf(victim.token)).toEqual({ accounts: [] });
	});

	it("links nothing once the session that started the flow has signed out", async () => {
		const local = await signedInUser();
		const { jar, query } = await startLink(local.token, "google", fakeUser(), { redirect_uri: APP_CALLBACK });
		expect((await send("POST", "/v1/auth/logout", { token: local.token })).status).toBe(204);
		expect(redirectParams(await callback(jar, "google", query)).get("error")).toBe("unauthorized");
		const fresh = await login(local.email, local.password);
		expect(await accountsOf(fresh.access_token)).toEqual({ accounts: [] });
	});

	it("two concurrent unlinks cannot remove a password-less user's last two providers", async () => {
		const user = await oauthOnlyUser("github");
		const { jar, query } = await startLink(user.token, "oidc", fakeUser());
		expect((await callback(jar, "oidc", query)).status).toBe(200);
		const results = await Promise.all([
			send("DELETE", "/v1/me/accounts/github", { token: user.token }),
			send("DELETE", "/v1/me/accounts/oidc", { token: user.token }),
		]);
		expect(results.map((r) => r.status).sort()).toEqual([204, 409]);
		expect((await accountsOf(user.token)).accounts).toHaveLength(1);
	});
});
