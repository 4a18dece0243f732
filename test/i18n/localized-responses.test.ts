import { describe, expect, it } from "vitest";
import { SUPPORTED_LOCALES, formatBytes, translate } from "../../src/lib/i18n";
import { PASSWORD, api, expectProblem, send, uniqueEmail } from "../helpers/api";
import { tokenFrom, waitForMail } from "../helpers/resend";

const APP = "Atrium";

type Problem = Awaited<ReturnType<typeof expectProblem>>;

/** Asserts the problem's sentences come from `locale`'s catalog and, outside English, are not English. */
function expectLocalizedProblem(body: Problem, locale: string, params: Record<string, unknown> = {}) {
	expect(body.title).toBe(translate(locale, `errors.${body.code}.title`, params));
	expect(body.detail).toBe(translate(locale, `errors.${body.code}.detail`, params));
	if (locale !== "en") {
		expect(body.title).not.toBe(translate("en", `errors.${body.code}.title`, params));
		expect(body.detail).not.toBe(translate("en", `errors.${body.code}.detail`, params));
	}
}

describe.each(SUPPORTED_LOCALES)("real errors in %s", (locale) => {
	const headers = { "Accept-Language": locale };

	it("renders not_found and unauthorized from the catalog", async () => {
		const missing = await api("/v1/nowhere", { headers });
		expect(missing.headers.get("Content-Language")).toBe(locale);
		expectLocalizedProblem(await expectProblem(missing, 404, "not_found"), locale);

		const anonymous = await send("GET", "/v1/me", { headers });
		expectLocalizedProblem(await expectProblem(anonymous, 401, "unauthorized"), locale);
	});

	it("renders validation_failed with localized field messages and stable codes", async () => {
		const res = await send("POST", "/v1/auth/register", { headers, body: { email: 5, locale: "xx" } });
		const body = await expectProblem(res, 400, "validation_failed");
		expectLocalizedProblem(body, locale, { count: 3 });
		expect(body.errors).toEqual([
			{
				path: "email",
				code: "invalid_type",
				message: translate(locale, "validation.invalid_type", { expected: "string" }),
			},
			{ path: "password", code: "required", message: translate(locale, "validation.required") },
			{ path: "locale", code: "unknown_locale", message: translate(locale, "validation.unknown_locale") },
		]);
	});

	it("renders invalid_credentials", async () => {
		const res = await send("POST", "/v1/auth/login", { headers, body: { email: uniqueEmail(), password: PASSWORD } });
		expectLocalizedProblem(await expectProblem(res, 401, "invalid_credentials"), locale);
	});

	it("renders payload_too_large with the limit in the locale's units", async () => {
		const body = JSON.stringify({ email: "a@example.com", password: "x".repeat(70 * 1024) });
		const res = await api("/v1/auth/login", {
			method: "POST",
			headers: { ...headers, "Content-Type": "application/json" },
			body,
		});
		const problem = await expectProblem(res, 413, "payload_too_large");
		const limit = formatBytes(locale, 64 * 1024);
		expectLocalizedProblem(problem, locale, { limit });
		expect(problem.detail).toContain(limit);
	});
});

describe("localized responses", () => {
	describe("happy", () => {
		it("keeps machine codes identical in every language", async () => {
			const shapes = new Set<string>();
			for (const locale of SUPPORTED_LOCALES) {
				const res = await send("POST", `/v1/auth/register?lang=${locale}`, {
					body: { email: "nope", password: "short" },
				});
				const body = await expectProblem(res, 400, "validation_failed");
				shapes.add(JSON.stringify({ type: body.code, errors: body.errors?.map(({ path, code }) => ({ path, code })) }));
			}
			expect([...shapes]).toEqual([
				JSON.stringify({
					type: "validation_failed",
					errors: [
						{ path: "email", code: "invalid_email" },
						{ path: "password", code: "too_small" },
					],
				}),
			]);
		});

		it("puts the parameter into a localized validation message (password too short, in German)", async () => {
			const res = await send("POST", "/v1/auth/register", {
				headers: { "Accept-Language": "de-DE,de;q=0.9" },
				body: { email: uniqueEmail(), password: "kurz" },
			});
			const body = await expectProblem(res, 400, "validation_failed");
			expect(body.detail).toBe("Ein Feld ist ungültig.");
			expect(body.errors).toEqual([
				{ path: "password", code: "too_small", message: "Verwenden Sie mindestens 10 Zeichen." },
			]);
		});

		it("localizes success messages", async () => {
			const res = await send("POST", "/v1/auth/register", {
				headers: { "Accept-Language": "es" },
				body: { email: uniqueEmail(), password: PASSWORD },
			});
			expect(res.status).toBe(202);
			expect(res.headers.get("Content-Language")).toBe("es");
			expect(await res.json()).toEqual({ message: translate("es", "messages.register_accepted") });
		});
	});

	describe("emails", () => {
		it("mails a ja user in Japanese although the request was in English", async () => {
			const email = uniqueEmail("ja");
			const res = await send("POST", "/v1/auth/register", {
				headers: { "Accept-Language": "en" },
				body: { email, password: PASSWORD, locale: "ja", name: "Aiko" },
			});
			expect(res.status).toBe(202);
			expect(await res.json()).toEqual({
				message: "Thanks! Check your inbox for a link to confirm your email address.",
			});

			const mail = await waitForMail(email);
			expect(mail.subject).toBe("Atrium のメールアドレスをご確認ください");
			expect(mail.html).toContain('<html lang="ja" dir="ltr">');
			// Unconfirmed address: the greeting names the address, never the name typed at registration.
			expect(mail.text).toContain(`${email} 様`);
			expect(mail.text).not.toContain("Aiko");
			expect(mail.text).toContain(translate("ja", "email.confirm.intro", { app: APP }));
			expect(mail.text).toContain(translate("ja", "email.footer", { app: APP }));
			expect(mail.text).toMatch(/このリンクの有効期限は \d+ 分で、使用できるのは 1 回のみです。/);
			expect(mail.text).not.toMatch(/Confirm|Hello|expires/);
			expect(tokenFrom(mail, "/v1/auth/confirm")).toMatch(/^[A-Za-z0-9_-]+$/);
		});

		it("keeps the saved locale for mails triggered later in another language", async () => {
			const email = uniqueEmail("ar");
			await send("POST", "/v1/auth/register", { body: { email, password: PASSWORD, locale: "ar" } });
			const confirm = await waitForMail(email, 1);
			expect(confirm.html).toContain('<html lang="ar" dir="rtl">');

			// Registering again (in French) sends the "you already have an account" notice, in Arabic.
			const again = await send("POST", "/v1/auth/register", {
				headers: { "Accept-Language": "fr" },
				body: { email, password: PASSWORD },
			});
			expect(await again.json()).toEqual({ message: translate("fr", "messages.register_accepted") });
			const exists = await waitForMail(email, 2);
			expect(exists.subject).toBe(translate("ar", "email.exists.subject", { app: APP }));

			const forgot = await send("POST", "/v1/auth/password/forgot?lang=de", { body: { email } });
			expect(await forgot.json()).toEqual({ message: translate("de", "messages.reset_requested") });
			const reset = await waitForMail(email, 3);
			expect(reset.subject).toBe(translate("ar", "email.reset.subject", { app: APP }));
			expect(reset.text).toContain(translate("ar", "email.reset.intro", { app: APP }));
		});

		it("uses the request's language when registration names no locale", async () => {
			const email = uniqueEmail("zh");
			await send("POST", "/v1/auth/register", {
				headers: { "Accept-Language": "zh-Hant-TW" },
				body: { email, password: PASSWORD },
			});
			const mail = await waitForMail(email);
			expect(mail.subject).toBe("確認您在 Atrium 的電子郵件地址");
			expect(mail.html).toContain('<html lang="zh-TW" dir="ltr">');
		});
	});

	describe("HTML pages", () => {
		it("marks the confirmation page as Arabic, right to left", async () => {
			const res = await api("/v1/auth/confirm?token=x", { headers: { "Accept-Language": "ar" } });
			expect(res.status).toBe(200);
			expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
			expect(res.headers.get("Content-Language")).toBe("ar");
			const page = await res.text();
			expect(page).toContain('<html lang="ar" dir="rtl">');
			expect(page).toContain(`<title>${translate("ar", "pages.confirm.title")} · Atrium</title>`);
			expect(page).toContain(translate("ar", "pages.confirm.invalid"));
			expect(page).toContain(translate("ar", "pages.resend.button"));
		});

		it("marks left-to-right pages too, and keeps the language in the form it posts", async () => {
			const email = uniqueEmail("page");
			await send("POST", "/v1/auth/register", { body: { email, password: PASSWORD } });
			const token = tokenFrom(await waitForMail(email), "/v1/auth/confirm");
			const res = await api(`/v1/auth/confirm?token=${token}&lang=ja`, { headers: { "Accept-Language": "ar" } });
			const page = await res.text();
			expect(page).toContain('<html lang="ja" dir="ltr">');
			expect(page).toContain(translate("ja", "pages.confirm.button"));
			expect(page).toContain('action="/v1/auth/confirm?lang=ja"');

			const reset = await api("/v1/auth/password/reset?token=nope", { headers: { "Accept-Language": "de" } });
			const resetPage = await reset.text();
			expect(resetPage).toContain('<html lang="de" dir="ltr">');
			expect(resetPage).toContain(translate("de", "pages.reset.invalid"));
		});
	});
});
