/**
 * The whole OpenID Connect login against a real, certified provider (node `oidc-provider`):
 * Atrium under `wrangler dev`, the provider and a stand-in app on localhost, and real Chromium
 * clicking through start -> provider login -> consent -> callback -> redirect to the app. The
 * app's code is then exchanged for tokens and `GET /v1/me` shows the linked account.
 */
import { createServer, type Server } from "node:http";
import { once } from "node:events";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium } from "./helpers/browser";
import { OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, startOidcProvider } from "./helpers/oidc";
import { type DevServer, freePort, startWranglerDev, waitForOutput } from "../../scripts/lib/wrangler-dev.mjs";

let atrium: DevServer;
let browser: Browser;
let providerServer: Server;
let appServer: Server;
let issuer: string;
let appCallback: string;
let appLinked: string;

/** The app Atrium redirects back to: it only has to exist and show where the browser landed. */
async function startApp(port: number): Promise<Server> {
	const server = createServer((request, response) => {
		response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
		response.end(`<!doctype html><title>App</title><p id="landed">${request.url?.replace(/[<&]/g, "") ?? ""}</p>`);
	});
	server.listen(port, "127.0.0.1");
	await once(server, "listening");
	return server;
}

beforeAll(async () => {
	const [providerPort, appPort] = [await freePort(), await freePort()];
	issuer = `http://localhost:${providerPort}`;
	appCallback = `http://localhost:${appPort}/callback`;
	appLinked = `http://localhost:${appPort}/settings/linked`;
	appServer = await startApp(appPort);
	atrium = await startWranglerDev({
		OIDC_ISSUER: issuer,
		OIDC_CLIENT_ID,
		OIDC_CLIENT_SECRET,
		OIDC_NAME: "E2E Provider",
		OAUTH_REDIRECT_URIS: `${appCallback},${appLinked}`,
	});
	// Discovery happens per request, so the provider may start after Atrium (it needs Atrium's port).
	providerServer = await startOidcProvider(issuer, `${atrium.url}/v1/auth/oauth/oidc/callback`);
	browser = await launchChromium();
});

afterAll(async () => {
	await browser?.close();
	await atrium?.stop();
	providerServer?.close();
	appServer?.close();
});

describe("OpenID Connect login with a real provider and browser", () => {
	it("lists the provider", async () => {
		const res = await fetch(`${atrium.url}/v1/auth/oauth`);
		expect(await res.json()).toEqual({ providers: [{ id: "oidc", name: "E2E Provider" }] });
	});

	it("walks start, provider login and consent, callback, redirect, code exchange and /v1/me", async () => {
		const login = `e2e-${Date.now()}`;
		const context = await browser.newContext();
		const page = await context.newPage();
		try {
			await page.goto(`${atrium.url}/v1/auth/oauth/oidc?redirect_uri=${encodeURIComponent(appCallback)}`);
			// The provider's login page, after Atrium's 302 and the provider's own redirect.
			expect(page.url().startsWith(`${issuer}/interaction/`)).toBe(true);
			const flowCookies = await context.cookies();
			const flowCookie = flowCookies.find((cookie) => cookie.name === "atrium_oauth_oidc");
			expect(flowCookie).toMatchObject({ httpOnly: true, sameSite: "Lax", path: "/v1/auth/oauth/oidc" });

			await page.fill('input[name="login"]', login);
			await page.fill('input[name="password"]', "any password");
			await page.click('button[type="submit"]');
			// Consent.
			await page.waitForSelector('button:has-text("Continue")');
			await page.click('button:has-text("Continue")');

			await page.waitForURL((url) => url.toString().startsWith(appCallback), { timeout: 30_000 });
			const landed = new URL(page.url());
			expect(landed.searchParams.get("error")).toBeNull();
			const code = landed.searchParams.get("code");
			expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/);
			// The flow cookie is gone once the callback ran.
			expect((await context.cookies()).some((cookie) => cookie.name === "atrium_oauth_oidc")).toBe(false);

			const exchanged = await fetch(`${atrium.url}/v1/auth/oauth/exchange`, {
				method: "POST",
				headers: { "Content-Type": "application/json" },
				body: JSON.stringify({ code }),
			});
			expect(exchanged.status).toBe(200);
			const tokens = (await exchanged.json()) as { access_token: string; token_type: string };
			expect(tokens.token_type).toBe("Bearer");

			const me = await fetch(`${atrium.url}/v1/me`, { headers: { Authorization: `Bearer ${tokens.access_token}` } });
			expect(me.status).toBe(200);
			expect(await me.json()).toMatchObject({
				email: `${login}@example.com`,
				name: `E2E ${login}`,
				email_confirmed: true,
				has_password: false,
				accounts: [{ provider: "oidc" }],
			});
			const accounts = await fetch(`${atrium.url}/v1/me/accounts`, {
				headers: { Authorization: `Bearer ${tokens.access_token}` },
			});
			expect(await accounts.json()).toMatchObject({
				accounts: [{ provider: "oidc", provider_user_id: login, email: `${login}@example.com` }],
			});

			// The login code was single use.
			const replay = await fetch(`${atrium.url}/v1/auth/oauth/exchange`, {
				method: "POST",
				headers: { "Content-Type": "application/json" },
				body: JSON.stringify({ code }),
			});
			expect(replay.status).toBe(400);
			expect(((await replay.json()) as { code: string }).code).toBe("token_invalid");
		} finally {
			await context.close();
		}
	});

	it("brings the browser back with ?error=oauth_denied when consent is refused", async () => {
		const context = await browser.newContext();
		const page = await context.newPage();
		try {
			await page.goto(`${atrium.url}/v1/auth/oauth/oidc?redirect_uri=${encodeURIComponent(appCallback)}`);
			await page.fill('input[name="login"]', `e2e-deny-${Date.now()}`);
			await page.fill('input[name="password"]', "any password");
			await page.click('button[type="submit"]');
			await page.waitForSelector('a:has-text("Cancel")');
			await page.click('a:has-text("Cancel")');
			await page.waitForURL((url) => url.toString().startsWith(appCallback), { timeout: 30_000 });
			expect(new URL(page.url()).searchParams.get("error")).toBe("oauth_denied");
		} finally {
			await context.close();
		}
	});

	it("links the provider from any client: linking URL from the API, opened in a fresh browser context", async () => {
		const token = await passwordAccountToken();
		const login = `e2e-link-${Date.now()}`;
		// The app's API call: no browser, no cookies.
		const started = await fetch(`${atrium.url}/v1/me/accounts/oidc`, {
			method: "POST",
			headers: { Authorization: `Bearer ${token.access}`, "Content-Type": "application/json" },
			body: JSON.stringify({ redirect_uri: appLinked }),
		});
		expect(started.status).toBe(200);
		expect(started.headers.getSetCookie()).toEqual([]);
		const { authorization_url } = (await started.json()) as { authorization_url: string };
		expect(authorization_url.startsWith(`${atrium.url}/v1/auth/oauth/oidc/link?ticket=`)).toBe(true);

		const context = await browser.newContext();
		const page = await context.newPage();
		try {
			const opened = await page.goto(authorization_url);
			expect(opened?.status()).toBe(200);
			expect(await page.getByRole("heading").textContent()).toBe("Link E2E Provider to your account");
			const [local = "", domain = ""] = token.email.split("@");
			expect(await page.textContent("main")).toContain(`${local[0]}***@${domain}`);
			expect(await page.textContent("main")).not.toContain(token.email);
			// The form's post is answered with a redirect to the provider: the page's CSP must allow it.
			await page.getByRole("button", { name: "Continue with E2E Provider" }).click();
			await page.waitForURL((url) => url.toString().startsWith(`${issuer}/interaction/`), { timeout: 30_000 });
			expect((await context.cookies()).find((cookie) => cookie.name === "atrium_oauth_oidc")).toMatchObject({
				httpOnly: true,
				path: "/v1/auth/oauth/oidc",
			});

			await page.fill('input[name="login"]', login);
			await page.fill('input[name="password"]', "any password");
			await page.click('button[type="submit"]');
			await page.waitForSelector('button:has-text("Continue")');
			await page.click('button:has-text("Continue")');

			await page.waitForURL((url) => url.toString().startsWith(appLinked), { timeout: 30_000 });
			expect(new URL(page.url()).searchParams.get("linked")).toBe("oidc");
			expect(new URL(page.url()).searchParams.get("error")).toBeNull();

			const accounts = await fetch(`${atrium.url}/v1/me/accounts`, {
				headers: { Authorization: `Bearer ${token.access}` },
			});
			expect(await accounts.json()).toMatchObject({
				accounts: [{ provider: "oidc", provider_user_id: login, email: `${login}@example.com` }],
			});

			// The linking URL worked once.
			const again = await page.goto(authorization_url);
			expect(again?.status()).toBe(410);
			expect(await page.getByRole("alert").textContent()).toContain("already been used");
		} finally {
			await context.close();
		}
	});
});

/** A confirmed password account (the confirmation link comes from the console mail), signed in. */
async function passwordAccountToken(): Promise<{ email: string; access: string }> {
	const email = `e2e-owner-${Date.now()}@example.com`;
	const password = "correct horse battery staple";
	const mark = atrium.output().length;
	const registered = await fetch(`${atrium.url}/v1/auth/register`, {
		method: "POST",
		headers: { "Content-Type": "application/json" },
		body: JSON.stringify({ email, password }),
	});
	expect(registered.status).toBe(202);
	const [link] = await waitForOutput(atrium, /\/v1\/auth\/confirm\?token=([A-Za-z0-9_-]+)/, mark);
	const confirmToken = new URL(link, atrium.url).searchParams.get("token");
	const confirmed = await fetch(`${atrium.url}/v1/auth/confirm`, {
		method: "POST",
		headers: { "Content-Type": "application/json" },
		body: JSON.stringify({ token: confirmToken }),
	});
	expect(confirmed.status).toBe(200);
	const signedIn = await fetch(`${atrium.url}/v1/auth/login`, {
		method: "POST",
		headers: { "Content-Type": "application/json" },
		body: JSON.stringify({ email, password }),
	});
	expect(signedIn.status).toBe(200);
	return { email, access: ((await signedIn.json()) as { access_token: string }).access_token };
}
