import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { api, expectProblem, login, register, send, signedInUser, uniqueEmail } from "../helpers/api";
import { requestsTo } from "../helpers/network";
import {
	APP_CALLBACK,
	APP_SETTINGS,
	CookieJar,
	callback,
	FakeIdentityProviders,
	fakeUser,
	loginWith,
	redirectParams,
	startLogin,
} from "../helpers/oauth-fakes";

/** How many code exchanges reached GitHub's token endpoint so far. */
function githubTokenRequests(): number {
	return requestsTo("https://github.com").filter((r) => new URL(r.url).pathname === "/login/oauth/access_token").length;
}

type Me = {
	id: string;
	email: string;
	name: string | null;
	email_confirmed: boolean;
	has_password: boolean;
	accounts: { provider: string }[];
};

let idp: FakeIdentityProviders;

beforeEach(() => {
	idp = new FakeIdentityProviders();
	idp.install();
});

afterEach(() => {
	vi.useRealTimers();
});

/** Trades a one-time login code for tokens. */
function exchange(code: string) {
	return send("POST", "/v1/auth/oauth/exchange", { body: { code } });
}

async function me(token: string): Promise<Me> {
	const res = await send("GET", "/v1/me", { token });
	expect(res.status).toBe(200);
	return res.json();
}

/** Full browser login ending in the app: redirect with a code, then the exchange. */
async function loginThroughApp(provider: "github" | "google" | "oidc", user = fakeUser()) {
	const res = await loginWith(idp, provider, user, APP_CALLBACK);
	const params = redirectParams(res);
	expect(res.headers.get("Location")?.startsWith(`${APP_CALLBACK}?`)).toBe(true);
	const code = params.get("code");
	expect(code).toBeTruthy();
	const exchanged = await exchange(code as string);
	expect(exchanged.status).toBe(200);
	const tokens = (await exchanged.json()) as { access_token: string; refresh_token: string; user: Me };
	return { user, tokens, me: await me(tokens.access_token) };
}

describe("OAuth login: happy paths", () => {
	it("lists exactly the configured providers", async () => {
		const res = await api("/v1/auth/oauth");
		expect(res.status).toBe(200);
		expect(await res.json()).toEqual({
			providers: [
				{ id: "github", name: "GitHub" },
				{ id: "google", name: "Google" },
				{ id: "oidc", name: "Test SSO" },
			],
		});
	});

	it("documents the OAuth routes in /openapi.json", async () => {
		const doc = (await (await api("/openapi.json")).json()) as { paths: Record<string, Record<string, unknown>> };
		expect(Object.keys(doc.paths["/v1/auth/oauth/{provider}/callback"] ?? {})).toEqual(["get"]);
		expect(doc.paths["/v1/auth/oauth/exchange"]?.post).toHaveProperty("requestBody");
		expect(Object.keys(doc.paths["/v1/me/accounts/{provider}"] ?? {}).sort()).toEqual(["delete", "post"]);
	});

	it("starts with a redirect to the provider and a short-lived, HttpOnly, Secure, Lax flow cookie", async () => {
		const res = await api(`/v1/auth/oauth/google?redirect_uri=${encodeURIComponent(APP_CALLBACK)}`, {
			redirect: "manual",
		});
		expect(res.status).toBe(302);
		const location = new URL(res.headers.get("Location") ?? "");
		expect(location.origin + location.pathname).toBe("https://accounts.google.com/o/oauth2/v2/auth");
		expect(location.searchParams.get("state")).toMatch(/^[A-Za-z0-9_-]{43}$/);
		expect(location.searchParams.get("code_challenge_method")).toBe("S256");
		expect(location.searchParams.get("nonce")).toMatch(/^[A-Za-z0-9_-]{43}$/);
		expect(res.headers.get("Cache-Control")).toBe("no-store");
		const cookies = res.headers.getSetCookie();
		expect(cookies).toHaveLength(1);
		const cookie = cookies[0] ?? "";
		expect(cookie).toMatch(/^atrium_oauth_google=/);
		expect(cookie).toMatch(/; HttpOnly/);
		expect(cookie).toMatch(/; Secure/);
		expect(cookie).toMatch(/; SameSite=Lax/);
		expect(cookie).toMatch(/; Max-Age=600/);
		expect(cookie).toMatch(/; Path=\/v1\/auth\/oauth\/google/);
		// Neither the state nor the PKCE verifier is left readable for page scripts or other paths.
		expect(cookie).not.toContain(location.searchParams.get("code_challenge") ?? "-");
	});

	it("creates a confirmed, password-less account for a new GitHub user and signs them in", async () => {
		const { user, tokens, me: profile } = await loginThroughApp("github", fakeUser({ name: "Octo Cat" }));
		expect(profile.email).toBe(user.email);
		expect(profile.name).toBe("Octo Cat");
		expect(profile.email_confirmed).toBe(true);
		expect(profile.has_password).toBe(false);
		expect(profile.accounts).toEqual([{ provider: "github" }]);
		expect(tokens.user.id).toBe(profile.id);
		// The arctic client sent the app's credentials and the registered callback URL to GitHub.
		const tokenRequest = requestsTo("https://github.com")[0];
		expect(tokenRequest?.headers.get("Authorization")).toBe(`Basic ${btoa("gh-client:gh-secret")}`);
		expect(new URLSearchParams(tokenRequest?.body).get("redirect_uri")).toBe(
			"https://atrium.test/v1/auth/oauth/github/callback",
		);
	});

	it("uses GitHub's primary verified address, not another verified one", async () => {
		const other = uniqueEmail("secondary");
		const { user, me: profile } = await loginThroughApp(
			"github",
			fakeUser({ otherEmails: [{ email: other, verified: true }] }),
		);
		expect(profile.email).toBe(user.email);
	});

	it("answers with token JSON when the flow has no redirect_uri (Google, PKCE, ID token)", async () => {
		const user = fakeUser();
		const res = await loginWith(idp, "google", user);
		expect(res.status).toBe(200);
		expect(res.headers.get("Cache-Control")).toBe("no-store");
		const body = (await res.json()) as { access_token: string; token_type: string; user: Me };
		expect(body.token_type).toBe("Bearer");
		expect(body.user.email).toBe(user.email);
		expect(body.user.accounts).toEqual([{ provider: "google" }]);
		const profile = await me(body.access_token);
		expect(profile.id).toBe(body.user.id);
	});

	it("signs a returning identity in to the same account, even after the provider email changed", async () => {
		const user = fakeUser();
		const first = await loginThroughApp("google", user);
		const second = await loginThroughApp("google", { ...user, email: uniqueEmail("renamed") });
		expect(second.me.id).toBe(first.me.id);
		expect(second.me.email).toBe(user.email);
	});

	it("links a provider-verified email to the existing confirmed account with that email", async () => {
		const local = await signedInUser();
		const { me: profile } = await loginThroughApp("google", fakeUser({ email: local.email.toUpperCase() }));
		expect(profile.id).toBe(local.userId);
		expect(profile.has_password).toBe(true);
		expect(profile.accounts).toEqual([{ provider: "google" }]);
		// The password keeps working: linking a verified identity takes nothing away.
		expect((await login(local.email, local.password)).user.id).toBe(local.userId);
	});

	it("creates an unconfirmed account when the provider did not verify a free address", async () => {
		const { me: profile } = await loginThroughApp("github", fakeUser({ emailVerified: false }));
		expect(profile.email_confirmed).toBe(false);
		expect(profile.accounts).toEqual([{ provider: "github" }]);
	});

	it("keeps the redirect_uri's own query when adding the code", async () => {
		const res = await loginWith(idp, "github", fakeUser(), APP_SETTINGS);
		const location = new URL(res.headers.get("Location") ?? "");
		expect(location.origin + location.pathname).toBe("https://app.test/settings/linked");
		expect(location.searchParams.get("tab")).toBe("accounts");
		expect(location.searchParams.get("code")).toBeTruthy();
	});

	it("gives fresh tokens: an OAuth-only user sets a first password without a current one", async () => {
		const { user, tokens } = await loginThroughApp("github");
		const res = await send("PUT", "/v1/me/password", {
			token: tokens.access_token,
			body: { new_password: "a brand new passphrase" },
		});
		expect(res.status).toBe(200);
		const signedIn = await login(user.email as string, "a brand new passphrase");
		expect(signedIn.user.id).toBe(tokens.user.id);
		// From now on the account has a password, so changing it needs the current one.
		const again = await send("PUT", "/v1/me/password", {
			token: signedIn.access_token,
			body: { new_password: "yet another passphrase" },
		});
		const problem = await expectProblem(again, 400, "validation_failed");
		expect(problem.errors?.[0]?.path).toBe("current_password");
	});
});

describe("OAuth login: errors", () => {
	it("404 provider_not_found for an unknown provider on every route", async () => {
		await expectProblem(await api("/v1/auth/oauth/myspace"), 404, "provider_not_found");
		await expectProblem(await api("/v1/auth/oauth/myspace/callback?code=x&state=y"), 404, "provider_not_found");
		const { token } = await signedInUser();
		await expectProblem(await send("POST", "/v1/me/accounts/myspace", { token }), 404, "provider_not_found");
	});

	it("400 redirect_uri_not_allowed unless the URI is on the list exactly", async () => {
		for (const uri of [
			"https://evil.test/callback",
			"https://app.test/callback/",
			"https://app.test/callback?next=/",
			"https://app.test/callbackx",
			"HTTPS://APP.TEST/callback",
			"https://app.test/settings/linked",
		]) {
			const res = await api(`/v1/auth/oauth/github?redirect_uri=${encodeURIComponent(uri)}`, { redirect: "manual" });
			await expectProblem(res, 400, "redirect_uri_not_allowed");
			expect(res.headers.getSetCookie()).toEqual([]);
		}
	});

	it("denied consent sends the browser back with ?error=oauth_denied", async () => {
		const { jar, authorizationUrl } = await startLogin("github", APP_CALLBACK);
		const state = new URL(authorizationUrl).searchParams.get("state") as string;
		const res = await callback(jar, "github", { error: "access_denied", state });
		const params = redirectParams(res);
		expect(params.get("error")).toBe("oauth_denied");
		expect(params.has("code")).toBe(false);
	});

	it("denied consent without a redirect_uri is a localized 400 oauth_denied problem", async () => {
		const { jar, authorizationUrl } = await startLogin("google");
		const state = new URL(authorizationUrl).searchParams.get("state") as string;
		const res = await callback(jar, "google", { error: "access_denied", state });
		const problem = await expectProblem(res, 400, "oauth_denied");
		expect(problem.detail).toBe("The provider did not grant access.");
	});

	it("other provider errors on the callback become oauth_failed", async () => {
		const { jar, authorizationUrl } = await startLogin("google", APP_CALLBACK);
		const state = new URL(authorizationUrl).searchParams.get("state") as string;
		const res = await callback(jar, "google", { error: "server_error", state });
		expect(redirectParams(res).get("error")).toBe("oauth_failed");
	});

	it("a code the provider refuses ends in oauth_failed, never a 500", async () => {
		for (const provider of ["github", "google"] as const) {
			const { jar, authorizationUrl } = await startLogin(provider, APP_CALLBACK);
			const { state } = idp.approve(authorizationUrl, fakeUser());
			const res = await callback(jar, provider, { code: "not-a-code-the-provider-issued", state });
			expect(redirectParams(res).get("error")).toBe("oauth_failed");
		}
	});

	it("an unreachable or broken provider ends in oauth_failed", async () => {
		for (const kind of ["unreachable", "server_error"] as const) {
			idp.misbehave = { kind };
			const res = await loginWith(idp, "github", fakeUser(), APP_CALLBACK);
			expect(redirectParams(res).get("error")).toBe("oauth_failed");
			const bare = await loginWith(idp, "google", fakeUser());
			await expectProblem(bare, 400, "oauth_failed");
		}
	});

	it("a GitHub account without any email address cannot sign up", async () => {
		const res = await loginWith(idp, "github", fakeUser({ email: null }));
		await expectProblem(res, 400, "oauth_failed");
	});

	it("409 email_in_use when an unverified provider email belongs to an account", async () => {
		const local = await signedInUser();
		const res = await loginWith(idp, "github", fakeUser({ email: local.email, emailVerified: false }));
		await expectProblem(res, 409, "email_in_use");
		const viaApp = await loginWith(idp, "github", fakeUser({ email: local.email, emailVerified: false }), APP_CALLBACK);
		expect(redirectParams(viaApp).get("error")).toBe("email_in_use");
		const accounts = await send("GET", "/v1/me/accounts", { token: local.token });
		expect(await accounts.json()).toEqual({ accounts: [] });
	});

	it("409 email_in_use when the account already has another identity of that provider", async () => {
		const first = await loginThroughApp("github");
		const res = await loginWith(idp, "github", fakeUser({ email: first.me.email }));
		await expectProblem(res, 409, "email_in_use");
	});

	it("exchange refuses unknown codes and malformed bodies", async () => {
		await expectProblem(await exchange("no-such-code"), 400, "token_invalid");
		await expectProblem(await send("POST", "/v1/auth/oauth/exchange", { body: {} }), 400, "validation_failed");
	});
});

describe("OAuth login: security", () => {
	it("refuses a callback without state, with a wrong state, or without the flow cookie", async () => {
		const { jar, authorizationUrl } = await startLogin("github", APP_CALLBACK);
		const { code, state } = idp.approve(authorizationUrl, fakeUser());
		// A problem, not a redirect: an unverified state must not choose where the browser goes.
		await expectProblem(await callback(new CookieJar(), "github", { code, state }), 400, "oauth_state_mismatch");
		await expectProblem(await callback(jar, "github", { code }), 400, "oauth_state_mismatch");
		const { jar: jar2, authorizationUrl: url2 } = await startLogin("github", APP_CALLBACK);
		const grant2 = idp.approve(url2, fakeUser());
		// Flip the last character (to a different one: a state ending in "A" stays wrong too).
		const flipped = `${grant2.state.slice(0, -1)}${grant2.state.endsWith("A") ? "B" : "A"}`;
		const wrong = await callback(jar2, "github", { code: grant2.code, state: flipped });
		expect(wrong.headers.get("Location")).toBeNull();
		await expectProblem(wrong, 400, "oauth_state_mismatch");
		// Nothing reached GitHub's token endpoint for any of them.
		expect(requestsTo("https://github.com")).toHaveLength(0);
	});

	it("refuses a flow cookie of another provider", async () => {
		const { jar, authorizationUrl } = await startLogin("google", APP_CALLBACK);
		const { code, state } = idp.approve(authorizationUrl, fakeUser());
		const stolen = jar.header("/v1/auth/oauth/google/callback").replace("atrium_oauth_google", "atrium_oauth_github");
		const res = await api(`/v1/auth/oauth/github/callback?${new URLSearchParams({ code, state })}`, {
			headers: { Cookie: stolen },
		});
		await expectProblem(res, 400, "oauth_state_mismatch");
	});

	it("refuses a tampered flow cookie, so the redirect target cannot be swapped", async () => {
		const { jar, authorizationUrl } = await startLogin("github", APP_CALLBACK);
		const { code, state } = idp.approve(authorizationUrl, fakeUser());
		const cookie = jar.header("/v1/auth/oauth/github/callback");
		const [name, value] = cookie.split(/=(.*)/s) as [string, string];
		const decoded = decodeURIComponent(value);
		const [payload, signature] = [
			decoded.slice(0, decoded.lastIndexOf(".")),
			decoded.slice(decoded.lastIndexOf(".") + 1),
		];
		const flow = JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/"))) as { redirectUri: string };
		flow.redirectUri = "https://evil.test/steal";
		const forged = btoa(JSON.stringify(flow)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
		const res = await api(`/v1/auth/oauth/github/callback?${new URLSearchParams({ code, state })}`, {
			headers: { Cookie: `${name}=${encodeURIComponent(`${forged}.${signature}`)}` },
		});
		await expectProblem(res, 400, "oauth_state_mismatch");
		// Control: the same cookie, re-assembled without the change, is accepted.
		const genuine = await api(`/v1/auth/oauth/github/callback?${new URLSearchParams({ code, state })}`, {
			headers: { Cookie: `${name}=${encodeURIComponent(`${payload}.${signature}`)}` },
			redirect: "manual",
		});
		expect(genuine.headers.get("Location")?.startsWith(`${APP_CALLBACK}?code=`)).toBe(true);
	});

	it("refuses a flow that took longer than ten minutes", async () => {
		vi.useFakeTimers({ toFake: ["Date"] });
		const { jar, authorizationUrl } = await startLogin("github", APP_CALLBACK);
		const { code, state } = idp.approve(authorizationUrl, fakeUser());
		vi.setSystemTime(Date.now() + 601_000);
		await expectProblem(await callback(jar, "github", { code, state }), 400, "oauth_state_mismatch");
	});

	it("a replayed callback gets nothing: the browser's flow is spent, and the provider's code too", async () => {
		const { jar, authorizationUrl } = await startLogin("github", APP_CALLBACK);
		const captured = jar.header("/v1/auth/oauth/github/callback");
		const query = idp.approve(authorizationUrl, fakeUser());
		const first = await callback(jar, "github", query);
		expect(redirectParams(first).get("code")).toBeTruthy();
		// The same browser: the flow cookie was cleared by the first callback.
		await expectProblem(await callback(jar, "github", query), 400, "oauth_state_mismatch");
		// Someone who captured the cookie too: the server spent the state, so the provider is not even asked.
		const tokenRequests = githubTokenRequests();
		const replay = await api(`/v1/auth/oauth/github/callback?${new URLSearchParams(query)}`, {
			headers: { Cookie: captured },
			redirect: "manual",
		});
		await expectProblem(replay, 400, "oauth_state_mismatch");
		expect(githubTokenRequests()).toBe(tokenRequests);
	});

	it.each(["github", "google", "oidc"] as const)(
		"spends the state on the server: a replayed %s login callback with its cookie fails",
		async (provider) => {
			const { jar, authorizationUrl } = await startLogin(provider);
			const captured = jar.header(`/v1/auth/oauth/${provider}/callback`);
			const query = idp.approve(authorizationUrl, fakeUser());
			const first = await callback(jar, provider, query);
			expect(first.status).toBe(200);
			const replay = await api(`/v1/auth/oauth/${provider}/callback?${new URLSearchParams(query)}`, {
				headers: { Cookie: captured },
			});
			await expectProblem(replay, 400, "oauth_state_mismatch");
		},
	);

	it("keeps each started flow's state on the server, hashed, until its callback", async () => {
		const { jar, authorizationUrl } = await startLogin("github");
		const state = new URL(authorizationUrl).searchParams.get("state") as string;
		const stored = await env.DB.prepare("select state_hash from oauth_states").all<{ state_hash: string }>();
		expect(stored.results.length).toBeGreaterThan(0);
		expect(stored.results.some((row) => row.state_hash === state)).toBe(false);
		const before = stored.results.length;
		expect((await callback(jar, "github", idp.approve(authorizationUrl, fakeUser()))).status).toBe(200);
		const after = await env.DB.prepare("select count(*) as n from oauth_states").first<{ n: number }>();
		expect(after?.n).toBe(before - 1);
	});

	it("a login code works once, and not after 60 seconds", async () => {
		const res = await loginWith(idp, "github", fakeUser(), APP_CALLBACK);
		const code = redirectParams(res).get("code") as string;
		expect((await exchange(code)).status).toBe(200);
		await expectProblem(await exchange(code), 400, "token_invalid");

		vi.useFakeTimers({ toFake: ["Date"] });
		const late = await loginWith(idp, "github", fakeUser(), APP_CALLBACK);
		const lateCode = redirectParams(late).get("code") as string;
		vi.setSystemTime(Date.now() + 61_000);
		await expectProblem(await exchange(lateCode), 400, "token_invalid");
	});

	it("stores login codes only as hashes", async () => {
		const res = await loginWith(idp, "github", fakeUser(), APP_CALLBACK);
		const code = redirectParams(res).get("code") as string;
		const rows = await env.DB.prepare("select token_hash from verification_tokens where purpose = 'oauth_login'").all<{
			token_hash: string;
		}>();
		expect(rows.results.length).toBeGreaterThan(0);
		expect(rows.results.some((row) => row.token_hash === code)).toBe(false);
		const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(code)));
		const hex = [...digest].map((byte) => byte.toString(16).padStart(2, "0")).join("");
		expect(rows.results.some((row) => row.token_hash === hex)).toBe(true);
	});

	it("defeats pre-registration: an unconfirmed local account is taken over by the verified owner", async () => {
		// The attacker registers the victim's address with a password of their choosing.
		const victimEmail = uniqueEmail("victim");
		const attacker = await register({ email: victimEmail, password: "attacker chosen password" });
		// Later the real owner signs in with Google, which vouches for the address.
		const { me: profile } = await loginThroughApp("google", fakeUser({ email: victimEmail }));
		expect(profile.email).toBe(victimEmail);
		expect(profile.email_confirmed).toBe(true);
		expect(profile.has_password).toBe(false);
		// The attacker's password and pending confirmation link are gone.
		await expectProblem(
			await send("POST", "/v1/auth/login", { body: { email: victimEmail, password: attacker.password } }),
			401,
			"invalid_credentials",
		);
		await expectProblem(
			await send("POST", "/v1/auth/confirm", { body: { token: attacker.confirmToken } }),
			400,
			"token_invalid",
		);
	});

	it("defeats pre-registration through a provider that did not verify the address", async () => {
		const victimEmail = uniqueEmail("victim");
		const attackerIdentity = fakeUser({ email: victimEmail, emailVerified: false });
		const squatted = await loginThroughApp("github", attackerIdentity);
		expect(squatted.me.email_confirmed).toBe(false);
		const owner = await loginThroughApp("google", fakeUser({ email: victimEmail }));
		expect(owner.me.id).toBe(squatted.me.id);
		expect(owner.me.accounts).toEqual([{ provider: "google" }]);
		// The attacker's session died and their GitHub identity no longer opens the account.
		await expectProblem(await send("GET", "/v1/me", { token: squatted.tokens.access_token }), 401, "unauthorized");
		await expectProblem(
			await send("POST", "/v1/auth/refresh", { body: { refresh_token: squatted.tokens.refresh_token } }),
			401,
			"invalid_refresh_token",
		);
		const again = await loginWith(idp, "github", attackerIdentity);
		await expectProblem(again, 409, "email_in_use");
	});

	it("a token-endpoint request carries the PKCE verifier matching the challenge (Google)", async () => {
		const res = await loginWith(idp, "google", fakeUser(), APP_CALLBACK);
		expect(redirectParams(res).get("code")).toBeTruthy();
		const body = new URLSearchParams(requestsTo("https://oauth2.googleapis.com")[0]?.body);
		expect(body.get("code_verifier")).toMatch(/^[A-Za-z0-9_-]{43}$/);
	});
});
