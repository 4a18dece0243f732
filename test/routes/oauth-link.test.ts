import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { expectProblem, send, signedInUser } from "../helpers/api";
import {
	APP_CALLBACK,
	APP_SETTINGS,
	CookieJar,
	FakeIdentityProviders,
	callback,
	fakeUser,
	linkWith,
	linkingUrl,
	loginWith,
	pressLinkButton,
	redirectParams,
	startLink,
	ticketOf,
} from "../helpers/oauth-fakes";
import { appWith } from "../helpers/worker";

let idp: FakeIdentityProviders;

beforeEach(() => {
	idp = new FakeIdentityProviders();
	idp.install();
});

afterEach(() => {
	vi.useRealTimers();
});

/** Opens a linking URL in `browser` as a person would (an HTML page). */
function openPage(browser: CookieJar, linkUrl: string, lang?: string): Promise<Response> {
	const url = new URL(linkUrl);
	if (lang) url.searchParams.set("lang", lang);
	return browser.get(url.pathname + url.search, { headers: { Accept: "text/html" } });
}

async function expectPage(res: Response, status: number): Promise<string> {
	expect(res.status).toBe(status);
	expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
	const text = await res.text();
	expect(text).toMatch(/^<!doctype html>/i);
	return text;
}

async function linkedProviders(token: string): Promise<string[]> {
	const res = await send("GET", "/v1/me/accounts", { token });
	expect(res.status).toBe(200);
	return ((await res.json()) as { accounts: { provider: string }[] }).accounts.map((a) => a.provider);
}

async function ticketRow(ticket: string) {
	const hash = [...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(ticket)))]
		.map((byte) => byte.toString(16).padStart(2, "0"))
		.join("");
	return env.DB.prepare("select * from oauth_link_tickets where ticket_hash = ?").bind(hash).first();
}

describe("linking from any client: happy paths", () => {
	it("API call and browser in different cookie jars: ticket -> page -> button -> provider -> linked", async () => {
		const user = await signedInUser();
		const identity = fakeUser();
		const linkUrl = await linkingUrl(user.token, "github", { redirect_uri: APP_SETTINGS });
		expect(linkUrl).toMatch(/^https:\/\/atrium\.test\/v1\/auth\/oauth\/github\/link\?ticket=[\w-]+$/);

		const browser = new CookieJar();
		const page = await expectPage(await openPage(browser, linkUrl), 200);
		expect(page).toContain("GitHub");
		expect(page).toContain('<form method="post" action="/v1/auth/oauth/github/link?lang=en">');
		expect(browser.header("/v1/auth/oauth/github")).toBe(""); // the page spends nothing and sets nothing

		const pressed = await pressLinkButton(browser, "github", ticketOf(linkUrl));
		expect(pressed.status).toBe(302);
		const authorizationUrl = pressed.headers.get("Location") ?? "";
		expect(new URL(authorizationUrl).origin).toBe("https://github.com");
		expect(new URL(authorizationUrl).searchParams.get("state")).toBeTruthy();
		expect(browser.header("/v1/auth/oauth/github/callback")).toMatch(/^atrium_oauth_github=/);

		const res = await callback(browser, "github", idp.approve(authorizationUrl, identity));
		const params = redirectParams(res);
		expect(params.get("linked")).toBe("github");
		expect(params.get("tab")).toBe("accounts");
		expect(await linkedProviders(user.token)).toEqual(["github"]);
		// The identity now signs in to that account.
		const viaGithub = await loginWith(idp, "github", identity);
		expect(((await viaGithub.json()) as { user: { id: string } }).user.id).toBe(user.userId);
	});

	it("is audited as oauth_linked in the user's activity", async () => {
		const user = await signedInUser();
		expect(
			redirectParams(await linkWith(idp, user.token, "google", fakeUser(), { redirect_uri: APP_CALLBACK })).get(
				"linked",
			),
		).toBe("google");
		await vi.waitFor(
			async () => {
				const res = await send("GET", "/v1/me/activity?limit=100", { token: user.token });
				const { events } = (await res.json()) as { events: { type: string; detail: Record<string, unknown> }[] };
				expect(events.find((event) => event.type === "oauth_linked")?.detail).toEqual({ provider: "google" });
			},
			{ timeout: 5000, interval: 20 },
		);
	});

	it("without redirect_uri, the flow ends on an HTML page in the page's language", async () => {
		const user = await signedInUser();
		const res = await linkWith(idp, user.token, "oidc", fakeUser());
		const page = await expectPage(res, 200);
		expect(page).toContain("Test SSO is now linked to your account.");
		expect(res.headers.get("Content-Security-Policy")).toContain("default-src 'none'");
	});

	it("speaks the account's saved locale, and ?lang= wins", async () => {
		const user = await signedInUser({ locale: "de" });
		const linkUrl = await linkingUrl(user.token, "github");
		const german = await openPage(new CookieJar(), linkUrl);
		expect(german.headers.get("Content-Language")).toBe("de");
		const text = await expectPage(german, 200);
		expect(text).toContain('<html lang="de"');
		expect(text).toContain("GitHub mit Ihrem Konto verknüpfen");
		const french = await openPage(new CookieJar(), linkUrl, "fr");
		expect(await expectPage(french, 200)).toContain("Associer GitHub à votre compte");
		// Arabic pages are right-to-left.
		expect(await expectPage(await openPage(new CookieJar(), linkUrl, "ar"), 200)).toContain('dir="rtl"');
	});
});

describe("linking from any client: errors", () => {
	it("a spent ticket answers 410 pages: pressing twice, and opening it again", async () => {
		const user = await signedInUser();
		const { linkUrl } = await startLink(user.token, "github");
		const again = await pressLinkButton(new CookieJar(), "github", ticketOf(linkUrl));
		expect(await expectPage(again, 410)).toContain("already been used");
		expect(again.headers.getSetCookie()).toEqual([]);
		expect(await expectPage(await openPage(new CookieJar(), linkUrl), 410)).toContain("already been used");
	});

	it("an expired ticket (past 10 minutes) answers 410 pages and starts nothing", async () => {
		const user = await signedInUser({ locale: "es" });
		const linkUrl = await linkingUrl(user.token, "google");
		vi.useFakeTimers({ toFake: ["Date"] });
		vi.setSystemTime(Date.now() + 601_000);
		expect(await expectPage(await openPage(new CookieJar(), linkUrl), 410)).toContain("ha caducado");
		const pressed = await pressLinkButton(new CookieJar(), "google", ticketOf(linkUrl));
		await expectPage(pressed, 410);
		expect(pressed.headers.get("Location")).toBeNull();
	});

	it("an unknown, missing or other-provider ticket answers a 400 page", async () => {
		const user = await signedInUser();
		const linkUrl = await linkingUrl(user.token, "github");
		const invalid = "This linking link is invalid";
		expect(
			await expectPage(
				await openPage(new CookieJar(), "https://atrium.test/v1/auth/oauth/github/link?ticket=nope"),
				400,
			),
		).toContain(invalid);
		expect(
			await expectPage(await openPage(new CookieJar(), "https://atrium.test/v1/auth/oauth/github/link"), 400),
		).toContain(invalid);
		// A GitHub ticket is no Google ticket.
		expect(await expectPage(await pressLinkButton(new CookieJar(), "google", ticketOf(linkUrl)), 400)).toContain(
			invalid,
		);
		// ...and is still good for GitHub.
		expect((await pressLinkButton(new CookieJar(), "github", ticketOf(linkUrl))).status).toBe(302);
	});

	it("a form without a ticket answers a 400 page, never JSON", async () => {
		const res = await new CookieJar().get("/v1/auth/oauth/github/link", {
			method: "POST",
			headers: { "Content-Type": "application/x-www-form-urlencoded" },
			body: "other=1",
		});
		await expectPage(res, 400);
	});

	it("an unknown provider answers a 404 page", async () => {
		await expectPage(await openPage(new CookieJar(), "https://atrium.test/v1/auth/oauth/myspace/link?ticket=x"), 404);
		await expectPage(await pressLinkButton(new CookieJar(), "myspace" as "github", "x"), 404);
	});

	it("400 redirect_uri_not_allowed for an unlisted redirect_uri, and no ticket is issued", async () => {
		const user = await signedInUser();
		const before = await env.DB.prepare("select count(*) as n from oauth_link_tickets").first<{ n: number }>();
		const res = await send("POST", "/v1/me/accounts/github", {
			token: user.token,
			body: { redirect_uri: "https://evil.test/" },
		});
		await expectProblem(res, 400, "redirect_uri_not_allowed");
		const after = await env.DB.prepare("select count(*) as n from oauth_link_tickets").first<{ n: number }>();
		expect(after?.n).toBe(before?.n);
	});

	it("an identity already linked to another account: redirect_uri?error=email_in_use, nothing linked", async () => {
		const owner = fakeUser();
		expect((await loginWith(idp, "github", owner)).status).toBe(200);
		const other = await signedInUser();
		const res = await linkWith(idp, other.token, "github", owner, { redirect_uri: APP_CALLBACK });
		expect(redirectParams(res).get("error")).toBe("email_in_use");
		expect(await linkedProviders(other.token)).toEqual([]);
	});

	it("the provider cannot be reached: the page says so (400) and spends nothing; the button ends at ?error=", async () => {
		// A day later than any earlier test of this isolate: the issuer's cached discovery has expired.
		vi.useFakeTimers({ toFake: ["Date"] });
		vi.setSystemTime(Date.now() + 86_400_000);
		idp.discovery = "down";
		const user = await signedInUser();
		const linkUrl = await linkingUrl(user.token, "oidc", { redirect_uri: APP_CALLBACK });
		expect(await expectPage(await openPage(new CookieJar(), linkUrl), 400)).toContain("Sign-in failed");
		expect((await ticketRow(ticketOf(linkUrl)))?.spent_at).toBeNull();
		const pressed = await pressLinkButton(new CookieJar(), "oidc", ticketOf(linkUrl));
		expect(redirectParams(pressed).get("error")).toBe("oauth_failed");
		expect(pressed.headers.getSetCookie()).toEqual([]);
		const bare = await linkingUrl(user.token, "oidc");
		await expectPage(await pressLinkButton(new CookieJar(), "oidc", ticketOf(bare)), 400);
	});

	it("rate-limits the page and its button per client address (429 page with Retry-After)", async () => {
		const app = appWith({ RATE_LIMIT_LINK_IP: "2/3600" });
		const client = { "CF-Connecting-IP": "198.51.100.77", Accept: "text/html" };
		const path = "/v1/auth/oauth/github/link?ticket=nope";
		for (let i = 0; i < 2; i++) {
			expect((await app.fetch(new Request(`https://atrium.test${path}`, { headers: client }))).status).toBe(400);
		}
		const limited = await app.fetch(new Request(`https://atrium.test${path}`, { headers: client }));
		await expectPage(limited, 429);
		expect(Number(limited.headers.get("Retry-After"))).toBeGreaterThan(0);
		const post = await app.fetch(
			new Request(`https://atrium.test${path}`, {
				method: "POST",
				headers: { ...client, "Content-Type": "application/x-www-form-urlencoded" },
				body: "ticket=nope",
			}),
		);
		await expectPage(post, 429);
		// Another address is not affected.
		const other = await app.fetch(
			new Request(`https://atrium.test${path}`, { headers: { "CF-Connecting-IP": "198.51.100.78" } }),
		);
		expect(other.status).toBe(400);
	});
});

describe("linking from any client: security", () => {
	it("the identity goes to the ticket's account only, whoever's browser presses the button", async () => {
		const owner = await signedInUser();
		const other = await signedInUser();
		const identity = fakeUser();
		const linkUrl = await linkingUrl(owner.token, "github", { redirect_uri: APP_CALLBACK });
		// A browser that belongs to `other` (it just ran its own login flow) presses owner's ticket.
		const browser = new CookieJar();
		await browser.get("/v1/auth/oauth/github");
		const pressed = await pressLinkButton(browser, "github", ticketOf(linkUrl));
		const res = await callback(browser, "github", idp.approve(pressed.headers.get("Location") ?? "", identity));
		expect(redirectParams(res).get("linked")).toBe("github");
		expect(await linkedProviders(owner.token)).toEqual(["github"]);
		expect(await linkedProviders(other.token)).toEqual([]);
	});

	it("the page masks the email and escapes what it shows", async () => {
		const user = await signedInUser();
		const linkUrl = await linkingUrl(user.token, "github");
		const text = await expectPage(await openPage(new CookieJar(), linkUrl), 200);
		const [local = "", domain = ""] = user.email.split("@");
		expect(text).not.toContain(user.email);
		expect(text).not.toContain(local);
		expect(text).toContain(`${local[0]}***@${domain}`);

		const hostile = appWith({ APP_NAME: '<script>alert("x")</script>' });
		const res = await hostile.fetch(new Request(linkUrl, { headers: { Accept: "text/html" } }));
		const hostilePage = await expectPage(res, 200);
		expect(hostilePage).not.toContain("<script>");
		expect(hostilePage).toContain("&lt;script&gt;");
		// A ticket with markup in it is shown nowhere unescaped either.
		const odd = await expectPage(
			await openPage(new CookieJar(), 'https://atrium.test/v1/auth/oauth/github/link?ticket="><b>x'),
			400,
		);
		expect(odd).not.toContain("<b>x");
	});

	it("the page's CSP lets its form post end at the provider and allows nothing else", async () => {
		const user = await signedInUser();
		const res = await openPage(new CookieJar(), await linkingUrl(user.token, "google"));
		await expectPage(res, 200);
		const csp = res.headers.get("Content-Security-Policy") ?? "";
		expect(csp).toContain("default-src 'none'");
		expect(csp).toMatch(/form-action 'self' https:\/\/accounts\.google\.com;/);
		expect(csp).not.toContain("script-src");
		expect(csp).toContain("frame-ancestors 'none'");
		expect(res.headers.get("Referrer-Policy")).toBe("no-referrer");
		expect(res.headers.get("Cache-Control")).toBe("no-store");
	});

	it("a replayed state fails: the callback URL works once", async () => {
		const user = await signedInUser();
		const { jar, authorizationUrl } = await startLink(user.token, "github", { redirect_uri: APP_CALLBACK });
		const query = idp.approve(authorizationUrl, fakeUser());
		// Keep the flow cookie to replay it with the same callback afterwards.
		const cookie = jar.header("/v1/auth/oauth/github/callback");
		expect(redirectParams(await callback(jar, "github", query)).get("linked")).toBe("github");
		const replay = await send("GET", `/v1/auth/oauth/github/callback?${new URLSearchParams(query)}`, {
			headers: { Cookie: cookie },
		});
		await expectProblem(replay, 400, "oauth_state_mismatch");
	});

	it("a session signed out between ticket and callback gets no link", async () => {
		const user = await signedInUser();
		const { jar, authorizationUrl } = await startLink(user.token, "google", { redirect_uri: APP_CALLBACK });
		expect((await send("POST", "/v1/auth/logout", { token: user.token })).status).toBe(204);
		const res = await callback(jar, "google", idp.approve(authorizationUrl, fakeUser()));
		expect(redirectParams(res).get("error")).toBe("unauthorized");
		const { login } = await import("../helpers/api");
		expect(await linkedProviders((await login(user.email, user.password)).access_token)).toEqual([]);
	});

	it("a deleted account's ticket is gone with it", async () => {
		const user = await signedInUser();
		const linkUrl = await linkingUrl(user.token, "github");
		const deleted = await send("DELETE", "/v1/me", { token: user.token, body: { password: user.password } });
		expect(deleted.status).toBe(204);
		expect(await ticketRow(ticketOf(linkUrl))).toBeNull();
		await expectPage(await pressLinkButton(new CookieJar(), "github", ticketOf(linkUrl)), 400);
	});

	it("stores only the ticket's hash, valid for 10 minutes", async () => {
		const user = await signedInUser();
		const ticket = ticketOf(await linkingUrl(user.token, "github"));
		const row = (await ticketRow(ticket)) as { expires_at: number; created_at: number; ticket_hash: string } | null;
		expect(row?.ticket_hash).not.toBe(ticket);
		const dump = JSON.stringify(await env.DB.prepare("select * from oauth_link_tickets").all());
		expect(dump).not.toContain(ticket);
		expect((row?.expires_at ?? 0) - (row?.created_at ?? 0)).toBeGreaterThan(599_000);
		expect((row?.expires_at ?? 0) - (row?.created_at ?? 0)).toBeLessThanOrEqual(601_000);
	});
});
