#!/usr/bin/env node
// Aligns every locales/<code>.json with en.json (npm run i18n:sync): keys added to en are copied
// in English (i18n:check then lists them as untranslated), keys no longer in en are dropped, and
// every file follows en's key order so diffs stay small. Translations that exist are never touched.
import { BASE_LOCALE, alignToBase, localeCodes, readCatalog, writeCatalog } from "./i18n-tools.mjs";

const base = readCatalog(BASE_LOCALE);
for (const code of localeCodes()) {
	if (code === BASE_LOCALE) continue;
	const current = readCatalog(code);
	const { catalog, report } = alignToBase(base, current);
	const changed = JSON.stringify(catalog) !== JSON.stringify(current);
	if (changed) writeCatalog(code, catalog);
	const parts = [`${report.added.length} added (English, to translate)`, `${report.removed.length} removed`];
	console.log(`${code.padEnd(6)} ${changed ? parts.join(", ") : "already in sync"}`);
	for (const key of report.added) console.log(`       + ${key}`);
	for (const key of report.removed) console.log(`       - ${key}`);
}
