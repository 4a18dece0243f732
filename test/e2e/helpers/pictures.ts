import { deflateSync } from "node:zlib";
import { PNG_SIGNATURE, pngChunk, u32be } from "../../../scripts/lib/png.mjs";

/**
 * A real, decodable PNG photo stand-in: a smooth two-colour gradient, so a gallery screenshot
 * shows pictures rather than single pixels.
 */
export function gradientPng(
	width: number,
	height: number,
	from: [number, number, number],
	to: [number, number, number],
): Buffer {
	const rows: number[] = [];
	for (let y = 0; y < height; y++) {
		rows.push(0);
		for (let x = 0; x < width; x++) {
			const t = (x / width + y / height) / 2;
			for (let channel = 0; channel < 3; channel++) {
				rows.push(Math.round((from[channel] ?? 0) * (1 - t) + (to[channel] ?? 0) * t));
			}
		}
	}
	const ihdr = pngChunk("IHDR", [...u32be(width), ...u32be(height), 8, 2, 0, 0, 0]);
	const idat = pngChunk("IDAT", [...deflateSync(Buffer.from(rows))]);
	return Buffer.concat([Buffer.from(PNG_SIGNATURE), ihdr, idat, pngChunk("IEND", [])]);
}
