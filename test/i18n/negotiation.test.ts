import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SUPPORTED_LOCALES, matchLocale, negotiateLocale } from "../../src/lib/i18n";
import { api, expectProblem, send, signedInUser } from "../helpers/api";

describe("matchLocale", () => {
	it.each([
		["fr", "fr"],
		["FR", "fr"],
		["zh-tw", "zh-TW"],
		["zh-Hant-TW", "zh-TW"],
		["zh-Hant", "zh-TW"],
		["zh-HK", "zh-TW"],
		["fr-CA", "fr"],
		["es-419", "es"],
		["de-AT", "de"],
		["en-GB", "en"],
		["ar-EG", "ar"],
		["ja-JP", "ja"],
		["pt_BR", null],
		["en_US", "en"],
		["zh-CN", null],
		["zh-Hans", null],
		["zh", null],
		["ko", null],
		["*", null],
		["", null],
		["not a tag", null],
	])("%j -> %j", (tag, expected) => {
		expect(matchLocale(tag)).toBe(expected);
	});
});

describe("negotiateLocale", () => {
	it.each([
		["fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", "fr"],
		["de;q=0.5, ja;q=0.9", "ja"],
		["ja;q=0.9, de;q=0.9", "ja"],
		["zh-CN, zh-Hant-TW;q=0.8, en;q=0.5", "zh-TW"],
		["zh-CN, zh;q=0.9", null],
		["ko, pt-BR;q=0.9", null],
		["ko, *;q=0.1", "en"],
		["*", "en"],
		["fr;q=0, fr-CA", null],
		["ar;q=0.000, es;q=0.001", "es"],
		["EN;Q=0.2, de;q=0.1", "en"],
		["de;q=2, es", "es"],
		["de;q=abc, ja;q=0.3", "ja"],
		["de;q=, ja;q=0.3", "ja"],
		[";;;,,,", null],
		["", null],
		["q=1", null],
		["\u0000\u00ff, ar", "ar"],
	])("%j -> %j", (header, expected) => {
		expect(negotiateLocale(header, "en")).toBe(expected);
	});

	it("reads * as the configured default unless the header refuses it", () => {
		expect(negotiateLocale("*", "ja")).toBe("ja");
		const other = negotiateLocale("en;q=0, *", "en");
		expect(other).not.toBe("en");
		expect(SUPPORTED_LOCALES).toContain(other);
	});

	it("never throws and only ever answers a shipped locale, whatever the header", () => {
		fc.assert(
			fc.property(fc.string({ maxLength: 200 }), (header) => {
				const locale = negotiateLocale(header);
				expect(locale === null || SUPPORTED_LOCALES.includes(locale)).toBe(true);
			}),
			{ numRuns: 500 },
		);
		const shaped = fc
			.array(
				fc.tuple(
					fc.constantFrom("fr", "zh-Hant", "zh-CN", "x-klingon", "*", "en-US", "ar", "i-default", "", "de-DE-1996"),
					fc.oneof(
						fc.constant(""),
						fc.double().map((q) => `;q=${q}`),
						fc.string({ maxLength: 5 }).map((q) => `;q=${q}`),
					),
				),
				{ maxLength: 40 },
			)
			.map((ranges) => ranges.map(([tag, q]) => tag + q).join(","));
		fc.assert(
			fc.property(shaped, (header) => {
				const locale = negotiateLocale(header);
				expect(locale === null || SUPPORTED_LOCALES.includes(locale)).toBe(true);
			}),
			{ numRuns: 500 },
		);
	});

	it("ignores ranges past the first few dozen instead of parsing an endless header", () => {
		const header = `${Array.from({ length: 1000 }, () => "ko").join(",")},ja`;
		expect(negotiateLocale(header)).toBeNull();
	});
});

describe("language of responses", () => {
	describe("happy", () => {
		it("lists the shipped locales with native names", async () => {
			const res = await api("/v1/locales");
			expect(res.status).toBe(200);
			const body = (await res.json()) as { default: string; locales: { code: string; name: string; dir: string }[] };
			expect(body.default).toBe("en");
			expect(body.locales).toEqual(
				expect.arrayContaining([
					{ code: "en", name: "English", dir: "ltr" },
					{ code: "fr", name: "Français", dir: "ltr" },
					{ code: "es", name: "Español", dir: "ltr" },
					{ code: "de", name: "Deutsch", dir: "ltr" },
					{ code: "zh-TW", name: "繁體中文", dir: "ltr" },
					{ code: "ja", name: "日本語", dir: "ltr" },
					{ code: "ar", name: "العربية", dir: "rtl" },
				]),
			);
			expect(body.locales).toHaveLength(7);
		});

		it("answers in the Accept-Language choice and says so", async () => {
			const res = await api("/v1/nowhere", { headers: { "Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5" } });
			const body = await expectProblem(res, 404, "not_found");
			expect(body.title).toBe("Introuvable");
			expect(res.headers.get("Content-Language")).toBe("fr");
			expect(res.headers.get("Vary")).toMatch(/(^|,\s*)Accept-Language(\s*,|$)/);
		});

		it("reaches zh-TW from zh-Hant-TW and zh-Hant, but not from zh-CN", async () => {
			for (const tag of ["zh-Hant-TW", "zh-Hant"]) {
				const res = await api("/v1/nowhere", { headers: { "Accept-Language": tag } });
				expect(res.headers.get("Content-Language")).toBe("zh-TW");
				expect((await res.json()) as { title: string }).toMatchObject({ title: "找不到內容" });
			}
			const simplified = await api("/v1/nowhere", { headers: { "Accept-Language": "zh-CN" } });
			expect(simplified.headers.get("Content-Language")).toBe("en");
		});

		it("lets ?lang= beat the saved locale, which beats Accept-Language", async () => {
			const { token } = await signedInUser({ locale: "ja" });
			const headers = { "Accept-Language": "de" };
			const saved = await send("PUT", "/v1/me/password", { token, headers, body: {} });
			expect(saved.headers.get("Content-Language")).toBe("ja");
			const savedBody = await expectProblem(saved, 400, "validation_failed");
			expect(savedBody.title).toBe("無効なリクエスト");

			const forced = await send("PUT", "/v1/me/password?lang=fr", { token, headers, body: {} });
			expect(forced.headers.get("Content-Language")).toBe("fr");
			expect((await expectProblem(forced, 400, "validation_failed")).title).toBe("Requête invalide");

			const anonymous = await send("PUT", "/v1/auth/nowhere", { headers, body: {} });
			expect(anonymous.headers.get("Content-Language")).toBe("de");
		});

		it("switches to a newly saved locale in the same response", async () => {
			const { token } = await signedInUser({ locale: "en" });
			const res = await send("PATCH", "/v1/me", { token, body: { locale: "es" } });
			expect(res.status).toBe(200);
			expect(res.headers.get("Content-Language")).toBe("es");
			const after = await send("PUT", "/v1/me/password", { token, headers: { "Accept-Language": "fr" }, body: {} });
			expect((await expectProblem(after, 400, "validation_failed")).title).toBe("Solicitud no válida");
		});
	});

	describe("error", () => {
		it("falls through an unknown ?lang= to Accept-Language, then to the default", async () => {
			const viaHeader = await api("/v1/nowhere?lang=tlh", { headers: { "Accept-Language": "de" } });
			expect(viaHeader.headers.get("Content-Language")).toBe("de");
			expect((await expectProblem(viaHeader, 404, "not_found")).title).toBe("Nicht gefunden");

			const viaDefault = await api("/v1/nowhere?lang=xx-YY", { headers: { "Accept-Language": "ko, pt;q=0.5" } });
			expect(viaDefault.headers.get("Content-Language")).toBe("en");
			expect((await expectProblem(viaDefault, 404, "not_found")).title).toBe("Not found");
		});

		it("survives malformed Accept-Language headers", async () => {
			for (const header of [";q=1", "q=0.5,;;;", "*;q=abc", "en-US;q=1.5, ar", "de-DE-".repeat(200)]) {
				const res = await api("/v1/locales", { headers: { "Accept-Language": header } });
				expect(res.status, header).toBe(200);
				expect(SUPPORTED_LOCALES).toContain(res.headers.get("Content-Language"));
			}
		});

		it("ignores the saved locale when the token is invalid", async () => {
			const { token } = await signedInUser({ locale: "ar" });
			const res = await send("GET", "/v1/me", {
				headers: { "Accept-Language": "es", Authorization: `Bearer ${token}x` },
			});
			expect(res.headers.get("Content-Language")).toBe("es");
			expect((await expectProblem(res, 401, "unauthorized")).title).toBe("Se requiere autenticación");
		});
	});
});
