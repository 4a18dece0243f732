import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PNG_SIGNATURE, pngChunk as chunkOf, u32be } from "../../scripts/lib/png.mjs";
import { SNIFF_BYTES, type SniffResult, sniffImage } from "../../src/lib/image-sniff";
import { type FixtureName, fixture } from "../fixtures";

// ---------------------------------------------------------------- byte builders

type Bytes = Uint8Array | readonly number[] | string;

function bytes(...parts: Bytes[]): Uint8Array {
	const arrays = parts.map((part) =>
		typeof part === "string" ? new TextEncoder().encode(part) : Uint8Array.from(part),
	);
	const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
	let offset = 0;
	for (const a of arrays) {
		out.set(a, offset);
		offset += a.length;
	}
	return out;
}

const u16be = (n: number) => [(n >>> 8) & 0xff, n & 0xff];
const u16le = (n: number) => [n & 0xff, (n >>> 8) & 0xff];
const u24le = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff];
const u32le = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];

function pngChunk(type: string, data: Bytes): Uint8Array {
	return chunkOf(type, bytes(data));
}

function png(width: number, height: number): Uint8Array {
	return bytes(
		PNG_SIGNATURE,
		pngChunk("IHDR", bytes(u32be(width), u32be(height), [8, 6, 0, 0, 0])),
		pngChunk("IEND", []),
	);
}

function jpegSegment(marker: number, body: Bytes): Uint8Array {
	const content = bytes(body);
	return bytes([0xff, marker], u16be(content.length + 2), content);
}

function sof(marker: number, width: number, height: number): Uint8Array {
	return jpegSegment(marker, bytes([8], u16be(height), u16be(width), [1, 1, 0x11, 0]));
}

const SOI = [0xff, 0xd8];
const EOI = [0xff, 0xd9];

function gif(version: "87a" | "89a", width: number, height: number): Uint8Array {
	return bytes(`GIF${version}`, u16le(width), u16le(height), [0, 0, 0], [0x3b]);
}

function riff(form: string, ...chunks: Uint8Array[]): Uint8Array {
	const body = bytes(form, ...chunks);
	return bytes("RIFF", u32le(body.length), body);
}

function chunk(fourcc: string, payload: Bytes): Uint8Array {
	const data = bytes(payload);
	return bytes(fourcc, u32le(data.length), data, data.length % 2 === 1 ? [0] : []);
}

function vp8(width: number, height: number, frameTag = 0x10): Uint8Array {
	return chunk("VP8 ", bytes([frameTag, 0, 0], [0x9d, 0x01, 0x2a], u16le(width), u16le(height), new Uint8Array(16)));
}

function vp8l(width: number, height: number): Uint8Array {
	const bits = ((width - 1) | ((height - 1) << 14)) >>> 0;
	return chunk("VP8L", bytes([0x2f], u32le(bits), new Uint8Array(8)));
}

function vp8x(width: number, height: number): Uint8Array {
	return chunk("VP8X", bytes([0x10, 0, 0, 0], u24le(width - 1), u24le(height - 1)));
}

function box(type: string, ...content: Bytes[]): Uint8Array {
	const body = bytes(...content);
	return bytes(u32be(body.length + 8), type, body);
}

function largeBox(type: string, ...content: Bytes[]): Uint8Array {
	const body = bytes(...content);
	return bytes(u32be(1), type, u32be(0), u32be(body.length + 16), body);
}

function fullBox(type: string, version: number, flags: number, ...content: Bytes[]): Uint8Array {
	return box(type, [version, (flags >>> 16) & 0xff, (flags >>> 8) & 0xff, flags & 0xff], ...content);
}

function ftyp(major: string, ...compatible: string[]): Uint8Array {
	return box("ftyp", major, u32be(0), ...compatible);
}

const ispe = (width: number, height: number) => fullBox("ispe", 0, 0, u32be(width), u32be(height));

type AvifOptions = {
	ftyp?: Uint8Array;
	properties?: Uint8Array[];
	/** Property indices (1-based) associated with item 1. */
	associations?: number[];
	primaryItem?: number | null;
	before?: Uint8Array[];
	metaBox?: (type: string, ...content: Bytes[]) => Uint8Array;
};

/** A structurally complete still-image AVIF with configurable parts. */
function avif(width: number, height: number, options: AvifOptions = {}): Uint8Array {
	const properties = options.properties ?? [box("av1C", [0x81, 0, 0x0c, 0]), ispe(width, height)];
	const associations = options.associations ?? properties.map((_, i) => i + 1);
	const primary = options.primaryItem === undefined ? 1 : options.primaryItem;
	const makeBox = options.metaBox ?? box;
	const metaChildren = [
		fullBox("hdlr", 0, 0, u32be(0), "pict", new Uint8Array(13)),
		primary === null ? new Uint8Array() : fullBox("pitm", 0, 0, u16be(primary)),
		fullBox("iinf", 0, 0, u16be(1), fullBox("infe", 2, 0, u16be(1), u16be(0), "av01", [0])),
		box(
			"iprp",
			box("ipco", ...properties),
			fullBox("ipma", 0, 0, u32be(1), u16be(1), [associations.length], associations),
		),
	];
	const meta = makeBox("meta", [0, 0, 0, 0], ...metaChildren);
	return bytes(
		options.ftyp ?? ftyp("avif", "mif1", "avif", "miaf"),
		...(options.before ?? []),
		meta,
		box("mdat", [1, 2, 3]),
	);
}

function expectImage(result: SniffResult, type: string, ext: string, width: number, height: number): void {
	expect(result).toEqual({ ok: true, type, ext, width, height });
}

const UNSUPPORTED = { ok: false, reason: "unsupported" };
const TRUNCATED = { ok: false, reason: "truncated" };

// ---------------------------------------------------------------- fixtures

const FIXTURE_EXPECTATIONS: [FixtureName, string, string, number, number][] = [
	["tiny.jpg", "image/jpeg", "jpg", 3, 2],
	["tiny.png", "image/png", "png", 5, 4],
	["tiny.gif", "image/gif", "gif", 7, 6],
	["tiny.webp", "image/webp", "webp", 9, 8],
	["tiny-lossless.webp", "image/webp", "webp", 11, 10],
	["tiny-vp8x.webp", "image/webp", "webp", 13, 12],
	["tiny.avif", "image/avif", "avif", 15, 14],
];

describe("sniffImage on real files", () => {
	it.each(FIXTURE_EXPECTATIONS)("%s is %s (%s) at %ix%i", (name, type, ext, width, height) => {
		expectImage(sniffImage(fixture(name)), type, ext, width, height);
	});

	it.each(FIXTURE_EXPECTATIONS)("%s: every prefix is truncated or the same answer, never wrong", (name) => {
		const file = fixture(name);
		const full = sniffImage(file);
		expect(sniffImage(file.subarray(0, 0))).toEqual(UNSUPPORTED);
		for (let cut = 1; cut < file.length; cut++) {
			const result = sniffImage(file.subarray(0, cut));
			if (result.ok) {
				expect(result, `cut at ${cut}`).toEqual(full);
			} else {
				expect(result, `cut at ${cut}`).toEqual(TRUNCATED);
			}
		}
	});

	it.each(FIXTURE_EXPECTATIONS)(
		"%s is read through a view with a non-zero byteOffset",
		(name, type, ext, width, height) => {
			const file = fixture(name);
			const backing = new Uint8Array(file.length + 37).fill(0xff);
			backing.set(file, 19);
			expectImage(sniffImage(backing.subarray(19, 19 + file.length)), type, ext, width, height);
		},
	);

	it.each(FIXTURE_EXPECTATIONS)(
		"%s followed by a lot of trailing data is unaffected",
		(name, type, ext, width, height) => {
			const file = bytes(fixture(name), new Uint8Array(SNIFF_BYTES * 2).fill(0x41));
			expectImage(sniffImage(file), type, ext, width, height);
			expectImage(sniffImage(file.subarray(0, SNIFF_BYTES)), type, ext, width, height);
		},
	);

	it("does not modify its input", () => {
		const file = fixture("tiny.avif");
		const copy = file.slice();
		sniffImage(file);
		expect(file).toEqual(copy);
	});
});

describe("sniffImage rejects non-images and unsupported formats", () => {
	it("rejects the SVG fixture (XML prologue, DOCTYPE, script)", () => {
		expect(sniffImage(fixture("evil.svg"))).toEqual(UNSUPPORTED);
	});

	it.each([
		["bare svg", '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>'],
		["svg with script", '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'],
		["svg with BOM", '\ufeff<svg xmlns="http://www.w3.org/2000/svg"/>'],
		["svg with leading whitespace", '\n  <?xml version="1.0"?><svg/>'],
		["html", "<!doctype html><html><body>hi</body></html>"],
		["html then GIF bytes", "<html>GIF89a\u0001\u0000\u0001\u0000"],
		["plain text", "hello"],
		["json", '{"width":1,"height":1}'],
		["PDF", "%PDF-1.7\n%\u00e2\u00e3\n1 0 obj"],
		["BMP", "BM\u003a\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0036\u0000\u0000\u0000\u0028\u0000"],
		["GIF with an unknown version", "GIF88a\u0001\u0000\u0001\u0000\u0000\u0000\u0000"],
	])("%s", (_label, text) => {
		expect(sniffImage(bytes(text))).toEqual(UNSUPPORTED);
	});

	it.each([
		["empty", []],
		["TIFF little-endian", [0x49, 0x49, 0x2a, 0x00, 0x08, 0x00, 0x00, 0x00, 0, 0, 0, 0]],
		["TIFF big-endian", [0x4d, 0x4d, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x08, 0, 0, 0, 0]],
		["ZIP", [0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x08, 0x00]],
		["gzip", [0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0]],
		["ICO", [0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x10, 0x10, 0, 0, 0, 0]],
		["JPEG XL codestream", [0xff, 0x0a, 0xfa, 0x7f]],
		["ELF", [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]],
	])("%s", (_label, data) => {
		expect(sniffImage(Uint8Array.from(data))).toEqual(UNSUPPORTED);
	});

	it.each([
		["HEIC", ftyp("heic", "mif1", "heic")],
		["MP4", ftyp("isom", "isom", "iso2", "mp41")],
		["QuickTime", ftyp("qt  ", "qt  ")],
		["AVIF brand only inside another brand", ftyp("mif1", "xavi", "fav1")],
	])("ISO-BMFF %s without an avif/avis brand", (_label, head) => {
		const file = bytes(head, box("meta", [0, 0, 0, 0]), box("mdat", [0]));
		expect(sniffImage(file)).toEqual(UNSUPPORTED);
	});

	it("rejects a HEIC with a complete meta/ispe", () => {
		expect(sniffImage(avif(10, 10, { ftyp: ftyp("heic", "mif1", "heic") }))).toEqual(UNSUPPORTED);
	});
});

describe("sniffImage JPEG", () => {
	const tables = jpegSegment(0xdb, bytes([0], new Uint8Array(64).fill(1)));

	it("reads 65535x65535 so the caller can refuse it", () => {
		expectImage(sniffImage(bytes(SOI, tables, sof(0xc0, 65535, 65535), EOI)), "image/jpeg", "jpg", 65535, 65535);
	});

	it("reads width and height from the right fields", () => {
		expectImage(sniffImage(bytes(SOI, sof(0xc0, 0x1234, 0x0102))), "image/jpeg", "jpg", 0x1234, 0x0102);
	});

	it.each([0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf])(
		"accepts SOF marker %i",
		(marker) => {
			expectImage(sniffImage(bytes(SOI, sof(marker, 40, 30))), "image/jpeg", "jpg", 40, 30);
		},
	);

	it("skips DHT, JPG and DAC segments that look like frame headers", () => {
		// Each has a body shaped like an SOF claiming 999x999.
		const decoys = [0xc4, 0xc8, 0xcc].map((m) => sof(m, 999, 999));
		expectImage(sniffImage(bytes(SOI, ...decoys, sof(0xc2, 12, 34))), "image/jpeg", "jpg", 12, 34);
	});

	it("handles fill bytes and standalone markers between segments", () => {
		const file = bytes(
			SOI,
			[0xff, 0xff, 0xff],
			jpegSegment(0xe0, "JFIF\0"),
			[0xff, 0x01], // TEM
			[0xff, 0xd0], // RST0
			[0xff, 0xff, 0xd7], // fill + RST7
			[0xff, 0xff],
			jpegSegment(0xfe, "comment"),
			[0xff],
			sof(0xc0, 21, 17),
		);
		expectImage(sniffImage(file), "image/jpeg", "jpg", 21, 17);
	});

	it("skips large APPn segments by their length", () => {
		const exif = jpegSegment(0xe1, bytes("Exif\0\0", new Uint8Array(60000).fill(0xc0)));
		expectImage(sniffImage(bytes(SOI, exif, sof(0xc0, 8, 9))), "image/jpeg", "jpg", 8, 9);
	});

	it("is truncated when the frame header lies beyond SNIFF_BYTES", () => {
		const app = jpegSegment(0xe1, new Uint8Array(40000));
		const file = bytes(SOI, app, app, sof(0xc0, 8, 9), EOI);
		expect(file.length).toBeGreaterThan(SNIFF_BYTES);
		expect(sniffImage(file.subarray(0, SNIFF_BYTES))).toEqual(TRUNCATED);
		expect(sniffImage(file)).toEqual(TRUNCATED);
	});

	it.each([
		["zero height (DNL)", bytes(SOI, sof(0xc0, 10, 0))],
		["zero width", bytes(SOI, sof(0xc0, 0, 10))],
		["EOI before any frame", bytes(SOI, tables, EOI, sof(0xc0, 10, 10))],
		["SOS before any frame", bytes(SOI, jpegSegment(0xda, [1, 1, 0, 0, 63, 0]), sof(0xc0, 10, 10))],
		["garbage between segments", bytes(SOI, tables, [0x00, 0x12], sof(0xc0, 10, 10))],
		["stuffed zero as marker", bytes(SOI, [0xff, 0x00], sof(0xc0, 10, 10))],
		["segment length below 2", bytes(SOI, [0xff, 0xe0, 0x00, 0x01], sof(0xc0, 10, 10))],
		["SOF too short", bytes(SOI, jpegSegment(0xc0, [8, 0, 10, 0]))],
		["SOF with zero components", bytes(SOI, jpegSegment(0xc0, bytes([8], u16be(10), u16be(10), [0])))],
		[
			"SOF length disagrees with components",
			bytes(SOI, jpegSegment(0xc0, bytes([8], u16be(10), u16be(10), [3, 1, 0x11, 0]))),
		],
	])("%s is unsupported", (_label, file) => {
		expect(sniffImage(file)).toEqual(UNSUPPORTED);
	});

	it.each([
		["SOI only", bytes(SOI)],
		["SOI and fill bytes", bytes(SOI, [0xff, 0xff, 0xff])],
		["marker without length", bytes(SOI, [0xff, 0xe0, 0x00])],
		["segment cut short", bytes(SOI, [0xff, 0xe0, 0x10, 0x00], new Uint8Array(10))],
		["SOF cut short", bytes(SOI, sof(0xc0, 10, 10)).subarray(0, 12)],
	])("%s is truncated", (_label, file) => {
		expect(sniffImage(file)).toEqual(TRUNCATED);
	});
});

describe("sniffImage PNG", () => {
	it("reads IHDR", () => {
		expectImage(sniffImage(png(640, 480)), "image/png", "png", 640, 480);
	});

	it("rejects an IHDR claiming 0x0", () => {
		expect(sniffImage(png(0, 0))).toEqual(UNSUPPORTED);
		expect(sniffImage(png(0, 5))).toEqual(UNSUPPORTED);
		expect(sniffImage(png(5, 0))).toEqual(UNSUPPORTED);
	});

	it("reads the largest legal size and rejects anything above 2^31-1", () => {
		expectImage(sniffImage(png(0x7fffffff, 1)), "image/png", "png", 0x7fffffff, 1);
		expect(sniffImage(png(0x80000000, 1))).toEqual(UNSUPPORTED);
	});

	it("requires IHDR to be the first chunk", () => {
		const file = bytes(PNG_SIGNATURE, pngChunk("tEXt", "a\0b"), png(4, 4).subarray(8));
		expect(sniffImage(file)).toEqual(UNSUPPORTED);
	});

	it("requires IHDR to be 13 bytes long", () => {
		const file = bytes(PNG_SIGNATURE, pngChunk("IHDR", bytes(u32be(4), u32be(4), [8, 6, 0, 0, 0, 0])));
		expect(sniffImage(file)).toEqual(UNSUPPORTED);
	});

	it("rejects an IHDR with a bad CRC", () => {
		const file = png(4, 4);
		file[29] = (file[29] ?? 0) ^ 0xff;
		expect(sniffImage(file)).toEqual(UNSUPPORTED);
	});

	it("is truncated until the whole IHDR chunk is present", () => {
		const file = png(4, 4);
		expect(sniffImage(file.subarray(0, 32))).toEqual(TRUNCATED);
		expectImage(sniffImage(file.subarray(0, 33)), "image/png", "png", 4, 4);
	});
});

describe("sniffImage GIF", () => {
	it.each(["87a", "89a"] as const)("reads the logical screen of GIF%s", (version) => {
		expectImage(sniffImage(gif(version, 300, 200)), "image/gif", "gif", 300, 200);
	});

	it("still treats a GIF header followed by HTML as a GIF", () => {
		const file = bytes(gif("89a", 1, 1).subarray(0, 13), "<html><script>alert(1)</script></html>");
		expectImage(sniffImage(file), "image/gif", "gif", 1, 1);
	});

	it("rejects a zero-sized logical screen", () => {
		expect(sniffImage(gif("89a", 0, 10))).toEqual(UNSUPPORTED);
		expect(sniffImage(gif("89a", 10, 0))).toEqual(UNSUPPORTED);
	});

	it("reads 65535x65535", () => {
		expectImage(sniffImage(gif("89a", 65535, 65535)), "image/gif", "gif", 65535, 65535);
	});
});

describe("sniffImage WebP", () => {
	it("reads lossy VP8 dimensions and ignores the scaling bits", () => {
		const file = riff("WEBP", vp8(0xc000 | 1000, 0x4000 | 700));
		expectImage(sniffImage(file), "image/webp", "webp", 1000, 700);
	});

	it("reads the 14-bit maximum of VP8L", () => {
		expectImage(sniffImage(riff("WEBP", vp8l(16384, 16384))), "image/webp", "webp", 16384, 16384);
	});

	it("reads the 24-bit canvas of VP8X", () => {
		expectImage(sniffImage(riff("WEBP", vp8x(1 << 24, 3), vp8l(1, 1))), "image/webp", "webp", 1 << 24, 3);
	});

	it.each([
		["VP8 inter frame", riff("WEBP", vp8(10, 10, 0x11))],
		["VP8 hidden frame", riff("WEBP", vp8(10, 10, 0x00))],
		["VP8 zero width", riff("WEBP", vp8(0, 10))],
		[
			"VP8 without start code",
			riff("WEBP", chunk("VP8 ", bytes([0x10, 0, 0], [0x9d, 0x01, 0x2b], u16le(10), u16le(10), new Uint8Array(4)))),
		],
		["VP8L with a bad signature", riff("WEBP", chunk("VP8L", bytes([0x2e], u32le(0), new Uint8Array(4))))],
		["VP8L with a non-zero version", riff("WEBP", chunk("VP8L", bytes([0x2f], u32le(0x20000000), new Uint8Array(4))))],
		["unknown first chunk", riff("WEBP", chunk("ALPH", new Uint8Array(16)), vp8l(4, 4))],
		[
			"chunk larger than the RIFF payload",
			bytes("RIFF", u32le(20), "WEBP", "VP8L", u32le(1000), [0x2f], new Uint8Array(20)),
		],
		["VP8X chunk too short", riff("WEBP", chunk("VP8X", new Uint8Array(6)), new Uint8Array(8))],
		["RIFF WAVE", riff("WAVE", chunk("fmt ", new Uint8Array(16)))],
		["RIFF AVI", riff("AVI ", chunk("LIST", new Uint8Array(16)))],
	])("%s is unsupported", (_label, file) => {
		expect(sniffImage(file)).toEqual(UNSUPPORTED);
	});
});

describe("sniffImage AVIF", () => {
	it("reads ispe of a minimal still image", () => {
		expectImage(sniffImage(avif(4000, 3000)), "image/avif", "avif", 4000, 3000);
	});

	it.each([
		["avif as compatible brand only", ftyp("mif1", "mif1", "miaf", "avif")],
		["avis major brand", ftyp("avis", "msf1", "miaf")],
		["avis as compatible brand", ftyp("mif1", "avis")],
		["avif major brand, no compatible list", ftyp("avif")],
	])("accepts %s", (_label, head) => {
		expectImage(sniffImage(avif(20, 10, { ftyp: head })), "image/avif", "avif", 20, 10);
	});

	it("uses the ispe associated with the primary item, not the first one", () => {
		const file = avif(0, 0, {
			properties: [ispe(160, 120), box("av1C", [0x81, 0, 0x0c, 0]), ispe(6000, 4000)],
			associations: [2, 0x80 | 3],
		});
		expectImage(sniffImage(file), "image/avif", "avif", 6000, 4000);
	});

	it("finds meta after other top-level boxes, including 64-bit ones", () => {
		const file = avif(33, 44, { before: [box("free", new Uint8Array(100)), largeBox("skip", new Uint8Array(10))] });
		expectImage(sniffImage(file), "image/avif", "avif", 33, 44);
	});

	it("walks a meta box that uses a 64-bit largesize", () => {
		expectImage(sniffImage(avif(31, 29, { metaBox: largeBox })), "image/avif", "avif", 31, 29);
	});

	it("walks a meta box of size 0 (extends to end of file)", () => {
		const head = ftyp("avif", "mif1");
		const sized = avif(17, 19, { ftyp: head });
		// Rewrite meta's size field to 0 and drop the trailing mdat so meta is last.
		const metaStart = head.length;
		const view = new DataView(sized.buffer);
		const metaSize = view.getUint32(metaStart);
		const file = sized.slice(0, metaStart + metaSize);
		new DataView(file.buffer).setUint32(metaStart, 0);
		expectImage(sniffImage(file), "image/avif", "avif", 17, 19);
	});

	it("is truncated when a large mdat precedes meta beyond SNIFF_BYTES", () => {
		const file = avif(10, 10, { before: [box("mdat", new Uint8Array(SNIFF_BYTES))] });
		expect(sniffImage(file)).toEqual(TRUNCATED);
		expect(sniffImage(file.subarray(0, SNIFF_BYTES))).toEqual(TRUNCATED);
	});

	it("is truncated when a box claims 2^40 bytes", () => {
		const huge = bytes(u32be(1), "mdat", u32be(0x100), u32be(0), new Uint8Array(32));
		expect(sniffImage(bytes(ftyp("avif"), huge))).toEqual(TRUNCATED);
	});

	it("is truncated when the bytes end before meta", () => {
		expect(sniffImage(ftyp("avif", "mif1"))).toEqual(TRUNCATED);
		expect(sniffImage(bytes(ftyp("avif", "mif1"), box("free", [1, 2])))).toEqual(TRUNCATED);
		expect(sniffImage(bytes(ftyp("avif"), box("mdat", [0]), box("free")))).toEqual(TRUNCATED);
	});

	it("treats a lone zero byte as a possible start of an AVIF", () => {
		expect(sniffImage(Uint8Array.of(0))).toEqual(TRUNCATED);
		expect(sniffImage(Uint8Array.of(0, 0, 0))).toEqual(TRUNCATED);
		expect(sniffImage(Uint8Array.of(0, 1))).toEqual(UNSUPPORTED);
	});

	it("rejects a child box larger than its (complete) parent", () => {
		// 20 bytes on disk, but the header claims 40.
		const lyingIspe = bytes(u32be(40), "ispe", [0, 0, 0, 0], u32be(5), u32be(5));
		expect(sniffImage(avif(5, 5, { properties: [lyingIspe], associations: [1] }))).toEqual(UNSUPPORTED);
		const liar = bytes(u32be(8 + 8 + 20 + 8), "iprp", u32be(8 + 20 + 8 + 100), "ipco", ispe(5, 5), new Uint8Array(8));
		const metaWithLiar = box("meta", [0, 0, 0, 0], fullBox("pitm", 0, 0, u16be(1)), liar);
		expect(sniffImage(bytes(ftyp("avif"), metaWithLiar))).toEqual(UNSUPPORTED);
	});

	it.each([2, 7])("rejects a box whose size (%i) is smaller than its header", (size) => {
		const file = bytes(ftyp("avif"), u32be(size), "free", new Uint8Array(16));
		expect(sniffImage(file)).toEqual(UNSUPPORTED);
	});

	it("rejects a largesize smaller than its 16-byte header", () => {
		const file = bytes(ftyp("avif"), u32be(1), "free", u32be(0), u32be(12), new Uint8Array(16));
		expect(sniffImage(file)).toEqual(UNSUPPORTED);
	});

	it("gives up on absurd numbers of boxes", () => {
		const free = box("free");
		const many = new Uint8Array(free.length * 5000);
		for (let i = 0; i < 5000; i++) many.set(free, i * free.length);
		expect(
			sniffImage(bytes(ftyp("avif"), many, avif(5, 5).subarray(ftyp("avif", "mif1", "avif", "miaf").length))),
		).toEqual(UNSUPPORTED);
	});

	it.each([
		["zero-sized ispe", avif(0, 10)],
		["no pitm", avif(10, 10, { primaryItem: null })],
		["primary item without properties", avif(10, 10, { primaryItem: 7 })],
		["primary item without ispe", avif(10, 10, { associations: [1] })],
		["ipma pointing past ipco", avif(10, 10, { associations: [9] })],
		["ftyp that is not first", bytes(box("free"), ftyp("avif"), box("meta", [0, 0, 0, 0]))],
		["ftyp too short for brands", bytes(box("ftyp", "avi"), new Uint8Array(8))],
		["truncated ispe", avif(10, 10, { properties: [fullBox("ispe", 0, 0, u32be(10))] })],
	])("%s is unsupported", (_label, file) => {
		expect(sniffImage(file)).toEqual(UNSUPPORTED);
	});

	it("understands ipma version 1 and 16-bit property indices", () => {
		const properties = [box("av1C", [0x81, 0, 0x0c, 0]), ispe(77, 66)];
		const ipma = fullBox("ipma", 1, 1, u32be(1), u32be(1), [2], u16be(0x8001), u16be(2));
		const meta = box(
			"meta",
			[0, 0, 0, 0],
			fullBox("pitm", 1, 0, u32be(1)),
			box("iprp", box("ipco", ...properties), ipma),
		);
		expectImage(sniffImage(bytes(ftyp("avif"), meta)), "image/avif", "avif", 77, 66);
	});
});

describe("sniffImage robustness", () => {
	it("never throws on random bytes", () => {
		fc.assert(
			fc.property(fc.uint8Array({ maxLength: 256 }), (data) => {
				const result = sniffImage(data);
				expect(typeof result.ok).toBe("boolean");
			}),
			{ numRuns: 2000 },
		);
	});

	it.each(FIXTURE_EXPECTATIONS)("never throws on corrupted %s, and any ok result is well-formed", (name) => {
		const original = fixture(name);
		fc.assert(
			fc.property(
				fc.array(fc.tuple(fc.nat(original.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
				fc.nat(original.length),
				(edits, cut) => {
					const file = original.slice(0, Math.max(cut, 1));
					for (const [index, value] of edits) {
						if (index < file.length) file[index] = value;
					}
					const result = sniffImage(file);
					if (result.ok) {
						expect(Number.isInteger(result.width) && result.width > 0).toBe(true);
						expect(Number.isInteger(result.height) && result.height > 0).toBe(true);
					}
				},
			),
			{ numRuns: 500 },
		);
	});

	it("only magic numbers decide the type", () => {
		// A PNG's bytes after an ASCII preamble must not be found by scanning.
		expect(sniffImage(bytes("junk", fixture("tiny.png")))).toEqual(UNSUPPORTED);
		expect(sniffImage(bytes([0x00], fixture("tiny.jpg")))).toEqual(UNSUPPORTED);
	});
});
