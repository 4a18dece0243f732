/**
 * Pure helpers for serving stored files over HTTP: safe download names,
 * Content-Disposition, single byte ranges and entity-tag matching.
 */

// C0 controls, DEL and C1 controls, plus the bidi embedding/override/isolate
// characters that can make "gpj.exe" render as "exe.jpg".
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
// Unpaired surrogates survive NFC but make encodeURIComponent throw.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const MAX_FILENAME_BYTES = 255;

/**
 * Turns a client-supplied file name into one that is safe to store and echo
 * back: NFC-normalised, without directory parts, control or bidi-override
 * characters, leading dots or runs of whitespace, and at most 255 UTF-8 bytes.
 *
 * @param input The name as received (e.g. from a multipart part).
 * @param fallback Returned verbatim when nothing usable is left.
 * @returns The cleaned name, or `fallback`.
 */
export function sanitizeFilename(input: string, fallback: string): string {
	// Browsers and some tools send full client paths, with either separator.
	let name = input.slice(Math.max(input.lastIndexOf("/"), input.lastIndexOf("\\")) + 1);
	// Normalise only after removals: dropping a control character can leave a
	// base letter next to a combining mark that NFC would have composed.
	name = name.replace(UNSAFE_CHARS, "").replace(LONE_SURROGATE, "\uFFFD").normalize("NFC");
	name = name.replace(/\s+/g, " ");
	// Leading dots would make a hidden file (or "..") once written to disk.
	name = name.replace(/^[.\s]+/, "").trimEnd();
	name = truncateUtf8(name, MAX_FILENAME_BYTES).trimEnd();
	return name === "" ? fallback : name;
}

/** Cuts on code point boundaries, so a surrogate pair is kept or dropped whole. */
function truncateUtf8(value: string, maxBytes: number): string {
	let bytes = 0;
	let end = 0;
	for (const char of value) {
		const codePoint = char.codePointAt(0) ?? 0;
		const size = codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4;
		if (bytes + size > maxBytes) break;
		bytes += size;
		end += char.length;
	}
	return value.slice(0, end);
}

/**
 * Builds a Content-Disposition value carrying both a plain ASCII `filename`
 * for old clients and the exact name as RFC 8187 `filename*`.
 *
 * Whatever `filename` contains, the result holds only printable ASCII, so it
 * cannot break out of the header or the quoted string.
 *
 * @param kind Whether the browser should display or download the file.
 * @param filename The name to suggest; should already be sanitised.
 * @returns A header value such as `inline; filename="a.png"; filename*=UTF-8''a.png`.
 */
export function contentDisposition(kind: "inline" | "attachment", filename: string): string {
	const name = filename.replace(LONE_SURROGATE, "\uFFFD");
	if (name === "") return kind;
	const ascii = name.replace(/[^\x20-\x7e]|["\\]/gu, "_");
	// filename* first, as the contract shows it; the quoted ASCII fallback serves pre-RFC 6266
	// clients, and RFC 6266 makes filename* win whatever the order.
	return `${kind}; filename*=UTF-8''${encodeRfc8187(name)}; filename="${ascii}"`;
}

function encodeRfc8187(value: string): string {
	// encodeURIComponent leaves ' ( ) * unescaped, but they are not attr-chars.
	return encodeURIComponent(value).replace(
		/['()*]/g,
		(c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`,
	);
}

export type RangeResult =
	| { kind: "none" }
	| { kind: "range"; offset: number; length: number }
	| { kind: "unsatisfiable" };

const SINGLE_RANGE = /^bytes=(?:(\d+)-(\d*)|-(\d+))$/i;

/**
 * Interprets a Range header against a representation of `size` bytes
 * (RFC 9110 section 14). Only a single byte range is honoured; multiple
 * ranges and malformed headers yield `none`, i.e. serve the whole content,
 * which the RFC permits.
 *
 * @param header The raw Range header, if any.
 * @param size The full length of the representation in bytes.
 * @returns `none` (send 200), a range to send with 206, or `unsatisfiable` (send 416).
 */
export function parseRange(header: string | null | undefined, size: number): RangeResult {
	if (!header) return { kind: "none" };
	const match = SINGLE_RANGE.exec(header.trim());
	if (!match) return { kind: "none" };
	const [, firstText, lastText, suffixText] = match;

	if (suffixText !== undefined) {
		const suffix = Number(suffixText);
		if (suffix === 0 || size === 0) return { kind: "unsatisfiable" };
		const length = Math.min(suffix, size);
		return { kind: "range", offset: size - length, length };
	}

	const first = Number(firstText);
	let last = lastText === "" || lastText === undefined ? Number.POSITIVE_INFINITY : Number(lastText);
	// A last-pos before first-pos makes the range-spec invalid, not unsatisfiable.
	if (last < first) return { kind: "none" };
	if (first >= size) return { kind: "unsatisfiable" };
	last = Math.min(last, size - 1);
	return { kind: "range", offset: first, length: last - first + 1 };
}

type EntityTag = { weak: boolean; opaque: string };

/**
 * Evaluates an If-None-Match (weak comparison) or If-Match (strong
 * comparison) header against the current entity tag (RFC 9110 section 13.1).
 *
 * @param header The raw header value, if any.
 * @param etag The resource's current entity tag, quoted, e.g. `"abc"`.
 * @param weak `true` for the weak comparison used by If-None-Match, `false` for If-Match's strong one.
 * @returns Whether any listed tag (or `*`) matches; `false` for an absent header.
 */
export function etagMatches(header: string | null | undefined, etag: string, weak: boolean): boolean {
	if (!header) return false;
	if (header.trim() === "*") return true;
	const current = parseEntityTags(etag)[0];
	if (!current) return false;
	for (const candidate of parseEntityTags(header)) {
		if (candidate.opaque !== current.opaque) continue;
		if (weak || (!candidate.weak && !current.weak)) return true;
	}
	return false;
}

/**
 * Tokenises a comma-separated list of entity tags. Commas are legal inside
 * the quotes, so a plain split would be wrong; unparseable elements are
 * skipped up to the next comma rather than poisoning the whole list.
 */
function parseEntityTags(value: string): EntityTag[] {
	const tags: EntityTag[] = [];
	let pos = 0;
	while (pos < value.length) {
		const char = value[pos];
		if (char === " " || char === "\t" || char === ",") {
			pos++;
			continue;
		}
		let weakTag = false;
		if (value.startsWith("W/", pos)) {
			weakTag = true;
			pos += 2;
		}
		if (value[pos] === '"') {
			const close = value.indexOf('"', pos + 1);
			if (close === -1) break;
			tags.push({ weak: weakTag, opaque: value.slice(pos + 1, close) });
			pos = close + 1;
			continue;
		}
		const comma = value.indexOf(",", pos);
		if (comma === -1) break;
		pos = comma + 1;
	}
	return tags;
}
