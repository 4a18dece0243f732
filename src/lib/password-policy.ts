import { COMMON_PASSWORDS } from "./common-passwords.generated";

let common: Set<string> | undefined;

/**
 * True when the password (compared case-insensitively, surrounding spaces ignored) is on the shipped
 * list of common passwords (scripts/make-common-passwords.mjs). The Set is built on first use,
 * once per isolate, so each check is O(1).
 */
export function isCommonPassword(password: string): boolean {
	common ??= new Set(COMMON_PASSWORDS.split("\n"));
	return common.has(password.normalize("NFKC").trim().toLowerCase());
}

/** Compatibility-folds, trims and lower-cases, so full-width or styled letters compare as their plain forms. */
function folded(value: string): string {
	return value.normalize("NFKC").trim().toLowerCase();
}

/**
 * True when the password is the account's email in any spelling that displays the same: NFKC
 * folds full-width and other compatibility forms ("ａｄａ＠…" is "ada@…"), case and surrounding
 * spaces are ignored.
 */
export function passwordEqualsEmail(password: string, email: string): boolean {
	return folded(password) === folded(email);
}
