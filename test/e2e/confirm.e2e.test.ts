import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium } from "./helpers/browser";
import { type DevServer, startWranglerDev, waitForOutput } from "../../scripts/lib/wrangler-dev.mjs";

let server: DevServer;
let browser: Browser;

beforeAll(async () => {
	// No RESEND_API_KEY: the console transport prints the mail, as in local development.
	server = await startWranglerDev();
	browser = await launchChromium();
});

afterAll(async () => {
	await browser?.close();
	await server?.stop();
});

describe("email confirmation in a real browser", () => {
	it("opens the printed link, clicks the button, sees success; a second visit says already confirmed", async () => {
		const email = `e2e-${Date.now()}@example.com`;
		const mark = server.output().length;
		const res = await fetch(`${server.url}/v1/auth/register`, {
			method: "POST",
			headers: { "Content-Type": "application/json" },
			body: JSON.stringify({ email, password: "correct horse battery staple" }),
		});
		expect(res.status).toBe(202);
		const [link] = await waitForOutput(server, /http:\/\/[\w.]+:\d+\/v1\/auth\/confirm\?token=[A-Za-z0-9_-]+/, mark);
		expect(link.startsWith(server.url)).toBe(true);

		const page = await browser.newPage();
		await page.goto(link);
		expect(await page.getAttribute("html", "lang")).toBe("en");
		await page.getByRole("button", { name: "Confirm my email address" }).click();
		await expect.poll(() => page.getByRole("status").textContent()).toContain("Your email address is confirmed");

		await page.goto(link);
		expect(await page.getByRole("status").textContent()).toContain("already confirmed");

		const login = await fetch(`${server.url}/v1/auth/login`, {
			method: "POST",
			headers: { "Content-Type": "application/json" },
			body: JSON.stringify({ email, password: "correct horse battery staple" }),
		});
		expect(login.status).toBe(200);
	});
});
