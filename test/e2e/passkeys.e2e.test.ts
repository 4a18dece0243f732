import type { Browser, CDPSession, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium } from "./helpers/browser";
import { type DevServer, freePort, startWranglerDev, waitForOutput } from "../../scripts/lib/wrangler-dev.mjs";

// Browsers refuse an IP address as a WebAuthn RP ID, so the app runs as http://localhost:<port>
// (a secure context): RP ID "localhost", origin APP_URL's (the defaults of WEBAUTHN_RP_ID and
// WEBAUTHN_ORIGINS). Chromium maps localhost to the IPv4 loopback wrangler listens on.
let server: DevServer;
let browser: Browser;
let origin: string;

/**
 * The small test page, served at the app's own origin: it calls the API and the browser's real
 * navigator.credentials, with the options and results in their JSON forms (WebAuthn Level 3).
 */
const TEST_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Passkeys</title></head><body>
<script>
async function api(path, { token, body } = {}) {
	const headers = { "Content-Type": "application/json" };
	if (token) headers.Authorization = "Bearer " + token;
	const res = await fetch(path, { method: "POST", headers, body: body === undefined ? undefined : JSON.stringify(body) });
	return { status: res.status, body: await res.json() };
}
window.registerPasskey = async (token) => {
	const started = await api("/v1/me/passkeys/options", { token });
	const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(started.body.options);
	const credential = await navigator.credentials.create({ publicKey });
	return api("/v1/me/passkeys", { token, body: { challenge_id: started.body.challenge_id, credential: credential.toJSON(), name: "Chromium" } });
};
window.signInWithPasskey = async () => {
	const started = await api("/v1/auth/passkey/options");
	const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(started.body.options);
	const credential = await navigator.credentials.get({ publicKey });
	return api("/v1/auth/passkey", { body: { challenge_id: started.body.challenge_id, credential: credential.toJSON() } });
};
</script></body></html>`;

beforeAll(async () => {
	const port = await freePort();
	origin = `http://localhost:${port}`;
	server = await startWranglerDev({ APP_URL: origin }, { port });
	browser = await launchChromium(["--host-resolver-rules=MAP localhost 127.0.0.1"]);
});

afterAll(async () => {
	await browser?.close();
	await server?.stop();
});

/** A confirmed account (the console transport prints the mailed link) and a fresh access token. */
async function signedInUser(): Promise<{ email: string; userId: string; token: string }> {
	const email = `e2e-passkey-${Date.now()}@example.com`;
	const password = "correct horse battery staple";
	const mark = server.output().length;
	const post = (path: string, body: unknown) =>
		fetch(`${server.url}${path}`, {
			method: "POST",
			headers: { "Content-Type": "application/json" },
			body: JSON.stringify(body),
		});
	expect((await post("/v1/auth/register", { email, password })).status).toBe(202);
	const [, token] = await waitForOutput(server, /\/v1\/auth\/confirm\?token=([A-Za-z0-9_-]+)/, mark);
	expect((await post("/v1/auth/confirm", { token })).status).toBe(200);
	const login = await post("/v1/auth/login", { email, password });
	expect(login.status).toBe(200);
	const body = (await login.json()) as { access_token: string; user: { id: string } };
	return { email, userId: body.user.id, token: body.access_token };
}

/** The test page at the app's origin, with a CTAP2 platform authenticator that verifies the user. */
async function pageWithAuthenticator(): Promise<{ page: Page; authenticatorId: string; cdp: CDPSession }> {
	const page = await browser.newPage();
	await page.route(`${origin}/__e2e/passkeys`, (route) =>
		route.fulfill({ status: 200, contentType: "text/html", body: TEST_PAGE }),
	);
	const cdp = await page.context().newCDPSession(page);
	await cdp.send("WebAuthn.enable");
	const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
		options: {
			protocol: "ctap2",
			transport: "internal",
			hasResidentKey: true,
			hasUserVerification: true,
			isUserVerified: true,
			automaticPresenceSimulation: true,
		},
	});
	await page.goto(`${origin}/__e2e/passkeys`);
	return { page, authenticatorId, cdp };
}

type Answer = {
	status: number;
	body: { id?: string; name?: string; code?: string; access_token?: string; user?: { id: string; email: string } };
};

/** Runs one of the test page's functions in the page (real navigator.credentials calls). */
function inPage(page: Page, name: "registerPasskey" | "signInWithPasskey", token?: string): Promise<Answer> {
	return page.evaluate(
		([fn, bearer]) => (globalThis as unknown as Record<string, (token?: string) => Promise<Answer>>)[fn]?.(bearer),
		[name, token] as const,
	) as Promise<Answer>;
}

describe("passkeys in a real browser (DevTools virtual authenticator)", () => {
	it("registers a passkey with navigator.credentials.create() and signs in with navigator.credentials.get()", async () => {
		const user = await signedInUser();
		const { page, authenticatorId, cdp } = await pageWithAuthenticator();

		const registered = await inPage(page, "registerPasskey", user.token);
		expect(registered.status, JSON.stringify(registered.body)).toBe(201);
		expect(registered.body.name).toBe("Chromium");

		// The authenticator holds one discoverable credential for RP ID "localhost".
		const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
		expect(credentials).toHaveLength(1);
		expect(credentials[0]).toMatchObject({ isResidentCredential: true, rpId: "localhost" });

		// No email typed: the authenticator offers the passkey it holds for this site.
		const signedIn = await inPage(page, "signInWithPasskey");
		expect(signedIn.status, JSON.stringify(signedIn.body)).toBe(200);
		expect(signedIn.body.user).toMatchObject({ id: user.userId, email: user.email });

		const me = await fetch(`${server.url}/v1/me`, {
			headers: { Authorization: `Bearer ${signedIn.body.access_token}` },
		});
		expect(((await me.json()) as { mfa: { passkeys: number } }).mfa.passkeys).toBe(1);
		await page.close();
	});

	it("signs in again with the same passkey; once removed, it is refused", async () => {
		const user = await signedInUser();
		const { page } = await pageWithAuthenticator();
		const registered = await inPage(page, "registerPasskey", user.token);
		expect(registered.status).toBe(201);
		expect((await inPage(page, "signInWithPasskey")).status).toBe(200);
		expect((await inPage(page, "signInWithPasskey")).status).toBe(200);
		const removed = await fetch(`${server.url}/v1/me/passkeys/${registered.body.id}`, {
			method: "DELETE",
			headers: { Authorization: `Bearer ${user.token}` },
		});
		expect(removed.status).toBe(204);
		expect(await inPage(page, "signInWithPasskey")).toMatchObject({ status: 401, body: { code: "passkey_invalid" } });
		await page.close();
	});
});
