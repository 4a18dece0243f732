/**
 * A gallery on another origin, as an SPA would build it: plain `<img src=content_url>` tags, no
 * Authorization, no fetch + object URLs. Atrium under `wrangler dev`, the page served from a
 * second localhost port, real Chromium rendering it.
 */
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { type DevServer, freePort, startWranglerDev, waitForOutput } from "../../scripts/lib/wrangler-dev.mjs";
import { launchChromium } from "./helpers/browser";

const PASSWORD = "correct horse battery staple";

/** What the test reads of an <img> element in the page. */
type Rendered = { complete: boolean; naturalWidth: number };

let atrium: DevServer;
let browser: Browser;
let gallery: Server;
let galleryUrl: string;
let images: { url: string; width: number }[] = [];

async function json(path: string, init: RequestInit & { token?: string } = {}) {
	const headers = new Headers(init.headers);
	if (init.token) headers.set("Authorization", `Bearer ${init.token}`);
	const res = await fetch(`${atrium.url}${path}`, { ...init, headers });
	return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A confirmed, signed-in account: its access token. */
async function signedIn(): Promise<string> {
	const email = `gallery-${Date.now()}@example.com`;
	const mark = atrium.output().length;
	const registered = await json("/v1/auth/register", {
		method: "POST",
		headers: { "Content-Type": "application/json" },
		body: JSON.stringify({ email, password: PASSWORD }),
	});
	expect(registered.status).toBe(202);
	const [link] = await waitForOutput(atrium, /\/v1\/auth\/confirm\?token=[A-Za-z0-9_-]+/, mark);
	const token = new URL(link, atrium.url).searchParams.get("token");
	const confirmed = await json("/v1/auth/confirm", {
		method: "POST",
		headers: { "Content-Type": "application/json" },
		body: JSON.stringify({ token }),
	});
	expect(confirmed.status).toBe(200);
	const login = await json("/v1/auth/login", {
		method: "POST",
		headers: { "Content-Type": "application/json" },
		body: JSON.stringify({ email, password: PASSWORD }),
	});
	expect(login.status).toBe(200);
	return login.body.access_token as string;
}

beforeAll(async () => {
	atrium = await startWranglerDev();
	browser = await launchChromium();
	const port = await freePort();
	// "localhost" while Atrium is 127.0.0.1: another site, so Cross-Origin-Resource-Policy matters.
	galleryUrl = `http://localhost:${port}/`;
	// The page is built when it is requested, from whatever the test uploaded by then.
	gallery = createServer((_request, response) => {
		const tags = images.map((image, i) => `<img id="img-${i}" alt="" src="${image.url.replace(/"/g, "&quot;")}">`);
		response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
		response.end(`<!doctype html><title>Gallery</title><main>${tags.join("")}</main>`);
	});
	gallery.listen(port, "127.0.0.1");
	await once(gallery, "listening");
}, 120_000);

afterAll(async () => {
	await browser?.close();
	gallery?.close();
	await atrium?.stop();
});

describe("a gallery of content_url images in a real browser", () => {
	it("renders every <img src=content_url> from another origin without credentials", async () => {
		const token = await signedIn();
		for (const [name, type] of [
			["tiny.png", "image/png"],
			["tiny.gif", "image/gif"],
			["tiny.jpg", "image/jpeg"],
		] as const) {
			const res = await fetch(`${atrium.url}/v1/images?filename=${name}`, {
				method: "POST",
				headers: { Authorization: `Bearer ${token}`, "Content-Type": type },
				body: readFileSync(new URL(`../fixtures/${name}`, import.meta.url)),
			});
			expect(res.status).toBe(201);
		}
		const listed = await json("/v1/images", { token });
		images = (listed.body.images as { content_url: string; width: number }[]).map((image) => ({
			url: image.content_url,
			width: image.width,
		}));
		expect(images.map((image) => image.width).sort()).toEqual([3, 5, 7]);

		const context = await browser.newContext();
		const page = await context.newPage();
		await page.goto(galleryUrl);
		for (const [i, image] of images.entries()) {
			const rendered = page.locator(`#img-${i}`);
			await expect.poll(() => rendered.evaluate((img: Rendered) => img.complete && img.naturalWidth)).toBe(image.width);
		}
		// A tampered URL does not render: the browser gets 403, not bytes.
		images = [{ url: `${images[0]?.url}&x=1`, width: 0 }];
		await page.goto(galleryUrl);
		await expect
			.poll(() => page.locator("#img-0").evaluate((img: Rendered) => img.complete && img.naturalWidth))
			.toBe(0);
		await context.close();
	});
});
