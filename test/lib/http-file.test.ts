import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { contentDisposition, etagMatches, parseRange, sanitizeFilename } from "../../src/lib/http-file";

const utf8Length = (value: string) => new TextEncoder().encode(value).length;

describe("sanitizeFilename", () => {
	it.each([
		["../../etc/passwd", "passwd"],
		["..\\..\\windows\\system32\\cmd.exe", "cmd.exe"],
		["C:\\Users\\me\\Pictures\\cat.png", "cat.png"],
		["/var/tmp/", "fallback"],
		["photos/2024\\summer/beach.jpg", "beach.jpg"],
	])("strips path components: %j", (input, expected) => {
		expect(sanitizeFilename(input, "fallback")).toBe(expected);
	});

	it.each([
		[".htaccess", "htaccess"],
		["...hidden.png", "hidden.png"],
		["..", "fallback"],
		[".", "fallback"],
		[" . .env", "env"],
	])("strips leading dots: %j", (input, expected) => {
		expect(sanitizeFilename(input, "fallback")).toBe(expected);
	});

	it("removes C0, DEL and C1 control characters", () => {
		expect(sanitizeFilename("a\u0000b\u0007c\u001fd\u007fe\u0080f\u009fg.png", "x")).toBe("abcdefg.png");
	});

	it("removes CR/LF so header injection attempts stay on one line", () => {
		const name = sanitizeFilename('a"\r\nSet-Cookie: x', "x");
		expect(name).not.toMatch(/[\r\n]/);
		expect(name).toBe('a"Set-Cookie: x');
	});

	it("removes bidi overrides and isolates (RTL spoofing)", () => {
		const spoof = "invoice\u202Egpj.exe";
		expect(sanitizeFilename(spoof, "x")).toBe("invoicegpj.exe");
		const all = "a\u202Ab\u202Bc\u202Cd\u202De\u202Ef\u2066g\u2067h\u2068i\u2069j";
		expect(sanitizeFilename(all, "x")).toBe("abcdefghij");
	});

	it("collapses and trims whitespace", () => {
		expect(sanitizeFilename("  my \t\u00a0  holiday\u3000photo .jpg  ", "x")).toBe("my holiday photo .jpg");
	});

	it("normalises to NFC, also across removed characters", () => {
		expect(sanitizeFilename("Cafe\u0301.png", "x")).toBe("Caf\u00e9.png");
		expect(sanitizeFilename("Cafe\u0000\u0301.png", "x")).toBe("Caf\u00e9.png");
	});

	it("keeps emoji and non-Latin scripts", () => {
		expect(sanitizeFilename("👩‍👩‍👧 家族 фото.webp", "x")).toBe("👩‍👩‍👧 家族 фото.webp");
	});

	it("replaces lone surrogates instead of passing them on", () => {
		expect(sanitizeFilename("a\ud800b.png", "x")).toBe("a\ufffdb.png");
		expect(sanitizeFilename("a\udc00b.png", "x")).toBe("a\ufffdb.png");
	});

	it("falls back when nothing is left", () => {
		expect(sanitizeFilename("", "upload.bin")).toBe("upload.bin");
		expect(sanitizeFilename("   ", "upload.bin")).toBe("upload.bin");
		expect(sanitizeFilename("\u0000\u202e\r\n", "upload.bin")).toBe("upload.bin");
		expect(sanitizeFilename("dir/", "upload.bin")).toBe("upload.bin");
	});

	it("limits the result to 255 UTF-8 bytes", () => {
		expect(sanitizeFilename("a".repeat(300), "x")).toBe("a".repeat(255));
		// 3-byte characters: 85 fit exactly.
		expect(sanitizeFilename("字".repeat(100), "x")).toBe("字".repeat(85));
		// 2-byte characters after one ASCII byte: 127 fit (1 + 254 bytes).
		expect(sanitizeFilename(`a${"é".repeat(200)}`, "x")).toBe(`a${"é".repeat(127)}`);
	});

	it("never cuts a surrogate pair in half", () => {
		// 253 ASCII bytes + a 4-byte emoji would be 257 bytes: the emoji must go whole.
		const result = sanitizeFilename(`${"a".repeat(253)}😀😀`, "x");
		expect(result).toBe("a".repeat(253));
		const emoji = sanitizeFilename("😀".repeat(100), "x");
		expect(emoji).toBe("😀".repeat(63));
		expect(utf8Length(emoji)).toBe(252);
	});

	it("drops whitespace left dangling by truncation", () => {
		expect(sanitizeFilename(`${"a".repeat(254)} b`, "x")).toBe("a".repeat(254));
	});

	it("always yields a clean, bounded name", () => {
		fc.assert(
			fc.property(fc.string({ unit: "binary", maxLength: 400 }), (input) => {
				const result = sanitizeFilename(input, "fallback");
				expect(utf8Length(result)).toBeLessThanOrEqual(255);
				// biome-ignore lint/suspicious/noControlCharactersInRegex: asserting that control characters are gone.
				expect(result).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069/\\]/);
				expect(result).not.toMatch(/^[.\s]|\s$|\s{2}/);
				expect(result.isWellFormed()).toBe(true);
				expect(result.length).toBeGreaterThan(0);
			}),
			{ numRuns: 500 },
		);
	});
});

describe("contentDisposition", () => {
	it("produces both an ASCII filename and an RFC 8187 filename*", () => {
		expect(contentDisposition("inline", "photo.png")).toBe(`inline; filename*=UTF-8''photo.png; filename="photo.png"`);
		expect(contentDisposition("attachment", "a b.png")).toBe(
			`attachment; filename*=UTF-8''a%20b.png; filename="a b.png"`,
		);
	});

	it("replaces non-ASCII in the fallback and percent-encodes UTF-8 in filename*", () => {
		expect(contentDisposition("attachment", "Café.png")).toBe(
			`attachment; filename*=UTF-8''Caf%C3%A9.png; filename="Caf_.png"`,
		);
	});

	it("uses one underscore per emoji, not per UTF-16 unit", () => {
		expect(contentDisposition("inline", "😀.gif")).toBe(`inline; filename*=UTF-8''%F0%9F%98%80.gif; filename="_.gif"`);
	});

	it("escapes characters that are not RFC 8187 attr-chars", () => {
		const header = contentDisposition("inline", "it's (1)*.png");
		expect(header).toBe(`inline; filename*=UTF-8''it%27s%20%281%29%2A.png; filename="it's (1)*.png"`);
	});

	it("cannot be broken out of with quotes, backslashes or line breaks", () => {
		const header = contentDisposition("attachment", 'a"\r\nSet-Cookie: x=1; \\"b.png');
		expect(header).not.toMatch(/[\r\n]/);
		expect(header).toBe(
			`attachment; filename*=UTF-8''a%22%0D%0ASet-Cookie%3A%20x%3D1%3B%20%5C%22b.png; filename="a___Set-Cookie: x=1; __b.png"`,
		);
	});

	it("replaces RTL overrides in the fallback and encodes them in filename*", () => {
		expect(contentDisposition("attachment", "a\u202Eb")).toBe(
			`attachment; filename*=UTF-8''a%E2%80%AEb; filename="a_b"`,
		);
	});

	it("survives lone surrogates", () => {
		expect(contentDisposition("inline", "a\ud800.png")).toBe(
			`inline; filename*=UTF-8''a%EF%BF%BD.png; filename="a_.png"`,
		);
	});

	it("omits the parameters for an empty name", () => {
		expect(contentDisposition("attachment", "")).toBe("attachment");
	});

	it("always yields printable ASCII with exactly the two expected quotes", () => {
		fc.assert(
			fc.property(fc.string({ unit: "binary", minLength: 1, maxLength: 200 }), fc.boolean(), (name, inline) => {
				const header = contentDisposition(inline ? "inline" : "attachment", name);
				expect(header).toMatch(/^[\x20-\x7e]+$/);
				expect(header.split('"')).toHaveLength(3);
				const start = header.indexOf("filename*=UTF-8''") + 17;
				const encoded = header.slice(start, header.indexOf(";", start));
				expect(encoded).toMatch(/^[A-Za-z0-9!#$&+\-.^_`|~%]*$/);
				expect(decodeURIComponent(encoded)).toBe(name.toWellFormed());
			}),
			{ numRuns: 1000 },
		);
	});
});

describe("parseRange", () => {
	it.each([
		[undefined, 100],
		[null, 100],
		["", 100],
	])("no header (%j) means the full content", (header, size) => {
		expect(parseRange(header, size)).toEqual({ kind: "none" });
	});

	it.each([
		["bytes=0-0", 100, 0, 1],
		["bytes=0-99", 100, 0, 100],
		["bytes=10-19", 100, 10, 10],
		["bytes=10-", 100, 10, 90],
		["bytes=99-", 100, 99, 1],
		["bytes=50-1000", 100, 50, 50],
		["bytes=0-18446744073709551616", 100, 0, 100],
		["bytes=-1", 100, 99, 1],
		["bytes=-10", 100, 90, 10],
		["bytes=-100", 100, 0, 100],
		["bytes=-500", 100, 0, 100],
		["BYTES=1-2", 100, 1, 2],
		["bytes=007-008", 100, 7, 2],
		["  bytes=1-2  ", 100, 1, 2],
	])("%s of %i bytes", (header, size, offset, length) => {
		expect(parseRange(header, size)).toEqual({ kind: "range", offset, length });
	});

	it.each([
		["bytes=100-", 100],
		["bytes=100-200", 100],
		["bytes=1000-", 100],
		["bytes=99999999999999999999999-", 100],
		["bytes=-0", 100],
		["bytes=0-", 0],
		["bytes=0-0", 0],
		["bytes=-5", 0],
	])("%s of %i bytes is unsatisfiable", (header, size) => {
		expect(parseRange(header, size)).toEqual({ kind: "unsatisfiable" });
	});

	it.each([
		"bytes=0-1,5-6",
		"bytes=0-1, 5-6",
		"bytes=-5,0-",
		"bytes=5-1",
		"bytes=",
		"bytes=-",
		"bytes=a-b",
		"bytes=1.5-2",
		"bytes=+1-2",
		"bytes=1--2",
		"bytes = 0-1",
		"bytes=0 - 1",
		"bytes 0-1",
		"items=0-1",
		"0-1",
		"bytes=0-1\r\nX-Injected: 1",
	])("%j is ignored (full content)", (header) => {
		expect(parseRange(header, 100)).toEqual({ kind: "none" });
	});

	it("always stays within the representation", () => {
		fc.assert(
			fc.property(fc.nat(1000), fc.nat(2000), fc.option(fc.nat(2000)), (size, first, last) => {
				const result = parseRange(`bytes=${first}-${last ?? ""}`, size);
				if (result.kind === "range") {
					expect(result.offset).toBeGreaterThanOrEqual(0);
					expect(result.length).toBeGreaterThan(0);
					expect(result.offset + result.length).toBeLessThanOrEqual(size);
				}
			}),
		);
	});
});

describe("etagMatches", () => {
	const etag = '"abc"';

	it("is false without a header", () => {
		expect(etagMatches(undefined, etag, true)).toBe(false);
		expect(etagMatches(null, etag, false)).toBe(false);
		expect(etagMatches("", etag, true)).toBe(false);
	});

	it.each([true, false])("matches * (weak=%s)", (weak) => {
		expect(etagMatches("*", etag, weak)).toBe(true);
		expect(etagMatches(" * ", etag, weak)).toBe(true);
	});

	it("matches a single quoted tag", () => {
		expect(etagMatches('"abc"', etag, true)).toBe(true);
		expect(etagMatches('"abc"', etag, false)).toBe(true);
		expect(etagMatches('"abd"', etag, true)).toBe(false);
		expect(etagMatches('"ABC"', etag, true)).toBe(false);
	});

	it("compares weak tags only under weak comparison", () => {
		expect(etagMatches('W/"abc"', etag, true)).toBe(true);
		expect(etagMatches('W/"abc"', etag, false)).toBe(false);
	});

	it("treats a weak current tag as never strongly matching", () => {
		expect(etagMatches('"abc"', 'W/"abc"', true)).toBe(true);
		expect(etagMatches('"abc"', 'W/"abc"', false)).toBe(false);
	});

	it.each([
		['"x", "abc"', true, true],
		['"x","y" ,  "abc"', true, true],
		['W/"x", W/"abc"', true, true],
		['W/"x", W/"abc"', false, false],
		['W/"abc", "abc"', false, true],
		['"x", "y"', true, false],
		['"x",,, "abc",', true, true],
		['"a,b", "abc"', true, true],
	])("list %j (weak=%s) => %s", (header, weak, expected) => {
		expect(etagMatches(header, etag, weak)).toBe(expected);
	});

	it("handles commas inside quoted tags", () => {
		expect(etagMatches('"a,b"', '"a,b"', false)).toBe(true);
		expect(etagMatches('"a", "b"', '"a,b"', true)).toBe(false);
	});

	it("does not match unquoted or malformed tags", () => {
		expect(etagMatches("abc", etag, true)).toBe(false);
		expect(etagMatches('"abc', etag, true)).toBe(false);
		expect(etagMatches('w/"abc"', etag, false)).toBe(false);
		expect(etagMatches('*, "x"', etag, true)).toBe(false);
	});

	it("recovers after a malformed element", () => {
		expect(etagMatches('junk, "abc"', etag, false)).toBe(true);
	});
});
