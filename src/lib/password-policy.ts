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
