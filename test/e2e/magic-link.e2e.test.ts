import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, startWranglerDev, waitForOutput } from "../../scripts/lib/wrangler-dev.mjs";
import { launchChromium } from "./helpers/browser";

let server: DevServer;
let browser: Browser;
let app: Server;
let appUrl: string;

/** A tiny stand-in for the app: one page that shows the `code` it was sent back with. */
function startApp(): Promise<Server> {
	const http = createServer((req, res) => {
		const url = new URL(req.url ?? "/", "http://127.0.0.1");
		res.writeHead(url.pathname === "/signed-in" ? 200 : 404, { "Content-Type": "text/html; charset=utf-8" });
		res.end(`<!doctype html><title>App</title><p id="code">${url.searchParams.get("code") ?? ""}</p>`);
	});
	return new Promise((resolve) => http.listen(0, "127.0.0.1", () => resolve(http)));
}

beforeAll(async () => {
	app = await startApp();
	appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}/signed-in`;
	// No RESEND_API_KEY: the console transport prints the mail, as in local development.
	server = await startWranglerDev({ APP_REDIRECT_URLS: appUrl });
	browser = await launchChromium();
});

afterAll(async () => {
	await browser?.close();
	await server?.stop();
	await new Promise((resolve) => app?.close(resolve));
});

describe("magic link in a real browser", () => {
	it("opens the mailed link, presses the button, lands on redirect_to?code= and exchanges the code for tokens", async () => {
		const email = `e2e-magic-${Date.now()}@example.com`;
		const mark = server.output().length;
		const res = await fetch(`${server.url}/v1/auth/magic-link`, {
			method: "POST",
			headers: { "Content-Type": "application/json" },
			body: JSON.stringify({ email, redirect_to: appUrl }),
		});
		expect(res.status).toBe(202);
		const [link] = await waitForOutput(server, /http:\/\/[\w.]+:\d+\/v1\/auth\/magic-link\?token=[A-Za-z0-9_-]+/, mark);
		expect(link.startsWith(server.url)).toBe(true);

		const page = await browser.newPage();
		const opened = await page.goto(link);
		// The page's form may end at the app: without this, Chromium blocks the redirect.
		expect(opened?.headers()["content-security-policy"]).toContain(`form-action 'self' ${new URL(appUrl).origin}`);
		await Promise.all([
			page.waitForURL((url) => url.toString().startsWith(`${appUrl}?`)),
			page.getByRole("button", { name: "Sign me in" }).click(),
		]);
		const code = new URL(page.url()).searchParams.get("code") ?? "";
		expect(await page.locator("#code").textContent()).toBe(code);
		expect(code.length).toBeGreaterThan(20);

		const exchanged = await fetch(`${server.url}/v1/auth/oauth/exchange`, {
			method: "POST",
			headers: { "Content-Type": "application/json" },
			body: JSON.stringify({ code }),
		});
		expect(exchanged.status).toBe(200);
		const tokens = (await exchanged.json()) as {
			access_token: string;
			user: { email: string; email_confirmed: boolean };
		};
		expect(tokens.user).toMatchObject({ email, email_confirmed: true });

		// The link worked once: opening it again says so.
		await page.goto(link);
		expect(await page.getByRole("alert").textContent()).toContain("invalid, already used");
	});
});
