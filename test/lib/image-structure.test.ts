import { describe, expect, it } from "vitest";
import { structureScanner } from "../../src/lib/image-structure";
import { fixture } from "../fixtures";
import { pngOf } from "../helpers/images";

/** Feeds `bytes` in chunks of `size` and returns the first problem, or the verdict at the end. */
function scan(type: Parameters<typeof structureScanner>[0], bytes: Uint8Array, size: number, maxPixels = 1_000_000) {
	const scanner = structureScanner(type, maxPixels);
	for (let i = 0; i < bytes.byteLength; i += size) {
		const problem = scanner.push(bytes.subarray(i, i + size));
		if (problem) return problem;
	}
	return scanner.finish();
}

const u16le = (n: number) => [n & 0xff, (n >> 8) & 0xff];
function gif(frames: [number, number][]): Uint8Array {
	const out = [...new TextEncoder().encode("GIF89a"), ...u16le(10), ...u16le(10), 0, 0, 0];
	for (const [w, h] of frames) out.push(0x2c, 0, 0, 0, 0, ...u16le(w), ...u16le(h), 0, 2, 2, 0x4c, 0x01, 0);
	out.push(0x3b);
	return Uint8Array.from(out);
}

describe("structureScanner", () => {
	for (const size of [1, 3, 7, 4096]) {
		it(`happy: the real fixtures hold image data (chunks of ${size} bytes)`, () => {
			expect(scan("image/png", fixture("tiny.png"), size)).toBeNull();
			expect(scan("image/gif", fixture("tiny.gif"), size)).toBeNull();
			expect(scan("image/jpeg", fixture("tiny.jpg"), size)).toBeNull();
			expect(scan("image/webp", fixture("tiny.webp"), size)).toBeNull();
			expect(scan("image/webp", fixture("tiny-lossless.webp"), size)).toBeNull();
			expect(scan("image/webp", fixture("tiny-vp8x.webp"), size)).toBeNull();
			expect(scan("image/avif", fixture("tiny.avif"), size)).toBeNull();
			expect(scan("image/png", pngOf(10, 10, 5000), size)).toBeNull();
		});
	}

	it("error: no image data", () => {
		expect(scan("image/png", fixture("tiny.png").slice(0, 33), 8)).toEqual({ problem: "no_image_data" });
		expect(scan("image/gif", gif([]), 8)).toEqual({ problem: "no_image_data" });
		expect(scan("image/jpeg", Uint8Array.from([0xff, 0xd8, 0xff, 0xd9]), 1)).toEqual({ problem: "no_image_data" });
		expect(scan("image/webp", fixture("tiny.webp").slice(0, 12), 4)).toEqual({ problem: "no_image_data" });
	});

	it("security: every GIF frame is held to the pixel limit, the second one too", () => {
		expect(scan("image/gif", gif([[10, 10]]), 5)).toBeNull();
		expect(
			scan(
				"image/gif",
				gif([
					[10, 10],
					[20000, 20000],
				]),
				5,
			),
		).toEqual({ problem: "frame_too_large" });
		expect(scan("image/gif", gif([[1001, 1000]]), 64)).toEqual({ problem: "frame_too_large" });
	});
});
