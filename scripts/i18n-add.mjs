#!/usr/bin/env node
// Scaffolds locales/<code>.json for a new language (npm run i18n:add -- <code>).
// The new file is a copy of en.json with `_meta` filled in from Intl (native name, text direction);
// its messages stay English until translated, which i18n:check reports as "untranslated" without
// failing, so a half-translated language still ships with English where it has gaps.
import { existsSync } from "node:fs";
import { relative } from "node:path";
import {
	BASE_LOCALE,
	alignToBase,
	catalogPath,
	nativeName,
	readCatalog,
	root,
	textDirection,
	writeCatalog,
} from "./i18n-tools.mjs";

const requested = process.argv[2];
if (!requested) {
	console.error("usage: npm run i18n:add -- <BCP 47 code>   e.g. npm run i18n:add -- pt-BR");
	process.exit(1);
}
let code;
try {
	[code] = Intl.getCanonicalLocales(requested.replaceAll("_", "-"));
} catch {
	console.error(`i18n:add: "${requested}" is not a valid BCP 47 language tag`);
	process.exit(1);
}
if (!/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(code)) {
	console.error(`i18n:add: use a plain language[-Script][-REGION] code, not "${code}"`);
	process.exit(1);
}
const path = catalogPath(code);
if (existsSync(path)) {
	console.error(`i18n:add: ${relative(root, path)} already exists; run npm run i18n:sync to add missing keys`);
	process.exit(1);
}

const base = readCatalog(BASE_LOCALE);
const { catalog } = alignToBase(base, { _meta: { name: nativeName(code), dir: textDirection(code) } });
writeCatalog(code, catalog);
// Refresh the generated bundle now, so type checks and `wrangler dev` see the language at once.
await import("./i18n-bundle.mjs");

const categories = new Intl.PluralRules(code).resolvedOptions().pluralCategories;
console.log(`Created ${relative(root, path)}: name "${catalog._meta.name}", dir "${catalog._meta.dir}".`);
console.log("Next:");
console.log(
	`  1. Check _meta.name (shown in GET /v1/locales) and translate every message; keep {placeholders} as they are.`,
);
console.log(`  2. Plurals in ${code} use the categories ${categories.join(", ")}: give each plural those cases.`);
console.log("  3. npm run i18n:check  (lists what is still untranslated)");
