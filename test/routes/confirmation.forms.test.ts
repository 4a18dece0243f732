import { afterEach, describe, expect, it, vi } from "vitest";
import { SUPPORTED_LOCALES, translator } from "../../src/lib/i18n";
import { BASE, PASSWORD, api, expectProblem, register, send, signedInUser } from "../helpers/api";
import { linkingUrl, ticketOf } from "../helpers/oauth-fakes";
import { tokenFrom, waitForMail } from "../helpers/resend";
import { appWith } from "../helpers/worker";

afterEach(() => {
	vi.useRealTimers();
});

/** What hono/html makes of a message inside an element. */
function escaped(text: string): string {
	return text
		.replaceAll("&", "&amp;")
		.replaceAll("<", "&lt;")
		.replaceAll(">", "&gt;")
		.replaceAll('"', "&quot;")
		.replaceAll("'", "&#39;");
}

/** Posts an HTML form (urlencoded), as a browser does, to `path` in `lang`. */
function postForm(
	path: string,
	fields: Record<string, string>,
	lang: string,
	fetcher: (path: string, init: RequestInit) => Promise<Response> = api,
	headers: Record<string, string> = {},
): Promise<Response> {
	return fetcher(`${path}?lang=${lang}`, {
		method: "POST",
		headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
		body: new URLSearchParams(fields).toString(),
	});
}

/** A reset link's token for a confirmed user. */
async function resetLink() {
	const user = await signedInUser();
	expect((await send("POST", "/v1/auth/password/forgot", { body: { email: user.email } })).status).toBe(202);
	return { ...user, token: tokenFrom(await waitForMail(user.email, 2), "/v1/auth/password/reset") };
}

/** Asserts an HTML page (never JSON) in `lang` with `status`, and returns its text. */
async function expectPage(res: Response, status: number, lang: string): Promise<string> {
	const text = await res.text();
	expect(res.status, text.slice(0, 300)).toBe(status);
	expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
	expect(text).toMatch(/^<!doctype html>/i);
	expect(text).toContain(`<html lang="${lang}"`);
	expect(text).not.toContain('"code":');
	return text;
}

describe("form posts: happy", () => {
	it.each(SUPPORTED_LOCALES)(
		"shows the reset form again with the reason for a too common password (%s)",
		async (lang) => {
			const { token } = await resetLink();
			const t = translator(lang);
			const res = await postForm("/v1/auth/password/reset", { token, password: "password123" }, lang);
			const text = await expectPage(res, 400, lang);
			expect(text).toContain(escaped(t("validation.password_too_common")));
			expect(text).toContain(escaped(t("pages.reset.title")));
			expect(text).toContain(`name="token" value="${token}"`);
			// The same link still works with a better password.
			const again = await postForm("/v1/auth/password/reset", { token, password: "a much better passphrase" }, lang);
			expect(await expectPage(again, 200, lang)).toContain(escaped(t("pages.reset.success")));
		},
	);
});

describe("form posts: error", () => {
	it.each(SUPPORTED_LOCALES)(
		"answers a password equal to the email and a too short one with a page (%s)",
		async (lang) => {
			const { token, email } = await resetLink();
			const t = translator(lang);
			const same = await expectPage(
				await postForm("/v1/auth/password/reset", { token, password: email }, lang),
				400,
				lang,
			);
			expect(same).toContain(escaped(t("validation.password_equals_email")));
			const short = await expectPage(
				await postForm("/v1/auth/password/reset", { token, password: "short" }, lang),
				400,
				lang,
			);
			expect(short).toContain(`name="token" value="${token}"`);
		},
	);

	it.each(SUPPORTED_LOCALES)(
		"answers bad, spent and expired tokens and malformed forms with pages (%s)",
		async (lang) => {
			const { token } = await resetLink();
			const t = translator(lang);
			const bad = await postForm("/v1/auth/password/reset", { token: "nope", password: PASSWORD }, lang);
			expect(await expectPage(bad, 400, lang)).toContain(escaped(t("pages.reset.invalid")));
			const missing = await postForm("/v1/auth/confirm", {}, lang);
			expect(await expectPage(missing, 400, lang)).toContain(escaped(t("errors.validation_failed.title")));
			const noEmail = await postForm("/v1/auth/password/forgot", { email: "not an address" }, lang);
			await expectPage(noEmail, 400, lang);

			vi.useFakeTimers({ toFake: ["Date"] });
			vi.setSystemTime(Date.now() + 3 * 3600 * 1000);
			const expired = await postForm("/v1/auth/password/reset", { token, password: PASSWORD }, lang);
			expect(await expectPage(expired, 410, lang)).toContain(escaped(t("pages.reset.expired")));
			expect(expired.headers.has("WWW-Authenticate")).toBe(false);
		},
	);

	it.each(SUPPORTED_LOCALES)("answers a rate-limited form post with a page and Retry-After (%s)", async (lang) => {
		const limited = appWith({ RATE_LIMIT_MAIL_IP: "1/3600" });
		const fetcher = (path: string, init: RequestInit) => limited.fetch(new Request(new URL(path, BASE), init));
		const email = `limited-${crypto.randomUUID()}@example.com`;
		// Each locale's own client address: the per-IP window outlives the test.
		const client = { "CF-Connecting-IP": `203.0.113.${SUPPORTED_LOCALES.indexOf(lang) + 10}` };
		expect((await postForm("/v1/auth/password/forgot", { email }, lang, fetcher, client)).status).toBe(202);
		const res = await postForm("/v1/auth/password/forgot", { email }, lang, fetcher, client);
		await expectPage(res, 429, lang);
		expect(res.headers.get("Retry-After")).toMatch(/^\d+$/);
	});
});

/** Every endpoint a page's form posts to, with a field that makes its form plausible. */
const FORM_ENDPOINTS: [string, string][] = [
	["/v1/auth/confirm", "token"],
	["/v1/auth/confirm/resend", "email"],
	["/v1/auth/password/forgot", "email"],
	["/v1/auth/password/reset", "token"],
	["/v1/auth/oauth/github/link", "ticket"],
];

describe("form posts: no JSON ever reaches a browser form", () => {
	it.each(SUPPORTED_LOCALES)("answers an oversize body at every form endpoint with a 413 page (%s)", async (lang) => {
		const t = translator(lang);
		for (const [path, field] of FORM_ENDPOINTS) {
			const res = await postForm(path, { [field]: "x".repeat(70 * 1024) }, lang);
			const text = await expectPage(res, 413, lang);
			expect(text, path).toContain(escaped(t("errors.payload_too_large.title")));
		}
	});

	it.each(SUPPORTED_LOCALES)("answers spent tokens and tickets at every token form with a page (%s)", async (lang) => {
		const t = translator(lang);
		const { token } = await resetLink();
		const newPassword = "a brand new passphrase";
		await expectPage(await postForm("/v1/auth/password/reset", { token, password: newPassword }, lang), 200, lang);
		const spentReset = await postForm("/v1/auth/password/reset", { token, password: newPassword }, lang);
		expect(await expectPage(spentReset, 400, lang)).toContain(escaped(t("pages.reset.invalid")));

		const { confirmToken } = await register();
		await expectPage(await postForm("/v1/auth/confirm", { token: confirmToken }, lang), 200, lang);
		const spentConfirm = await postForm("/v1/auth/confirm", { token: confirmToken }, lang);
		expect(await expectPage(spentConfirm, 409, lang)).toContain(escaped(t("pages.confirm.already")));

		const ticket = ticketOf(await linkingUrl((await signedInUser()).token, "github"));
		// As a browser: the button's 302 to the provider is not followed here.
		const manual = (path: string, init: RequestInit) => api(path, { ...init, redirect: "manual" });
		expect((await postForm("/v1/auth/oauth/github/link", { ticket }, lang, manual)).status).toBe(302);
		const spentTicket = await postForm("/v1/auth/oauth/github/link", { ticket }, lang);
		expect(await expectPage(spentTicket, 410, lang)).toContain(escaped(t("pages.link.spent")));
		const unknownTicket = await postForm("/v1/auth/oauth/github/link", { ticket: "nope" }, lang);
		expect(await expectPage(unknownTicket, 400, lang)).toContain(escaped(t("pages.link.invalid")));
	});
});

describe("form posts: security", () => {
	it("keeps problem+json for JSON clients, and a mailed link's 410 carries no WWW-Authenticate", async () => {
		const { token } = await resetLink();
		await expectProblem(
			await send("POST", "/v1/auth/password/reset", { body: { token, password: "password123" } }),
			400,
			"validation_failed",
		);
		vi.useFakeTimers({ toFake: ["Date"] });
		vi.setSystemTime(Date.now() + 3 * 3600 * 1000);
		const expired = await send("POST", "/v1/auth/password/reset", { body: { token, password: PASSWORD } });
		expect(expired.headers.has("WWW-Authenticate")).toBe(false);
		await expectProblem(expired, 410, "token_expired");
		// Bearer failures keep their challenge.
		const bearer = await send("GET", "/v1/me", { token: "not-a-token" });
		expect(bearer.headers.get("WWW-Authenticate")).toContain("Bearer");
	});

	it("escapes a hostile token echoed into the form again", async () => {
		const { token } = await resetLink();
		const res = await postForm(
			"/v1/auth/password/reset",
			{ token: `${token}"><script>`, password: "password123" },
			"en",
		);
		const text = await res.text();
		expect(text).not.toContain("<script>");
	});
});

describe("pages opened from a mailed link: happy", () => {
	it("carries APP_NAME in the title and above the heading, escaped", async () => {
		const branded = appWith({ APP_NAME: "Lumen <Gallery>" });
		const res = await branded.fetch(new Request(`${BASE}/v1/auth/confirm?token=unknown&lang=en`));
		const text = await expectPage(res, 200, "en");
		expect(text).toContain(
			`<title>${escaped(translator("en")("pages.confirm.title"))} · Lumen &lt;Gallery&gt;</title>`,
		);
		expect(text).toContain('<p class="app">Lumen &lt;Gallery&gt;</p>');
	});

	it("renders in the recipient's saved locale, whatever Accept-Language says; ?lang= still wins", async () => {
		const { confirmToken } = await register({ locale: "fr" });
		const path = `/v1/auth/confirm?token=${confirmToken}`;
		const browser = { headers: { "Accept-Language": "de-DE,de;q=0.9", Accept: "text/html" } };
		const saved = await expectPage(await api(path, browser), 200, "fr");
		expect(saved).toContain(escaped(translator("fr")("pages.confirm.button")));
		await expectPage(await api(`${path}&lang=ja`, browser), 200, "ja");

		const user = await signedInUser({ locale: "zh-TW" });
		expect((await send("POST", "/v1/auth/password/forgot", { body: { email: user.email } })).status).toBe(202);
		const token = tokenFrom(await waitForMail(user.email, 2), "/v1/auth/password/reset");
		const reset = await expectPage(await api(`/v1/auth/password/reset?token=${token}`, browser), 200, "zh-TW");
		expect(reset).toContain(escaped(translator("zh-TW")("pages.reset.prompt")));
		// The form posts back in the page's language.
		expect(reset).toContain('action="/v1/auth/password/reset?lang=zh-TW"');
	});

	it("uses the recipient's locale for an expired link's page too", async () => {
		const { confirmToken } = await register({ locale: "ar" });
		vi.useFakeTimers({ toFake: ["Date"] });
		vi.setSystemTime(Date.now() + 3 * 3600 * 1000);
		const res = await api(`/v1/auth/confirm?token=${confirmToken}`, { headers: { "Accept-Language": "en" } });
		const text = await expectPage(res, 200, "ar");
		expect(text).toContain('dir="rtl"');
		expect(text).toContain(escaped(translator("ar")("pages.confirm.expired")));
	});
});
