// Shared helpers of the locale scripts (i18n-check, i18n-add, i18n-sync). Plain Node, no build step.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const BASE_LOCALE = "en";
export const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const localesDir = join(root, "locales");

/** Same file-name rule as scripts/i18n-bundle.mjs, so every checked file is also shipped. */
const LOCALE_FILE = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*\.json$/;

/** Codes of every locales/<code>.json, base locale first. */
export function localeCodes() {
	const codes = readdirSync(localesDir)
		.filter((file) => LOCALE_FILE.test(file))
		.map((file) => file.slice(0, -5))
		.sort();
	return [BASE_LOCALE, ...codes.filter((code) => code !== BASE_LOCALE)];
}

export function catalogPath(code) {
	return join(localesDir, `${code}.json`);
}

/** Parsed catalog; throws with the file name on invalid JSON. */
export function readCatalog(code) {
	const path = catalogPath(code);
	try {
		return JSON.parse(readFileSync(path, "utf8"));
	} catch (error) {
		throw new Error(`${path}: ${error.message}`);
	}
}

/** Writes a catalog the way locales/en.json is formatted (tabs, trailing newline). */
export function writeCatalog(code, catalog) {
	writeFileSync(catalogPath(code), `${JSON.stringify(catalog, null, "\t")}\n`);
}

/**
 * Flattens a catalog into "a.b.c" -> value, skipping `_meta`. Values that are neither strings nor
 * objects are kept as they are, so the checker can report them.
 */
export function flatten(value, prefix = "", into = new Map()) {
	for (const [key, child] of Object.entries(value)) {
		const path = prefix ? `${prefix}.${key}` : key;
		if (!prefix && key === "_meta") continue;
		if (child && typeof child === "object" && !Array.isArray(child)) flatten(child, path, into);
		else into.set(path, child);
	}
	return into;
}

/**
 * Rebuilds `catalog` with exactly the keys of `base`, in base's order: existing messages are kept,
 * missing ones are copied from `base` (untranslated, reported by i18n:check), extra ones dropped.
 */
export function alignToBase(base, catalog, prefix = "", report = { added: [], removed: [] }) {
	const aligned = {};
	for (const [key, baseChild] of Object.entries(base)) {
		const path = prefix ? `${prefix}.${key}` : key;
		if (!prefix && key === "_meta") {
			aligned._meta = catalog?._meta ?? baseChild;
			continue;
		}
		const child = catalog?.[key];
		if (baseChild && typeof baseChild === "object") {
			const nested = child && typeof child === "object" && !Array.isArray(child) ? child : undefined;
			aligned[key] = alignToBase(baseChild, nested, path, report).catalog;
		} else if (typeof child === "string") {
			aligned[key] = child;
		} else {
			aligned[key] = baseChild;
			report.added.push(path);
		}
	}
	for (const key of Object.keys(catalog ?? {})) {
		if (!(key in base)) report.removed.push(prefix ? `${prefix}.${key}` : key);
	}
	return { catalog: aligned, report };
}

// Scripts whose characters run right to left; a fallback where Intl.Locale has no text info.
const RTL_SCRIPTS = new Set(["Adlm", "Arab", "Hebr", "Mand", "Mend", "Nkoo", "Rohg", "Samr", "Syrc", "Thaa", "Yezi"]);

/** "rtl" or "ltr" for a locale, from Intl's text info where the runtime has it. */
export function textDirection(code) {
	const locale = new Intl.Locale(code);
	const info = typeof locale.getTextInfo === "function" ? locale.getTextInfo() : locale.textInfo;
	if (info?.direction === "rtl" || info?.direction === "ltr") return info.direction;
	return RTL_SCRIPTS.has(locale.maximize().script ?? "") ? "rtl" : "ltr";
}

/** The language's own name for itself, capitalized as a menu entry ("Français", "Português (Brasil)"). */
export function nativeName(code) {
	const name = new Intl.DisplayNames([code], { type: "language", fallback: "none" }).of(code);
	if (!name) return code;
	return name.charAt(0).toLocaleUpperCase(code) + name.slice(1);
}
