import { type MessageFormatElement, TYPE, parse } from "@formatjs/icu-messageformat-parser";
import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../src/lib/errors";
import { BASE_LOCALE, SUPPORTED_LOCALES, formatBytes, hasMessage, listLocales, translate } from "../../src/lib/i18n";
import { catalogs } from "../../src/lib/i18n/catalogs.generated";

/** The languages the product promises; a catalog missing from locales/ fails here, not in production. */
const SHIPPED = ["en", "fr", "es", "de", "zh-TW", "ja", "ar"] as const;

function flatten(value: unknown, prefix = "", into = new Map<string, string>()): Map<string, string> {
	if (typeof value === "string") into.set(prefix, value);
	else if (value && typeof value === "object") {
		for (const [key, child] of Object.entries(value)) flatten(child, prefix ? `${prefix}.${key}` : key, into);
	}
	return into;
}

const baseMessages = flatten(catalogs[BASE_LOCALE]);

type MessageArguments = { params: Record<string, unknown>; plurals: string[] };

/**
 * Sample values for a message's arguments, typed from the en message (a count for plural and
 * number, a date for date/time, a named case for select, text otherwise), so every message can be
 * formatted, including keys other features add later.
 */
function messageArguments(message: string): MessageArguments {
	const found: MessageArguments = { params: {}, plurals: [] };
	const visit = (elements: MessageFormatElement[]) => {
		for (const element of elements) {
			if (element.type === TYPE.plural) found.plurals.push(element.value);
			if (element.type === TYPE.plural || element.type === TYPE.number) found.params[element.value] = 3;
			else if (element.type === TYPE.date || element.type === TYPE.time) found.params[element.value] = new Date(0);
			else if (element.type === TYPE.select) {
				found.params[element.value] = Object.keys(element.options).find((option) => option !== "other") ?? "other";
			} else if (element.type === TYPE.argument) found.params[element.value] ??= "Sample";
			if (element.type === TYPE.plural || element.type === TYPE.select) {
				for (const option of Object.values(element.options)) visit(option.value);
			} else if (element.type === TYPE.tag) visit(element.children);
		}
	};
	visit(parse(message, { ignoreTag: true }));
	return found;
}

const baseArguments = new Map([...baseMessages].map(([key, message]) => [key, messageArguments(message)]));

function sampleParams(key: string): Record<string, unknown> {
	return baseArguments.get(key)?.params ?? {};
}

describe("shipped catalogs", () => {
	it("ships every promised language with its native name and direction", () => {
		expect([...SUPPORTED_LOCALES].sort()).toEqual([...SHIPPED].sort());
		const byCode = Object.fromEntries(listLocales().map((info) => [info.code, info]));
		expect(byCode).toEqual({
			en: { code: "en", name: "English", dir: "ltr" },
			fr: { code: "fr", name: "Français", dir: "ltr" },
			es: { code: "es", name: "Español", dir: "ltr" },
			de: { code: "de", name: "Deutsch", dir: "ltr" },
			"zh-TW": { code: "zh-TW", name: "繁體中文", dir: "ltr" },
			ja: { code: "ja", name: "日本語", dir: "ltr" },
			ar: { code: "ar", name: "العربية", dir: "rtl" },
		});
	});

	it.each(SHIPPED)("%s defines every key of en itself (no fallback)", (locale) => {
		const missing = [...baseMessages.keys()].filter((key) => !hasMessage(locale, key));
		expect(missing).toEqual([]);
	});

	describe.each(SHIPPED)("errors in %s", (locale) => {
		it.each(ERROR_CODES)("%s has its own title and detail", (code) => {
			for (const part of ["title", "detail"]) {
				const key = `errors.${code}.${part}`;
				expect(hasMessage(locale, key), key).toBe(true);
				const text = translate(locale, key, sampleParams(key));
				expect(text).not.toBe(key);
				expect(text).not.toMatch(/[{}]|NaN/);
				if (locale !== BASE_LOCALE) {
					expect(text, `${locale} ${key} is still English`).not.toBe(translate(BASE_LOCALE, key, sampleParams(key)));
				}
			}
		});
	});

	it.each(SHIPPED)("%s formats every message with the documented arguments", (locale) => {
		for (const key of baseMessages.keys()) {
			const text = translate(locale, key, sampleParams(key));
			expect(text, `${locale} ${key}`).not.toBe(key);
			expect(text, `${locale} ${key}`).not.toMatch(/[{}]|NaN/);
		}
	});

	it("uses all six Arabic plural forms in every Arabic plural message", () => {
		const plurals = [...baseArguments].filter(([, args]) => args.plurals.length > 0);
		expect(plurals.length).toBeGreaterThan(0);
		for (const [key, args] of plurals) {
			const forms = [0, 1, 2, 5, 11, 100].map((n) =>
				translate("ar", key, { ...args.params, ...Object.fromEntries(args.plurals.map((name) => [name, n])) }).replace(
					/\d+/g,
					"#",
				),
			);
			// With the digits masked, six different strings can only come from six different cases.
			expect(new Set(forms).size, `${key}: ${forms.join(" | ")}`).toBe(6);
		}
	});
});

describe("plural rules", () => {
	const counts = [0, 1, 2, 5, 11, 100];

	it("English picks one/other", () => {
		expect(counts.map((seconds) => translate("en", "errors.rate_limited.detail", { seconds }))).toEqual([
			"Too many attempts. Try again in 0 seconds.",
			"Too many attempts. Try again in 1 second.",
			"Too many attempts. Try again in 2 seconds.",
			"Too many attempts. Try again in 5 seconds.",
			"Too many attempts. Try again in 11 seconds.",
			"Too many attempts. Try again in 100 seconds.",
		]);
	});

	it("Arabic picks zero/one/two/few/many/other", () => {
		expect(counts.map((seconds) => translate("ar", "errors.rate_limited.detail", { seconds }))).toEqual([
			"محاولات كثيرة جدًا. حاول مرة أخرى الآن.",
			"محاولات كثيرة جدًا. حاول مرة أخرى بعد ثانية واحدة.",
			"محاولات كثيرة جدًا. حاول مرة أخرى بعد ثانيتين.",
			"محاولات كثيرة جدًا. حاول مرة أخرى بعد 5 ثوانٍ.",
			"محاولات كثيرة جدًا. حاول مرة أخرى بعد 11 ثانيةً.",
			"محاولات كثيرة جدًا. حاول مرة أخرى بعد 100 ثانيةٍ.",
		]);
		expect(counts.map((minimum) => translate("ar", "validation.too_small_string", { minimum }))).toEqual([
			"استخدم 0 حرف على الأقل.",
			"استخدم حرفًا واحدًا على الأقل.",
			"استخدم حرفين على الأقل.",
			"استخدم 5 أحرف على الأقل.",
			"استخدم 11 حرفًا على الأقل.",
			"استخدم 100 حرفٍ على الأقل.",
		]);
	});

	it("French treats 0 as singular and uses « de » for round millions", () => {
		expect(translate("fr", "errors.rate_limited.detail", { seconds: 0 })).toBe(
			"Trop de tentatives. Réessayez dans 0 seconde.",
		);
		expect(translate("fr", "errors.rate_limited.detail", { seconds: 2 })).toBe(
			"Trop de tentatives. Réessayez dans 2 secondes.",
		);
		expect(translate("fr", "errors.rate_limited.detail", { seconds: 1_000_000 })).toMatch(
			/^Trop de tentatives\. Réessayez dans 1\s000\s000 de secondes\.$/u,
		);
	});

	it("formats numbers the locale's way", () => {
		expect(translate("en", "errors.image_dimensions_too_large.detail", { limit: 50_000_000 })).toBe(
			"Images may have at most 50,000,000 pixels.",
		);
		expect(translate("de", "errors.image_dimensions_too_large.detail", { limit: 50_000_000 })).toBe(
			"Bilder dürfen höchstens 50.000.000 Pixel haben.",
		);
	});
});

describe("formatBytes", () => {
	it("writes limits with the locale's unit names", () => {
		expect(formatBytes("en", 10 * 1024 * 1024)).toBe("10 MB");
		expect(formatBytes("en", 64 * 1024)).toBe("64 kB");
		// French separates number and unit with a narrow no-break space.
		expect(formatBytes("fr", 64 * 1024)).toBe("64\u202fko");
		expect(formatBytes("fr", 10 * 1024 * 1024)).toBe("10\u202fMo");
		expect(formatBytes("en", 1.5 * 1024 * 1024)).toBe("1.5 MB");
		expect(formatBytes("de", 1.5 * 1024 * 1024)).toBe("1,5 MB");
		expect(formatBytes("en", 2 * 1024 ** 3)).toBe("2 GB");
		expect(formatBytes("en", 500)).toBe("500 byte");
	});

	it("plugs into the size messages", () => {
		const limit = formatBytes("fr", 10 * 1024 * 1024);
		expect(translate("fr", "errors.image_too_large.detail", { limit })).toBe(
			"Les images ne doivent pas dépasser 10\u202fMo.",
		);
		expect(translate("ja", "errors.image_too_large.detail", { limit: formatBytes("ja", 10 * 1024 * 1024) })).toBe(
			"画像のサイズは 10 MB までです。",
		);
	});
});

describe("translate fallbacks", () => {
	it("falls back to English for an unknown locale and to the key for an unknown key", () => {
		expect(translate("xx", "errors.not_found.title")).toBe("Not found");
		expect(translate("fr", "errors.no_such_code.title")).toBe("errors.no_such_code.title");
	});

	it("never throws when a parameter is missing", () => {
		expect(() => translate("ar", "errors.rate_limited.detail")).not.toThrow();
		expect(translate("ar", "errors.rate_limited.detail")).toBe("errors.rate_limited.detail");
	});
});
