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

/** Longest tag worth parsing; real BCP 47 tags are far shorter, so longer input is noise. */
const MAX_TAG_LENGTH = 64;

/**
 * Maps a requested BCP 47 tag to a shipped locale, or null. Exact codes win; otherwise likely
 * subtags decide, so `zh-Hant` and `zh-Hant-TW` reach `zh-TW` (same script) while `zh-CN` does not,
 * and `fr-CA` reaches `fr` (same language and script, the base locale preferred).
 */
export function matchLocale(tag: string): string | null {
	// Underscores are a common POSIX-ism (`pt_BR`), not a different tag.
	const trimmed = tag.trim().replaceAll("_", "-");
	if (!trimmed || trimmed === "*" || trimmed.length > MAX_TAG_LENGTH) return null;
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

/** The shipped locale DEFAULT_LOCALE names, or the base locale when it names none. */
export function defaultLocale(configured: string | undefined): string {
	return matchLocale(configured ?? "") ?? BASE_LOCALE;
}

/** Browsers send a handful of ranges; anything past this is ignored rather than parsed. */
const MAX_LANGUAGE_RANGES = 32;

type LanguageRange = { tag: string; quality: number; index: number };

function parseLanguageRange(part: string, index: number): LanguageRange | null {
	const [rawTag = "", ...params] = part.split(";");
	const tag = rawTag.trim();
	if (!tag) return null;
	let quality = 1;
	for (const param of params) {
		const [name = "", value = ""] = param.split("=").map((piece) => piece.trim());
		if (name.toLowerCase() !== "q") continue;
		// RFC 9110 qvalue: 0 to 1 with at most three decimals; anything else makes the range malformed.
		if (!/^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(value)) return null;
		quality = Number(value);
	}
	return { tag, quality, index };
}

/**
 * Picks the best shipped locale for an `Accept-Language` header, honouring q-values (RFC 9110);
 * null when none fits. `*` stands for any locale the header does not refuse with `q=0`, the
 * default first. Malformed ranges are skipped, never fatal.
 */
export function negotiateLocale(
	acceptLanguage: string | null | undefined,
	fallback: string = BASE_LOCALE,
): string | null {
	if (!acceptLanguage) return null;
	const ranges = acceptLanguage
		.split(",", MAX_LANGUAGE_RANGES)
		.map(parseLanguageRange)
		.filter((range): range is LanguageRange => range !== null);
	const refused = new Set(
		ranges.filter((range) => range.quality === 0 && range.tag !== "*").map((range) => range.tag.toLowerCase()),
	);
	const wanted = ranges.filter((range) => range.quality > 0).sort((a, b) => b.quality - a.quality || a.index - b.index);
	for (const range of wanted) {
		if (range.tag === "*") {
			const anyLocale = [fallback, ...SUPPORTED_LOCALES].find((code) => !refused.has(code.toLowerCase()));
			if (anyLocale) return anyLocale;
			continue;
		}
		const match = matchLocale(range.tag);
		if (match && !refused.has(match.toLowerCase())) return match;
	}
	return null;
}

const compiled = new Map<string, IntlMessageFormat>();

function format(locale: string, key: string, params: Record<string, unknown> | undefined): string | null {
	const message = flatCatalogs.get(locale)?.get(key);
	if (message === undefined) return null;
	const cacheKey = `${locale}\u0000${key}`;
	let formatter = compiled.get(cacheKey);
	try {
		if (!formatter) {
			// Parsed once per isolate: requests only format.
			formatter = new IntlMessageFormat(message, locale, undefined, { ignoreTag: true });
			compiled.set(cacheKey, formatter);
		}
		return String(formatter.format(params as Record<string, string | number | Date>));
	} catch {
		// A missing parameter must not turn an error response into a crash; the caller falls back.
		return null;
	}
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

const BYTE_UNITS = [
	{ unit: "gigabyte", size: 1024 ** 3 },
	{ unit: "megabyte", size: 1024 ** 2 },
	{ unit: "kilobyte", size: 1024 },
] as const;

const byteFormats = new Map<string, Intl.NumberFormat>();

/**
 * A byte count as the locale writes it ("10 MB", "64 ko", "10 م.ب"), for messages that mention
 * limits. Binary multiples, because the limits are configured as such (10 MiB = "10 MB").
 */
export function formatBytes(locale: string, bytes: number): string {
	const { unit, size } = BYTE_UNITS.find((candidate) => bytes >= candidate.size) ?? { unit: "byte", size: 1 };
	const cacheKey = `${locale}\u0000${unit}`;
	let formatter = byteFormats.get(cacheKey);
	if (!formatter) {
		formatter = new Intl.NumberFormat(locale, { style: "unit", unit, maximumFractionDigits: 1 });
		byteFormats.set(cacheKey, formatter);
	}
	return formatter.format(bytes / size);
}
