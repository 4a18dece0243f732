import { readFileSync } from "node:fs";
import { join } from "node:path";
import exifr from "exifr";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { stripMetadata } from "../../src/lib/image-strip";
import type { ImageType } from "../../src/lib/image-sniff";

// Runs in Node, not workerd: sharp (libvips) cannot load inside workerd, and decoding is the only
// proof that stripping left every pixel as it was. The fixtures come from
// scripts/make-metadata-fixtures.mjs, which checked with exifr/sharp that the metadata is there.

const DIR = join(import.meta.dirname, "..", "fixtures", "metadata");
const CASES: Array<[string, ImageType]> = [
	["photo.jpg", "image/jpeg"],
	["photo.png", "image/png"],
	["photo.webp", "image/webp"],
	["photo.gif", "image/gif"],
	["photo.avif", "image/avif"],
];
const SECRETS = [
	"AtriumCam",
	"SN-SECRET-4242",
	"xmp-secret-creator",
	"iptc-secret-byline",
	"comment-secret",
	"text-secret",
];

function stripped(type: ImageType, original: Buffer): Buffer {
	const result = stripMetadata(type, new Uint8Array(Buffer.from(original)));
	if (!result) throw new Error("did not parse");
	const out = Buffer.concat(result.pieces);
	expect(out.length).toBe(result.length);
	return out;
}

async function pixels(bytes: Buffer): Promise<Buffer> {
	// Every frame of an animation; no auto-rotation, so orientation metadata cannot mask a change.
	return sharp(bytes, { animated: true }).ensureAlpha().raw().toBuffer();
}

describe("metadata stripping, decoded with sharp", () => {
	for (const [name, type] of CASES) {
		it(`${name}: decodes to identical pixels after stripping`, async () => {
			const original = readFileSync(join(DIR, name));
			const out = stripped(type, original);
			expect(out.length).toBeLessThanOrEqual(original.length);
			expect((await pixels(out)).equals(await pixels(original))).toBe(true);
		});

		it(`${name}: no planted metadata string remains anywhere in the bytes`, () => {
			const out = stripped(type, readFileSync(join(DIR, name))).toString("latin1");
			for (const secret of SECRETS) expect(out).not.toContain(secret);
		});

		it(`${name}: the ICC profile survives, EXIF and XMP do not`, async () => {
			const meta = await sharp(stripped(type, readFileSync(join(DIR, name)))).metadata();
			if (type !== "image/gif") expect(meta.icc?.length).toBeGreaterThan(100);
			if (type === "image/avif") {
				// AVIF keeps the item entries (moving bytes would shift every offset); their bytes are zeros.
				expect(meta.xmp?.every((byte) => byte === 0)).toBe(true);
				expect(meta.exif?.every((byte) => byte === 0)).toBe(true);
			} else {
				expect(meta.xmp).toBeUndefined();
				if (type !== "image/jpeg") expect(meta.exif).toBeUndefined();
			}
		});
	}

	it("photo.jpg: keeps Orientation alone, as a minimal EXIF; exifr finds no GPS, make or IPTC", async () => {
		const out = stripped("image/jpeg", readFileSync(join(DIR, "photo.jpg")));
		expect((await sharp(out).metadata()).orientation).toBe(6);
		const parsed = await exifr.parse(out, { gps: true, xmp: true, iptc: true, tiff: true, exif: true });
		expect(parsed).toEqual({ Orientation: "Rotate 90 CW" });
	});

	it("photo.png: exifr finds nothing at all besides the image header", async () => {
		const out = stripped("image/png", readFileSync(join(DIR, "photo.png")));
		const parsed = await exifr.parse(out, { gps: true, xmp: true, iptc: true, tiff: true, ihdr: false });
		expect(parsed).toBeUndefined();
	});
});
