#!/usr/bin/env node
// Checks every locales/<code>.json against locales/en.json (npm run i18n:check).
// Errors (exit 1): unreadable JSON, `_meta` missing or wrong, a missing or extra key, a value that
// is not a string, an ICU syntax error, placeholders (argument names) that differ from en, a
// plural or select without an `other` case.
// Warnings (reported, exit 0; exit 1 with --strict; --verbose lists every untranslated key): a message identical to en (untranslated, as
// i18n:add and i18n:sync leave them), a plural missing a category the language uses or using one
// it never selects, a select whose cases differ from en, `_meta.dir` disagreeing with Intl.
import { TYPE, parse } from "@formatjs/icu-messageformat-parser";
import { BASE_LOCALE, flatten, localeCodes, readCatalog, textDirection } from "./i18n-tools.mjs";

const strict = process.argv.includes("--strict");
const verbose = process.argv.includes("--verbose");
/** Untranslated keys listed per locale before the list is cut short (all of them with --verbose). */
const UNTRANSLATED_SHOWN = 10;

/** Walks an ICU AST, collecting argument names, plurals and selects. */
function inspect(elements, found = { args: new Set(), plurals: [], selects: [] }) {
	for (const element of elements) {
		if (
			element.type === TYPE.argument ||
			element.type === TYPE.number ||
			element.type === TYPE.date ||
			element.type === TYPE.time
		) {
			found.args.add(element.value);
		} else if (element.type === TYPE.plural || element.type === TYPE.select) {
			found.args.add(element.value);
			(element.type === TYPE.plural ? found.plurals : found.selects).push(element);
			for (const option of Object.values(element.options)) inspect(option.value, found);
		} else if (element.type === TYPE.tag) {
			inspect(element.children, found);
		}
	}
	return found;
}

function analyse(message) {
	try {
		return { ast: inspect(parse(message, { ignoreTag: true, requiresOtherClause: false })) };
	} catch (error) {
		const at = error.location ? ` at column ${error.location.start.column}` : "";
		return { syntaxError: `${error.message}${at}` };
	}
}

const sameSet = (a, b) => a.size === b.size && [...a].every((item) => b.has(item));
const list = (set) => [...set].sort().join(", ") || "(none)";

function checkMeta(code, catalog, problems) {
	const meta = catalog._meta;
	if (!meta || typeof meta !== "object") {
		problems.errors.push('_meta is missing (expected {"name": "<native name>", "dir": "ltr" | "rtl"})');
		return;
	}
	if (typeof meta.name !== "string" || !meta.name.trim()) problems.errors.push("_meta.name is missing");
	if (meta.dir !== "ltr" && meta.dir !== "rtl") {
		problems.errors.push(`_meta.dir must be "ltr" or "rtl", found ${JSON.stringify(meta.dir)}`);
	} else if (meta.dir !== textDirection(code)) {
		problems.warnings.push(`_meta.dir is "${meta.dir}" but Intl says ${code} is written ${textDirection(code)}`);
	}
}

function checkPlurals(code, key, plurals, problems) {
	for (const plural of plurals) {
		const categories = new Intl.PluralRules(code, { type: plural.pluralType }).resolvedOptions().pluralCategories;
		const cases = Object.keys(plural.options).filter((option) => !option.startsWith("="));
		// A missing `other` is already an error of its own.
		const missing = categories.filter((category) => category !== "other" && !cases.includes(category));
		const unused = cases.filter((option) => !categories.includes(option));
		if (missing.length) {
			problems.warnings.push(
				`${key}: plural {${plural.value}} has no ${missing.join("/")} case (${code} uses ${categories.join("/")})`,
			);
		}
		if (unused.length) {
			problems.warnings.push(`${key}: plural {${plural.value}} case ${unused.join("/")} is never selected in ${code}`);
		}
	}
}

function checkLocale(code, base) {
	const problems = { errors: [], warnings: [], untranslated: [] };
	let catalog;
	try {
		catalog = readCatalog(code);
	} catch (error) {
		problems.errors.push(error.message);
		return problems;
	}
	checkMeta(code, catalog, problems);
	const messages = flatten(catalog);
	for (const key of base.keys()) if (!messages.has(key)) problems.errors.push(`${key}: missing`);
	for (const [key, message] of messages) {
		if (!base.has(key)) {
			problems.errors.push(`${key}: not in ${BASE_LOCALE}.json (extra key)`);
			continue;
		}
		if (typeof message !== "string") {
			problems.errors.push(`${key}: must be a string, found ${JSON.stringify(message)}`);
			continue;
		}
		const { ast, syntaxError } = analyse(message);
		if (syntaxError) {
			problems.errors.push(`${key}: ICU syntax error ${syntaxError}`);
			continue;
		}
		for (const element of [...ast.plurals, ...ast.selects]) {
			if (!("other" in element.options)) problems.errors.push(`${key}: {${element.value}} has no "other" case`);
		}
		checkPlurals(code, key, ast.plurals, problems);
		const reference = base.get(key);
		if (code === BASE_LOCALE || !reference?.ast) continue;
		if (!sameSet(ast.args, reference.ast.args)) {
			problems.errors.push(
				`${key}: placeholders {${list(ast.args)}} differ from ${BASE_LOCALE} {${list(reference.ast.args)}}`,
			);
		}
		for (const select of ast.selects) {
			const original = reference.ast.selects.find((candidate) => candidate.value === select.value);
			const cases = new Set(Object.keys(select.options));
			if (original && !sameSet(cases, new Set(Object.keys(original.options)))) {
				problems.warnings.push(`${key}: select {${select.value}} cases {${list(cases)}} differ from ${BASE_LOCALE}`);
			}
		}
		if (message === reference.message && /\p{L}/u.test(message)) problems.untranslated.push(key);
	}
	return problems;
}

const codes = localeCodes();
let baseCatalog;
try {
	baseCatalog = readCatalog(BASE_LOCALE);
} catch (error) {
	console.error(`i18n:check: ${error.message}`);
	process.exit(1);
}
const base = new Map(
	[...flatten(baseCatalog)].map(([key, message]) => [
		key,
		{ message, ast: typeof message === "string" ? analyse(message).ast : undefined },
	]),
);

let errorCount = 0;
let warningCount = 0;
for (const code of codes) {
	const { errors, warnings, untranslated } = checkLocale(code, base);
	errorCount += errors.length;
	warningCount += warnings.length + untranslated.length;
	const status = errors.length ? "FAIL" : warnings.length || untranslated.length ? "warn" : "ok";
	const counts = [`${errors.length} error(s)`, `${warnings.length} warning(s)`, `${untranslated.length} untranslated`];
	console.log(`${status.padEnd(4)} ${code.padEnd(6)} ${counts.join(", ")}`);
	for (const error of errors) console.log(`       error    ${error}`);
	for (const warning of warnings) console.log(`       warning  ${warning}`);
	if (untranslated.length) {
		const shown = verbose ? untranslated : untranslated.slice(0, UNTRANSLATED_SHOWN);
		const more = untranslated.length - shown.length;
		const tail = more > 0 ? `, … ${more} more (--verbose lists all)` : "";
		console.log(`       untranslated (same text as ${BASE_LOCALE}): ${shown.join(", ")}${tail}`);
	}
}
console.log(
	`i18n:check: ${codes.length} locale(s), ${base.size} keys, ${errorCount} error(s), ${warningCount} warning(s)`,
);
if (errorCount > 0 || (strict && warningCount > 0)) process.exit(1);
