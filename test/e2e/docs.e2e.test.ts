import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, startWranglerDev } from "../../scripts/lib/wrangler-dev.mjs";
import { launchChromium } from "./helpers/browser";

let server: DevServer;
let browser: Browser;

beforeAll(async () => {
	server = await startWranglerDev();
	browser = await launchChromium();
});

afterAll(async () => {
	await browser?.close();
	await server?.stop();
});

describe("the API reference in a real browser", () => {
	it("renders /docs with the network limited to the app's own origin, and nothing else is requested", async () => {
		const context = await browser.newContext();
		const origin = new URL(server.url).origin;
		const requested: string[] = [];
		const refused: string[] = [];
		// Anything outside the app is aborted (as offline) and recorded; the page must not need it.
		await context.route("**/*", (route) => {
			const url = route.request().url();
			requested.push(url);
			if (new URL(url).origin === origin) return route.continue();
			refused.push(url);
			return route.abort();
		});
		const page = await context.newPage();
		const problems: string[] = [];
		page.on("console", (message) => {
			if (message.type() === "error" || message.type() === "warning") problems.push(message.text());
		});
		page.on("pageerror", (error) => problems.push(error.message));

		const res = await page.goto(`${server.url}/docs`);
		expect(res?.status()).toBe(200);
		await expect.poll(() => page.title()).toBe("Atrium API reference");
		expect(await page.getByRole("heading", { level: 2, name: "images" }).isVisible()).toBe(true);

		// The operations are there and open: login shows its request body and token response.
		const login = page.locator("details#login");
		await login.locator("summary").click();
		expect(await login.textContent()).toContain("/v1/auth/login");
		expect(await login.textContent()).toContain("#/components/schemas/Tokens");
		expect(await page.locator("details[id]").count()).toBeGreaterThan(36);

		// The stylesheet applied (the CSP allows it by hash): summaries are styled, nothing blocked.
		const weight = await page.locator("details#login .m").evaluate((el) => {
			// Runs in the page; this project's TypeScript config has no DOM library.
			const view = globalThis as unknown as { getComputedStyle(element: unknown): { fontWeight: string } };
			return view.getComputedStyle(el).fontWeight;
		});
		expect(weight).toBe("700");
		expect(refused).toEqual([]);
		expect(requested.every((url) => new URL(url).origin === origin)).toBe(true);
		expect(problems).toEqual([]);
		await context.close();
	});

	it("GET / points at the docs", async () => {
		const res = await fetch(`${server.url}/`);
		expect(await res.json()).toMatchObject({ docs: `${server.url}/docs` });
	});
});
