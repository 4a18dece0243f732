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
import { type DevServer, freePort, startWranglerDev } from "../../scripts/lib/wrangler-dev.mjs";

let atrium: DevServer;
let browser: Browser;
let providerServer: Server;
let appServer: Server;
let issuer: string;
let appCallback: string;

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
	appServer = await startApp(appPort);
	atrium = await startWranglerDev({
		OIDC_ISSUER: issuer,
		OIDC_CLIENT_ID,
		OIDC_CLIENT_SECRET,
		OIDC_NAME: "E2E Provider",
		OAUTH_REDIRECT_URIS: appCallback,
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
});
