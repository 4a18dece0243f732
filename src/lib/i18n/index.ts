import { IntlMessageFormat } from "intl-messageformat";
import { catalogs } from "./catalogs.generated";

export type Direction = "ltr" | "rtl";
export type LocaleInfo = { code: string; name: string; dir: Direction };
export type Translate = (key: string, params?: Record<string, unknown>) => string;

type FlatCatalog = Map<string, string>;

function flatten(value: unknown, prefix: string, into: FlatCatalog): FlatCatalog {
	if (typeof value === "string") {
		into.set(prefix, value);
	} else if (value && typeof value === "object") {
		for (const [key, child] of Object.entries(value)) flatten(child, prefix ? `${prefix}.${key}` : key, into);
	}
	return into;
}

const flatCatalogs = new Map<string, FlatCatalog>(
	Object.entries(catalogs).map(([code, catalog]) => [code, flatten(catalog, "", new Map())]),
);

/** The fallback language whose catalog defines every key. */
export const BASE_LOCALE = "en";

/** Codes of every shipped locale, in file order. */
export const SUPPORTED_LOCALES: readonly string[] = [...flatCatalogs.keys()];

/** Name and writing direction of every shipped locale, from each catalog's `_meta`. */
export function listLocales(): LocaleInfo[] {
	return SUPPORTED_LOCALES.map((code) => {
		const flat = flatCatalogs.get(code);
		const dir = flat?.get("_meta.dir") === "rtl" ? "rtl" : "ltr";
		return { code, name: flat?.get("_meta.name") ?? code, dir };
	});
}

/** Writing direction of a shipped locale. */
export function directionOf(locale: string): Direction {
	return flatCatalogs.get(locale)?.get("_meta.dir") === "rtl" ? "rtl" : "ltr";
}

type Subtags = { language: string; script: string; region: string };

function likelySubtags(tag: string): Subtags | null {
	try {
		const locale = new Intl.Locale(tag).maximize();
		return { language: locale.language, script: locale.script ?? "", region: locale.region ?? "" };
	} catch {
		return null;
	}
}

const supportedSubtags = new Map(SUPPORTED_LOCALES.map((code) => [code, likelySubtags(code)]));

/**
 * Maps a requested BCP 47 tag to a shipped locale, or null. Exact codes win; otherwise likely
 * subtags decide, so `zh-Hant` and `zh-Hant-TW` reach `zh-TW` (same script) while `zh-CN` does not,
 * and `fr-CA` reaches `fr` (same language and script, the base locale preferred).
 */
export function matchLocale(tag: string): string | null {
	const trimmed = tag.trim();
	if (!trimmed || trimmed === "*") return null;
	const exact = SUPPORTED_LOCALES.find((code) => code.toLowerCase() === trimmed.toLowerCase());
	if (exact) return exact;
	const wanted = likelySubtags(trimmed);
	if (!wanted) return null;
	let sameScript: string | null = null;
	for (const [code, have] of supportedSubtags) {
		if (!have || have.language !== wanted.language || have.script !== wanted.script) continue;
		if (have.region === wanted.region) return code;
		// A region-less catalog (fr) serves every region of its language before a sibling region does.
		if (!sameScript || !code.includes("-")) sameScript = code;
	}
	return sameScript;
}

/** Picks the best shipped locale for an `Accept-Language` header, honouring q-values; null when none fits. */
export function negotiateLocale(acceptLanguage: string | null | undefined): string | null {
	if (!acceptLanguage) return null;
	const ranges = acceptLanguage
		.split(",")
		.map((part, index) => {
			const [tag = "", ...params] = part.trim().split(";");
			const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
			const quality = q ? Number(q.slice(2)) : 1;
			return { tag: tag.trim(), quality: Number.isFinite(quality) ? quality : 0, index };
		})
		.filter((range) => range.tag && range.quality > 0)
		.sort((a, b) => b.quality - a.quality || a.index - b.index);
	for (const range of ranges) {
		const match = matchLocale(range.tag);
		if (match) return match;
	}
	return null;
}

const compiled = new Map<string, IntlMessageFormat>();

function format(locale: string, key: string, params: Record<string, unknown> | undefined): string | null {
	const message = flatCatalogs.get(locale)?.get(key);
	if (message === undefined) return null;
	const cacheKey = `${locale}\u0000${key}`;
	let formatter = compiled.get(cacheKey);
	if (!formatter) {
		// Parsed once per isolate: requests only format.
		formatter = new IntlMessageFormat(message, locale, undefined, { ignoreTag: true });
		compiled.set(cacheKey, formatter);
	}
	return String(formatter.format(params as Record<string, string | number | Date>));
}

/** True when the locale's own catalog defines the key (no fallback involved). */
export function hasMessage(locale: string, key: string): boolean {
	return flatCatalogs.get(locale)?.has(key) ?? false;
}

/** Formats `key` in `locale`, falling back to the base locale, then to the key itself. */
export function translate(locale: string, key: string, params?: Record<string, unknown>): string {
	return format(locale, key, params) ?? format(BASE_LOCALE, key, params) ?? key;
}

/** A translate function bound to one locale. */
export function translator(locale: string): Translate {
	return (key, params) => translate(locale, key, params);
}
