#!/usr/bin/env node
/**
 * Writes photos that carry private metadata, in every accepted format, under
 * test/fixtures/metadata/ plus test/fixtures/metadata.ts (base64, for tests inside workerd).
 *
 * sharp (libvips) encodes the pixels and writes EXIF with GPS, camera make and serial, XMP and an
 * ICC profile; what sharp cannot write (JPEG IPTC and comments, PNG text and time chunks, GIF
 * comments and foreign application extensions) is spliced in here byte by byte. Every file is then
 * read back with exifr (JPEG, PNG, AVIF) or sharp's metadata (WebP, GIF) to prove the metadata is
 * really there before any test relies on its removal.
 *
 * Usage: node scripts/make-metadata-fixtures.mjs
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync } from "node:zlib";
import exifr from "exifr";
import sharp from "sharp";
import { pngChunk } from "./lib/png.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = join(root, "test", "fixtures", "metadata");

/** Strings planted in the metadata; none may survive stripping. */
export const SECRETS = [
	"AtriumCam",
	"SN-SECRET-4242",
	"xmp-secret-creator",
	"iptc-secret-byline",
	"comment-secret",
	"text-secret",
];

const XMP = `<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator><rdf:Seq><rdf:li>xmp-secret-creator</rdf:li></rdf:Seq></dc:creator></rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>`;
const EXIF = {
	IFD0: { Make: "AtriumCam", Model: "SN-SECRET-4242" },
	IFD3: { GPSLatitudeRef: "N", GPSLatitude: "48/1 51/1 30/1", GPSLongitudeRef: "E", GPSLongitude: "2/1 17/1 40/1" },
};

const latin1 = (s) => Buffer.from(s, "latin1");
const u16be = (n) => Buffer.from([(n >>> 8) & 0xff, n & 0xff]);

/** A gradient, so that a pixel changed anywhere would show in a comparison. */
async function picture(width, height, alpha = false) {
	const channels = alpha ? 4 : 3;
	const data = Buffer.alloc(width * height * channels);
	for (let y = 0; y < height; y++)
		for (let x = 0; x < width; x++) {
			const at = (y * width + x) * channels;
			data[at] = (x * 255) / width;
			data[at + 1] = (y * 255) / height;
			data[at + 2] = ((x + y) * 7) & 0xff;
			if (alpha) data[at + 3] = 128 + ((x * 3) & 0x7f);
		}
	return sharp(data, { raw: { width, height, channels } });
}

const withMetadata = (image) => image.withExif(EXIF).withXmp(XMP).withIccProfile("p3");

/** A JPEG APP segment. */
const segment = (marker, body) => Buffer.concat([Buffer.from([0xff, marker]), u16be(body.length + 2), body]);

async function makeJpeg() {
	// Orientation 6 (rotate 90 CW to display) is the one tag that must survive.
	const jpeg = await withMetadata(await picture(48, 32))
		.withMetadata({ orientation: 6 })
		.withExifMerge(EXIF)
		.jpeg({ quality: 90 })
		.toBuffer();
	// IPTC IIM (Photoshop 3.0 resource 0x0404) with a by-line (2:80), and a comment.
	const iim = Buffer.concat([Buffer.from([0x1c, 0x02, 0x50]), u16be(18), latin1("iptc-secret-byline")]);
	const resource = Buffer.concat([
		latin1("8BIM"),
		u16be(0x0404),
		Buffer.from([0, 0]),
		Buffer.from([0, 0, 0, iim.length]),
		iim,
	]);
	const app13 = segment(0xed, Buffer.concat([latin1("Photoshop 3.0\0"), resource]));
	const com = segment(0xfe, latin1("comment-secret"));
	// A vendor trailer after EOI, the way some phones append data.
	return Buffer.concat([jpeg.subarray(0, 2), app13, com, jpeg.subarray(2), latin1("trailer text-secret")]);
}

async function makePng() {
	const png = await withMetadata(await picture(40, 30, true))
		.png()
		.toBuffer();
	const iend = png.length - 12;
	const text = pngChunk("tEXt", latin1("Comment\0text-secret tEXt"));
	const ztxt = pngChunk("zTXt", Buffer.concat([latin1("Author\0\0"), deflateSync(latin1("text-secret zTXt"))]));
	const itxt = pngChunk("iTXt", latin1("Description\0\0\0en\0\0text-secret iTXt"));
	const time = pngChunk("tIME", Buffer.from([0x07, 0xea, 11, 30, 12, 0, 0]));
	// tEXt after the image data too: the length cannot be known before the end.
	return Buffer.concat([png.subarray(0, 33), time, png.subarray(33, iend), text, ztxt, itxt, png.subarray(iend)]);
}

async function makeWebp() {
	return withMetadata(await picture(40, 30, true))
		.webp({ lossless: true })
		.toBuffer();
}

async function makeGif() {
	const gif = await (await picture(24, 16)).gif({ loop: 0, delay: [100] }).toBuffer();
	const comment = Buffer.concat([Buffer.from([0x21, 0xfe, 14]), latin1("comment-secret"), Buffer.from([0])]);
	const xmp = Buffer.concat([
		Buffer.from([0x21, 0xff, 11]),
		latin1("XMP DataXMP"),
		Buffer.from([18]),
		latin1("xmp-secret-creator"),
		Buffer.from([0]),
	]);
	// After the header, logical screen descriptor and global colour table, before the first block.
	const flags = gif[10];
	const start = 13 + (flags & 0x80 ? 3 * 2 ** ((flags & 7) + 1) : 0);
	return Buffer.concat([gif.subarray(0, start), comment, xmp, gif.subarray(start)]);
}

async function makeAvif() {
	return withMetadata(await picture(40, 30))
		.avif({ quality: 80, effort: 0 })
		.toBuffer();
}

/** Fails unless the file really carries the metadata the tests expect to see removed. */
async function checkCarries(name, bytes) {
	const text = bytes.toString("latin1");
	const meta = await sharp(bytes).metadata();
	const problems = [];
	// exifr reads JPEG and PNG; for WebP, GIF and AVIF (which exifr 7 does not open) sharp reports the blocks.
	if (name.endsWith(".jpg") || name.endsWith(".png")) {
		const parsed = await exifr.parse(bytes, { gps: true, xmp: true, tiff: true, iptc: true, icc: false });
		if (!(parsed?.latitude > 48 && parsed?.longitude > 2)) problems.push("no GPS");
		if (parsed?.Make !== "AtriumCam") problems.push("no Make");
		if (name === "photo.jpg" && !String(parsed?.Byline ?? "").includes("iptc-secret-byline")) problems.push("no IPTC");
	} else if (name !== "photo.gif" && !meta.exif) problems.push("no EXIF");
	if (name !== "photo.gif" && !meta.xmp) problems.push("no XMP");
	if (name !== "photo.gif" && !meta.icc) problems.push("no ICC");
	if (name === "photo.jpg" && meta.orientation !== 6) problems.push("no orientation");
	for (const secret of name === "photo.gif" ? ["comment-secret", "xmp-secret-creator"] : ["SN-SECRET-4242"]) {
		if (!text.includes(secret)) problems.push(`no ${secret}`);
	}
	if (problems.length) throw new Error(`${name}: ${problems.join(", ")}`);
}

const files = {
	"photo.jpg": await makeJpeg(),
	"photo.png": await makePng(),
	"photo.webp": await makeWebp(),
	"photo.gif": await makeGif(),
	"photo.avif": await makeAvif(),
};
mkdirSync(outDir, { recursive: true });
const lines = [];
for (const [name, bytes] of Object.entries(files)) {
	await checkCarries(name, bytes);
	writeFileSync(join(outDir, name), bytes);
	lines.push(`\t"${name}": "${bytes.toString("base64")}",`);
	console.log(`${name}: ${bytes.length} bytes, metadata present`);
}
writeFileSync(
	join(root, "test", "fixtures", "metadata.ts"),
	`// Generated by scripts/make-metadata-fixtures.mjs (sharp + exifr); do not edit by hand.
// Photos carrying GPS EXIF, XMP, IPTC, comments and text chunks; the files sit in ./metadata/.

export const METADATA_FIXTURES = {
${lines.join("\n")}
} as const;

export type MetadataFixture = keyof typeof METADATA_FIXTURES;

/** Strings planted in the fixtures' metadata. */
export const SECRETS = ${JSON.stringify(SECRETS)};

/** One fixture's bytes, fresh. */
export function metadataFixture(name: MetadataFixture): Uint8Array {
	return Uint8Array.from(atob(METADATA_FIXTURES[name]), (c) => c.charCodeAt(0));
}
`,
);
