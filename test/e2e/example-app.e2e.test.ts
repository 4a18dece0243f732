/**
 * The example app (examples/web, built with Vite on @atrium/client) driven in real Chromium against
 * Atrium under `wrangler dev`, mail printed to its console, and a real OpenID Connect provider: what
 * a user of an app built on Atrium does, end to end.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeBase32IgnorePadding } from "@oslojs/encoding";
import { generateTOTP } from "@oslojs/otp";
import type { Browser, Page } from "playwright-core";
import { build, type PreviewServer, preview } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, freePort, root, startWranglerDev, waitForOutput } from "../../scripts/lib/wrangler-dev.mjs";
import { launchChromium } from "./helpers/browser";
import { OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, startOidcProvider } from "./helpers/oidc";
import { gradientPng } from "./helpers/pictures";

const PASSWORD = "correct horse battery staple";
const NEW_PASSWORD = "a different horse, still stapled";
const exampleRoot = join(root, "examples/web");
// `UPDATE_SCREENSHOTS=1 npm run test:e2e` refreshes the committed ones shown in the README.
const shots = process.env.UPDATE_SCREENSHOTS ? join(root, "docs/screenshots") : join(root, ".e2e/screenshots");

let atrium: DevServer;
let app: PreviewServer;
let appOrigin: string;
let providerServer: Server;
let browser: Browser;
let outDir: string;

beforeAll(async () => {
	const [providerPort, appPort] = [await freePort(), await freePort()];
	const issuer = `http://localhost:${providerPort}`;
	appOrigin = `http://localhost:${appPort}`;
	atrium = await startWranglerDev({
		CORS_ORIGINS: appOrigin,
		APP_REDIRECT_URLS: `${appOrigin}/,${appOrigin}/callback`,
		WEBAUTHN_RP_ID: "localhost",
		WEBAUTHN_ORIGINS: appOrigin,
		OAUTH_REDIRECT_URIS: `${appOrigin}/callback,${appOrigin}/settings`,
		OIDC_ISSUER: issuer,
		OIDC_CLIENT_ID,
		OIDC_CLIENT_SECRET,
		OIDC_NAME: "E2E Provider",
	});
	providerServer = await startOidcProvider(issuer, `${atrium.url}/v1/auth/oauth/oidc/callback`);
	// The app is built for this Atrium (vite.config.ts reads ATRIUM_URL) and served as static files.
	outDir = mkdtempSync(join(tmpdir(), "atrium-example-"));
	process.env.ATRIUM_URL = atrium.url;
	const configFile = join(exampleRoot, "vite.config.ts");
	await build({ root: exampleRoot, configFile, logLevel: "warn", build: { outDir, emptyOutDir: true } });
	app = await preview({
		root: exampleRoot,
		configFile,
		logLevel: "warn",
		build: { outDir },
		preview: { port: appPort, host: "127.0.0.1", strictPort: true },
	});
	mkdirSync(shots, { recursive: true });
	browser = await launchChromium();
});

afterAll(async () => {
	await browser?.close();
	await new Promise((resolve) => app?.httpServer.close(resolve));
	providerServer?.close();
	await atrium?.stop();
	if (outDir) rmSync(outDir, { recursive: true, force: true });
});

/** The code an authenticator app shows for `secret`, `offsetSteps` 30-second steps from now. */
function totp(secret: string, offsetSteps = 0): string {
	const key = decodeBase32IgnorePadding(secret);
	const realNow = Date.now;
	Date.now = () => realNow() + offsetSteps * 30_000;
	try {
		return generateTOTP(key, 30, 6);
	} finally {
		Date.now = realNow;
	}
}

/** Screenshots of the page at a phone's and a laptop's width. */
async function shoot(page: Page, name: string): Promise<void> {
	for (const width of [390, 1280]) {
		await page.setViewportSize({ width, height: 860 });
		await page.screenshot({ path: join(shots, `${name}-${width}.png`), fullPage: true });
	}
	await page.setViewportSize({ width: 1280, height: 860 });
}

async function bannerText(page: Page): Promise<string> {
	return (await page.locator("#banner").textContent()) ?? "";
}

/** True once every `<img>` matching `selector` has loaded real pixels. */
async function imagesRendered(page: Page, selector: string): Promise<boolean> {
	type Loaded = { complete: boolean; naturalWidth: number };
	return page
		.locator(selector)
		.evaluateAll(
			(images) =>
				images.length > 0 &&
				images.every((image) => (image as unknown as Loaded).complete && (image as unknown as Loaded).naturalWidth > 0),
		);
}

async function signIn(page: Page, email: string, password: string): Promise<void> {
	const form = page.locator("#sign-in");
	await form.getByLabel("Email").fill(email);
	await form.getByLabel("Password").fill(password);
	await form.getByRole("button", { name: "Sign in" }).click();
}

describe("the example app in Chromium", () => {
	it("register, confirm from the mail, sign in, gallery, account, two-step sign-in, sign out", async () => {
		const email = `journey-${Date.now()}@example.com`;
		const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
		const page = await context.newPage();
		const pageErrors: string[] = [];
		page.on("pageerror", (error) => pageErrors.push(error.message));
		try {
			await page.goto(appOrigin);
			await page.waitForSelector("#sign-in");
			await shoot(page, "sign-in");

			// Create an account; the mail (printed by wrangler) links back into the app.
			const register = page.locator("#register");
			await register.getByLabel("Name").fill("Ada Lovelace");
			await register.getByLabel("Email").fill(email);
			await register.getByLabel("Password").fill(PASSWORD);
			const mark = atrium.output().length;
			await register.getByRole("button", { name: "Create account" }).click();
			await expect.poll(() => bannerText(page)).toContain("confirmation link");
			const [link] = await waitForOutput(atrium, /http:\/\/[\w.]+:\d+\/v1\/auth\/confirm\?token=[A-Za-z0-9_-]+/, mark);
			await page.goto(link);
			await page.getByRole("button", { name: "Confirm my email address" }).click();
			await page.locator(`a[href^="${appOrigin}/"]`).click();
			await page.waitForURL((url) => url.origin === appOrigin && url.searchParams.get("status") === "confirmed");
			await expect.poll(() => bannerText(page)).toContain("confirmed");

			// Sign in with the password; the gallery starts empty.
			await signIn(page, email, PASSWORD);
			await expect.poll(() => page.locator("#gallery").textContent()).toContain("No images yet");

			// Upload three pictures; each renders from its signed content_url.
			await page.getByLabel("Upload images").setInputFiles([
				{ name: "dawn.png", mimeType: "image/png", buffer: gradientPng(960, 720, [255, 183, 94], [237, 100, 166]) },
				{ name: "sea.png", mimeType: "image/png", buffer: gradientPng(960, 720, [0, 119, 182], [144, 224, 239]) },
				{ name: "forest.png", mimeType: "image/png", buffer: gradientPng(960, 720, [45, 106, 79], [183, 228, 199]) },
			]);
			await expect.poll(() => page.locator("#gallery figure").count()).toBe(3);
			await expect.poll(() => imagesRendered(page, "#gallery img")).toBe(true);
			// Thumbnails are 480-pixel variants made at the edge, behind signed links.
			const thumbnail = page.locator("#gallery img").first();
			expect(await thumbnail.getAttribute("src")).toContain("w=480");
			expect(await thumbnail.evaluate((image) => (image as unknown as { naturalWidth: number }).naturalWidth)).toBe(
				480,
			);
			await shoot(page, "gallery");

			// Rename, replace and delete.
			const first = page.locator("#gallery figure").first();
			await first.getByLabel("File name").fill("sunrise.png");
			await first.getByRole("button", { name: "Rename" }).click();
			await expect
				.poll(() => page.locator("#gallery figure").first().getByLabel("File name").inputValue())
				.toBe("sunrise.png");
			const gif = readFileSync(join(root, "test/fixtures/tiny.gif"));
			await page
				.locator("#gallery figure")
				.nth(1)
				.getByLabel("Replace")
				.setInputFiles({ name: "tiny.gif", mimeType: "image/gif", buffer: gif });
			await expect
				.poll(() => page.locator("#gallery figure").nth(1).locator("small").textContent())
				.toContain("image/gif");
			await expect.poll(() => imagesRendered(page, "#gallery img")).toBe(true);
			await page.locator("#gallery figure").nth(2).getByRole("button", { name: "Delete" }).click();
			await expect.poll(() => page.locator("#gallery figure").count()).toBe(2);

			// Account: avatar, password, two-step verification.
			await page.getByRole("link", { name: "Account" }).click();
			await page.getByLabel("Avatar").setInputFiles({
				name: "me.png",
				mimeType: "image/png",
				buffer: gradientPng(96, 96, [90, 90, 200], [250, 200, 120]),
			});
			await expect.poll(async () => (await page.locator("img.avatar").count()) || (await bannerText(page))).toBe(1);
			await expect.poll(() => imagesRendered(page, "img.avatar")).toBe(true);

			const password = page.locator("#change-password");
			await password.getByLabel("Current password").fill(PASSWORD);
			await password.getByLabel("New password").fill(NEW_PASSWORD);
			await password.getByRole("button", { name: "Save password" }).click();
			await expect.poll(() => bannerText(page)).toContain("Password changed");

			// Another device signs in; this one lists it and signs it out.
			const other = await fetch(`${atrium.url}/v1/auth/login`, {
				method: "POST",
				headers: { "Content-Type": "application/json", "User-Agent": "OtherDevice/1.0" },
				body: JSON.stringify({ email, password: NEW_PASSWORD }),
			});
			const otherTokens = (await other.json()) as { refresh_token: string };
			await page.reload();
			await expect.poll(() => page.locator("#sessions li").count()).toBe(2);
			await page
				.locator("#sessions li", { hasText: "OtherDevice/1.0" })
				.getByRole("button", { name: "Revoke" })
				.click();
			await expect.poll(() => page.locator("#sessions li").count()).toBe(1);
			await expect.poll(() => page.locator("#sessions").textContent()).toContain("(this device)");
			const revoked = await fetch(`${atrium.url}/v1/auth/refresh`, {
				method: "POST",
				headers: { "Content-Type": "application/json" },
				body: JSON.stringify({ refresh_token: otherTokens.refresh_token }),
			});
			expect(revoked.status).toBe(401);

			await page.getByRole("button", { name: "Set up an authenticator app" }).click();
			const secret = (await page.locator("#totp-secret").textContent()) ?? "";
			expect(secret).toMatch(/^[A-Z2-7]+$/);
			await page.getByLabel("Code").fill(totp(secret));
			await page.getByRole("button", { name: "Verify and turn on" }).click();
			await expect.poll(() => page.locator("#recovery-codes li").count()).toBe(10);
			await page.getByRole("button", { name: "Done" }).click();
			await page.getByRole("heading", { name: "Two-step verification: on" }).waitFor();

			// A passkey, made by Chromium's virtual authenticator through the real navigator.credentials.
			const cdp = await context.newCDPSession(page);
			await cdp.send("WebAuthn.enable");
			await cdp.send("WebAuthn.addVirtualAuthenticator", {
				options: {
					protocol: "ctap2",
					transport: "internal",
					hasResidentKey: true,
					hasUserVerification: true,
					isUserVerified: true,
				},
			});
			await page.getByRole("button", { name: "Add a passkey" }).click();
			await expect.poll(() => page.locator("#passkeys li").count()).toBe(1);

			// Link the OpenID Connect provider: Atrium's consent page, the provider, back to the app.
			await page
				.locator("#linked-accounts li", { hasText: "E2E Provider" })
				.getByRole("button", { name: "Link" })
				.click();
			await page.getByRole("button", { name: "Continue with E2E Provider" }).click();
			await page.fill('input[name="login"]', `linked-${Date.now()}`);
			await page.fill('input[name="password"]', "any password");
			await page.click('button[type="submit"]');
			await page.waitForSelector('button:has-text("Continue")');
			await page.click('button:has-text("Continue")');
			await page.waitForURL((url) => url.origin === appOrigin && url.searchParams.get("linked") === "oidc");
			await expect.poll(() => bannerText(page)).toContain("Linked your oidc account");
			await expect.poll(() => page.locator("#linked-accounts").getByRole("button", { name: "Unlink" }).count()).toBe(1);

			// Change the email address: the link goes to the new address; its page's button confirms.
			const newEmail = `moved-${Date.now()}@example.com`;
			const changeMark = atrium.output().length;
			await page.locator("#change-email").getByLabel("New email").fill(newEmail);
			await page.locator("#change-email").getByRole("button", { name: "Change email" }).click();
			await expect.poll(() => bannerText(page)).toContain(newEmail);
			const [changeLink] = await waitForOutput(
				atrium,
				/http:\/\/[\w.]+:\d+\/v1\/auth\/email\/confirm\?token=[A-Za-z0-9_-]+/,
				changeMark,
			);
			const confirmPage = await context.newPage();
			await confirmPage.goto(changeLink);
			await confirmPage.getByRole("button", { name: "Confirm my new email address" }).click();
			await expect.poll(() => confirmPage.getByRole("status").textContent()).toContain("has been changed");
			await confirmPage.close();
			await page.reload();
			await expect.poll(() => page.locator(".profile").textContent()).toContain(newEmail);

			// Sign out, and back in with the passkey: no password, no second step.
			await page.getByRole("button", { name: "Sign out", exact: true }).first().click();
			await page.waitForSelector("#sign-in");
			await page.getByRole("button", { name: "Sign in with a passkey" }).click();
			await expect.poll(() => page.locator("#gallery figure").count()).toBe(2);

			// Sign out, and back in: the password, then the authenticator's next code.
			await page.getByRole("button", { name: "Sign out", exact: true }).first().click();
			await page.waitForSelector("#sign-in");
			await signIn(page, newEmail, NEW_PASSWORD);
			await page.getByRole("heading", { name: "Two-step verification" }).waitFor();
			await page.getByLabel("Code").fill(totp(secret, 1));
			await page.getByRole("button", { name: "Verify" }).click();
			await expect.poll(() => page.locator("#gallery figure").count()).toBe(2);
			await expect.poll(() => imagesRendered(page, "#gallery img")).toBe(true);

			await page.getByRole("button", { name: "Sign out" }).click();
			await page.waitForSelector("#sign-in");
			expect(await page.evaluate('localStorage.getItem("atrium-example.tokens")')).toBeNull();
			expect(pageErrors).toEqual([]);
		} finally {
			await context.close();
		}
	});

	it("signs in with the OpenID Connect provider and cannot unlink the only login method", async () => {
		const login = `app-${Date.now()}`;
		const context = await browser.newContext();
		const page = await context.newPage();
		try {
			await page.goto(appOrigin);
			await page.getByRole("link", { name: "Continue with E2E Provider" }).click();
			await page.fill('input[name="login"]', login);
			await page.fill('input[name="password"]', "any password");
			await page.click('button[type="submit"]');
			await page.waitForSelector('button:has-text("Continue")');
			await page.click('button:has-text("Continue")');
			await page.waitForURL((url) => url.origin === appOrigin && url.pathname === "/");
			await expect.poll(() => page.locator("#gallery").textContent()).toContain("No images yet");

			await page.getByRole("link", { name: "Account" }).click();
			await expect.poll(() => page.locator(".profile").textContent()).toContain(`${login}@example.com`);
			await page.locator("#linked-accounts").getByRole("button", { name: "Unlink" }).click();
			await expect.poll(() => page.locator("#banner").getAttribute("class")).toBe("error");
			expect(await page.locator("#linked-accounts").getByRole("button", { name: "Unlink" }).count()).toBe(1);
		} finally {
			await context.close();
		}
	});

	it("signs up with a magic link: the mailed button lands on the app's callback, which exchanges the code", async () => {
		const email = `magic-${Date.now()}@example.com`;
		const context = await browser.newContext();
		const page = await context.newPage();
		try {
			await page.goto(appOrigin);
			const mark = atrium.output().length;
			await page.locator("#magic-link").getByLabel("Email").fill(email);
			await page.locator("#magic-link").getByRole("button", { name: "Email me a link" }).click();
			await expect.poll(() => bannerText(page)).toContain(email);
			const [link] = await waitForOutput(
				atrium,
				/http:\/\/[\w.]+:\d+\/v1\/auth\/magic-link\?token=[A-Za-z0-9_-]+/,
				mark,
			);
			await page.goto(link);
			await page.getByRole("button", { name: "Sign me in" }).click();
			await page.waitForURL((url) => url.origin === appOrigin && url.pathname === "/");
			await expect.poll(() => page.locator("#gallery").textContent()).toContain("No images yet");
			await page.getByRole("link", { name: "Account" }).click();
			await expect.poll(() => page.locator(".profile").textContent()).toContain(email);
		} finally {
			await context.close();
		}
	});
});
