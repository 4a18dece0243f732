/**
 * Characters a plain-text display name must not hold: C0/C1 controls (line breaks and tabs
 * included), the Unicode line and paragraph separators, and the bidirectional embeddings,
 * overrides and isolates that reorder the text around them (a name could otherwise add lines to a
 * mail or make a URL read backwards).
 */
const FORBIDDEN = /[\p{Cc}\u2028\u2029\u202A-\u202E\u2066-\u2069]/u;

/** True when `value` is one line of plain text (see FORBIDDEN). */
export function isPlainText(value: string): boolean {
	return !FORBIDDEN.test(value);
}
