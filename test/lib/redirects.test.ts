import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SUPPORTED_LOCALES, translator } from "../../src/lib/i18n";
import { BASE, PASSWORD, expectProblem, uniqueEmail } from "../helpers/api";
import { mailsTo, tokenFrom, waitForMail } from "../helpers/resend";
import { appWith } from "../helpers/worker";

const app = appWith({
	APP_REDIRECT_URLS: "https://app.test/welcome, https://app.test/account/reset?from=mail",
	APP_NAME: "Lumen",
});

function postJson(path: string, body: unknown): Promise<Response> {
	return app.send("POST", path, { body });
}

function postForm(path: string, fields: Record<string, string>, lang = "en"): Promise<Response> {
	return app.fetch(
		new Request(new URL(`${path}?lang=${lang}`, BASE), {
			method: "POST",
			headers: { "Content-Type": "application/x-www-form-urlencoded" },
			body: new URLSearchParams(fields).toString(),
		}),
	);
}

/** A confirmed account of `app` (no redirect_to). */
async function confirmedUser() {
	const email = uniqueEmail("redirect");
	expect((await postJson("/v1/auth/register", { email, password: PASSWORD })).status).toBe(202);
	const token = tokenFrom(await waitForMail(email), "/v1/auth/confirm");
	expect((await postJson("/v1/auth/confirm", { token })).status).toBe(200);
	return email;
}

const amp = (url: string) => url.replaceAll("&", "&amp;");

afterEach(() => {
	vi.useRealTimers();
});

describe("redirect_to: happy", () => {
	it("register remembers redirect_to (query kept) and the confirmed page links back with status=confirmed", async () => {
		const email = uniqueEmail("redirect");
		const res = await postJson("/v1/auth/register", {
			email,
			password: PASSWORD,
			redirect_to: "https://app.test/welcome?ref=ad#top",
		});
		expect(res.status).toBe(202);
		const token = tokenFrom(await waitForMail(email), "/v1/auth/confirm");
		const row = await env.DB.prepare(
			"select redirect_to from verification_tokens t join users u on u.id = t.user_id where u.email = ?",
		)
			.bind(email)
			.first<{ redirect_to: string }>();
		expect(row?.redirect_to).toBe("https://app.test/welcome?ref=ad");
		const page = await (await postForm("/v1/auth/confirm", { token })).text();
		expect(page).toContain(`href="${amp("https://app.test/welcome?ref=ad&status=confirmed")}"`);
		expect(page).toContain(translator("en")("pages.continue", { app: "Lumen" }));
	});

	it("forgot remembers redirect_to and the reset page links back with status=password_reset", async () => {
		const email = await confirmedUser();
		const res = await postJson("/v1/auth/password/forgot", {
			email,
			redirect_to: "https://app.test/account/reset?from=mail",
		});
		expect(res.status).toBe(202);
		const token = tokenFrom(await waitForMail(email, 2), "/v1/auth/password/reset");
		const page = await postForm("/v1/auth/password/reset", { token, password: "a brand new passphrase" }, "de");
		expect(page.status).toBe(200);
		const text = await page.text();
		expect(text).toContain(`href="${amp("https://app.test/account/reset?from=mail&status=password_reset")}"`);
		expect(text).toContain(translator("de")("pages.continue", { app: "Lumen" }));
	});

	it("resend remembers redirect_to, also from a form post", async () => {
		const email = uniqueEmail("redirect");
		expect((await postJson("/v1/auth/register", { email, password: PASSWORD })).status).toBe(202);
		await waitForMail(email);
		const resent = await postForm("/v1/auth/confirm/resend", { email, redirect_to: "https://app.test/welcome" });
		expect(resent.status).toBe(202);
		const token = tokenFrom(await waitForMail(email, 2), "/v1/auth/confirm");
		const text = await (await postForm("/v1/auth/confirm", { token })).text();
		expect(text).toContain('href="https://app.test/welcome?status=confirmed"');
	});

	it("an expired link's 'send a new link' form carries redirect_to along, and the new link leads back", async () => {
		const email = await confirmedUser();
		const target = "https://app.test/account/reset?from=mail";
		expect((await postJson("/v1/auth/password/forgot", { email, redirect_to: target })).status).toBe(202);
		const token = tokenFrom(await waitForMail(email, 2), "/v1/auth/password/reset");
		vi.useFakeTimers({ toFake: ["Date"] });
		vi.setSystemTime(Date.now() + 2 * 3600 * 1000);
		const hidden = `<input type="hidden" name="redirect_to" value="${target}">`;
		const opened = await app.fetch(new Request(new URL(`/v1/auth/password/reset?token=${token}`, BASE)));
		expect(await opened.text()).toContain(hidden);
		const posted = await postForm("/v1/auth/password/reset", { token, password: "a brand new passphrase" });
		expect(posted.status).toBe(410);
		expect(await posted.text()).toContain(hidden);
		// What that form sends: the new link leads back to the same app page.
		expect((await postForm("/v1/auth/password/forgot", { email, redirect_to: target })).status).toBe(202);
		const fresh = tokenFrom(await waitForMail(email, 3), "/v1/auth/password/reset");
		const done = await postForm("/v1/auth/password/reset", { token: fresh, password: "a brand new passphrase" });
		expect(await done.text()).toContain(`href="${amp(`${target}&status=password_reset`)}"`);
	});

	it("an expired confirmation link's page and form post keep redirect_to for the resend form", async () => {
		const email = uniqueEmail("redirect");
		const target = "https://app.test/welcome";
		expect((await postJson("/v1/auth/register", { email, password: PASSWORD, redirect_to: target })).status).toBe(202);
		const token = tokenFrom(await waitForMail(email), "/v1/auth/confirm");
		vi.useFakeTimers({ toFake: ["Date"] });
		vi.setSystemTime(Date.now() + 8 * 86_400_000);
		const hidden = `<input type="hidden" name="redirect_to" value="${target}">`;
		const opened = await app.fetch(
			new Request(new URL(`/v1/auth/confirm?token=${token}`, BASE), { headers: { Accept: "text/html" } }),
		);
		expect(await opened.text()).toContain(hidden);
		const posted = await postForm("/v1/auth/confirm", { token });
		expect(posted.status).toBe(410);
		const text = await posted.text();
		expect(text).toContain(hidden);
		expect(text).toContain('action="/v1/auth/confirm/resend?lang=en"');
	});

	it("a dead link requested without redirect_to offers a form without one", async () => {
		const text = await (await postForm("/v1/auth/confirm", { token: "unknown" })).text();
		expect(text).toContain('action="/v1/auth/confirm/resend?lang=en"');
		expect(text).not.toContain('name="redirect_to"');
	});

	it("shows no continue link when the link was requested without redirect_to", async () => {
		const email = uniqueEmail("redirect");
		expect((await postJson("/v1/auth/register", { email, password: PASSWORD })).status).toBe(202);
		const token = tokenFrom(await waitForMail(email), "/v1/auth/confirm");
		const text = await (await postForm("/v1/auth/confirm", { token })).text();
		expect(text).not.toContain("<a href");
	});
});

describe("redirect_to: error", () => {
	const refused = [
		"https://evil.test/welcome",
		"https://app.test/welcome/extra",
		"https://app.test/welcom",
		"https://app.test.evil.test/welcome",
		"http://app.test/welcome",
		"https://app.test:8443/welcome",
		"https://user:pass@app.test/welcome",
		"javascript:alert(1)//https://app.test/welcome",
		"/welcome",
		"not a url",
	];

	it.each(refused)("refuses %s on register, resend and forgot with 400 redirect_uri_not_allowed", async (target) => {
		const email = uniqueEmail("refused");
		await expectProblem(
			await postJson("/v1/auth/register", { email, password: PASSWORD, redirect_to: target }),
			400,
			"redirect_uri_not_allowed",
		);
		const users = await env.DB.prepare("select count(*) as n from users where email = ?")
			.bind(email)
			.first<{ n: number }>();
		expect(users?.n).toBe(0);
		for (const path of ["/v1/auth/confirm/resend", "/v1/auth/password/forgot"]) {
			await expectProblem(await postJson(path, { email, redirect_to: target }), 400, "redirect_uri_not_allowed");
		}
		expect(mailsTo(email)).toEqual([]);
	});

	it.each(SUPPORTED_LOCALES)("answers a refused redirect_to of a form post with a page (%s)", async (lang) => {
		const res = await postForm(
			"/v1/auth/password/forgot",
			{ email: uniqueEmail("refused"), redirect_to: "https://evil.test/" },
			lang,
		);
		expect(res.status).toBe(400);
		expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
		const text = await res.text();
		expect(text).toContain(`<html lang="${lang}"`);
	});
});

describe("redirect_to: security", () => {
	it("refuses every redirect_to when APP_REDIRECT_URLS is empty", async () => {
		const bare = appWith({ APP_REDIRECT_URLS: "" });
		await expectProblem(
			await bare.send("POST", "/v1/auth/password/forgot", {
				body: { email: uniqueEmail(), redirect_to: "https://app.test/welcome" },
			}),
			400,
			"redirect_uri_not_allowed",
		);
	});

	it("escapes the remembered query in the continue link", async () => {
		const email = uniqueEmail("redirect");
		const target = 'https://app.test/welcome?x="><script>alert(1)</script>';
		expect((await postJson("/v1/auth/register", { email, password: PASSWORD, redirect_to: target })).status).toBe(202);
		const token = tokenFrom(await waitForMail(email), "/v1/auth/confirm");
		const text = await (await postForm("/v1/auth/confirm", { token })).text();
		expect(text).not.toContain("<script>");
		expect(text).toContain("status=confirmed");
	});
});
