import type { ImageType } from "./image-sniff";

/**
 * Why an image's structure was refused: it holds no image data at all (a PNG without IDAT, a GIF
 * without an image descriptor, a JPEG without a scan...), or one of its frames is larger than the
 * pixel limit (a GIF whose logical screen is small but whose frame is not).
 */
export type StructureProblem = { problem: "no_image_data" } | { problem: "frame_too_large" };

/**
 * Walks an image's container structure as its bytes stream by, holding at most a few header bytes
 * (never the image), so the whole upload is checked, not just the head the sniffer reads. It is fed
 * every byte of the file in order and answers at the first problem, or at the end.
 */
export interface StructureScanner {
	/** Feeds the next bytes; a problem as soon as one is certain. */
	push(chunk: Uint8Array): StructureProblem | null;
	/** The end of the file: a problem if the file held no image data. */
	finish(): StructureProblem | null;
}

/** A parse step: wait for `need` bytes and hand them over, or skip `skip` bytes. */
type Step =
	| { need: number; next: (bytes: Uint8Array) => Step | StructureProblem | "done" }
	| { skip: number; next: () => Step | StructureProblem | "done" };

const NO_DATA: StructureProblem = Object.freeze({ problem: "no_image_data" }) as StructureProblem;
const TOO_LARGE: StructureProblem = Object.freeze({ problem: "frame_too_large" }) as StructureProblem;

// Boxes of an AVIF's meta that are read whole to look for inline item data (idat); larger ones are skipped.
const MAX_META_SCAN = 64 * 1024;

/** The scanner for a sniffed type; `maxPixels` is MAX_IMAGE_PIXELS, applied to every frame. */
export function structureScanner(type: ImageType, maxPixels: number): StructureScanner {
	const state = { sawData: false };
	const start: Step =
		type === "image/png"
			? png(state)
			: type === "image/gif"
				? gif(state, maxPixels)
				: type === "image/jpeg"
					? jpeg(state)
					: type === "image/webp"
						? webp(state, maxPixels)
						: avif(state);
	return runSteps(start, state);
}

function runSteps(first: Step, state: { sawData: boolean }): StructureScanner {
	let step: Step | "done" = first;
	let failed: StructureProblem | null = null;
	let buffer = new Uint8Array(0);
	let skipped = 0;

	function advance(next: Step | StructureProblem | "done"): void {
		if (next === "done") step = "done";
		else if ("problem" in next) failed = next;
		else step = next;
	}

	return {
		push(chunk) {
			let offset = 0;
			while (!failed && step !== "done" && offset < chunk.byteLength) {
				const current: Step = step;
				if ("skip" in current) {
					const take = Math.min(current.skip - skipped, chunk.byteLength - offset);
					skipped += take;
					offset += take;
					if (skipped === current.skip) {
						skipped = 0;
						advance(current.next());
					}
					continue;
				}
				const take = Math.min(current.need - buffer.byteLength, chunk.byteLength - offset);
				const grown = new Uint8Array(buffer.byteLength + take);
				grown.set(buffer);
				grown.set(chunk.subarray(offset, offset + take), buffer.byteLength);
				buffer = grown;
				offset += take;
				if (buffer.byteLength === current.need) {
					const bytes = buffer;
					buffer = new Uint8Array(0);
					advance(current.next(bytes));
				}
			}
			// A zero-length skip or need completes without bytes.
			while (!failed && step !== "done" && ("skip" in step ? step.skip === 0 : step.need === 0)) {
				const current: Step = step;
				advance("skip" in current ? current.next() : current.next(new Uint8Array(0)));
			}
			return failed;
		},
		finish() {
			if (failed) return failed;
			return state.sawData ? null : NO_DATA;
		},
	};
}

function u16be(b: Uint8Array, o: number): number {
	return ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0);
}
function u16le(b: Uint8Array, o: number): number {
	return (b[o] ?? 0) | ((b[o + 1] ?? 0) << 8);
}
function u24le(b: Uint8Array, o: number): number {
	return (b[o] ?? 0) | ((b[o + 1] ?? 0) << 8) | ((b[o + 2] ?? 0) << 16);
}
function u32be(b: Uint8Array, o: number): number {
	return (((b[o] ?? 0) << 24) | ((b[o + 1] ?? 0) << 16) | ((b[o + 2] ?? 0) << 8) | (b[o + 3] ?? 0)) >>> 0;
}
function u32le(b: Uint8Array, o: number): number {
	return ((b[o] ?? 0) | ((b[o + 1] ?? 0) << 8) | ((b[o + 2] ?? 0) << 16) | ((b[o + 3] ?? 0) << 24)) >>> 0;
}
function fourcc(b: Uint8Array, o: number): string {
	return String.fromCharCode(b[o] ?? 0, b[o + 1] ?? 0, b[o + 2] ?? 0, b[o + 3] ?? 0);
}

// PNG: signature, then chunks (length, type, data, CRC). Image data is IDAT; IEND ends the file.
function png(state: { sawData: boolean }): Step {
	const chunk = (): Step => ({
		need: 8,
		next: (b) => {
			const type = fourcc(b, 4);
			if (type === "IDAT" && u32be(b, 0) > 0) state.sawData = true;
			if (type === "IEND") return "done";
			return { skip: u32be(b, 0) + 4, next: chunk };
		},
	});
	return { skip: 8, next: chunk };
}

// GIF: header and logical screen (13), optional global colour table, then blocks: image
// descriptors (0x2C) with their own size, extensions (0x21), the trailer (0x3B).
function gif(state: { sawData: boolean }, maxPixels: number): Step {
	const colourTable = (packed: number) => (packed & 0x80 ? 3 * 2 ** ((packed & 0x07) + 1) : 0);
	const subBlocks = (): Step => ({
		need: 1,
		next: (b) => ((b[0] ?? 0) === 0 ? block() : { skip: b[0] ?? 0, next: subBlocks }),
	});
	const block = (): Step => ({
		need: 1,
		next: (b) => {
			const introducer = b[0];
			if (introducer === 0x2c) {
				return {
					need: 9,
					next: (d) => {
						const width = u16le(d, 4);
						const height = u16le(d, 6);
						if (width * height > maxPixels) return TOO_LARGE;
						if (width > 0 && height > 0) state.sawData = true;
						// Then the local colour table, the LZW minimum code size, and the data sub-blocks.
						return { skip: colourTable(d[8] ?? 0) + 1, next: subBlocks };
					},
				};
			}
			if (introducer === 0x21) return { skip: 1, next: subBlocks };
			// The trailer, or bytes no decoder reads as part of the image.
			return "done";
		},
	});
	return { need: 13, next: (b) => ({ skip: colourTable(b[10] ?? 0), next: block }) };
}

// JPEG: marker segments up to the first scan (SOS); the scan is the image data.
function jpeg(state: { sawData: boolean }): Step {
	const marker = (): Step => ({
		need: 1,
		next: (b) => {
			if (b[0] !== 0xff) return "done";
			return markerCode();
		},
	});
	const markerCode = (): Step => ({
		need: 1,
		next: (b) => {
			const code = b[0] ?? 0;
			if (code === 0xff) return markerCode();
			if (code === 0xda) {
				state.sawData = true;
				return "done";
			}
			if (code === 0xd9) return "done";
			if (code === 0xd8 || code === 0x01 || (code >= 0xd0 && code <= 0xd7)) return marker();
			return { need: 2, next: (l) => ({ skip: Math.max(0, u16be(l, 0) - 2), next: marker }) };
		},
	});
	return marker();
}

// WebP: RIFF chunks; image data is a VP8/VP8L bitstream or an animation frame (ANMF, whose own
// size is checked against the pixel limit).
function webp(state: { sawData: boolean }, maxPixels: number): Step {
	const chunk = (): Step => ({
		need: 8,
		next: (b) => {
			const type = fourcc(b, 0);
			const size = u32le(b, 4);
			const padded = size + (size & 1);
			if ((type === "VP8 " || type === "VP8L") && size > 0) state.sawData = true;
			if (type === "ANMF" && size >= 16) {
				return {
					need: 12,
					next: (f) => {
						const width = u24le(f, 6) + 1;
						const height = u24le(f, 9) + 1;
						if (width * height > maxPixels) return TOO_LARGE;
						state.sawData = true;
						return { skip: padded - 12, next: chunk };
					},
				};
			}
			return { skip: padded, next: chunk };
		},
	});
	return { skip: 12, next: chunk };
}

// AVIF (ISO-BMFF): top-level boxes; image data is a non-empty mdat, or an idat inside meta.
function avif(state: { sawData: boolean }): Step {
	const box = (): Step => ({
		need: 8,
		next: (b) => {
			const size = u32be(b, 0);
			const type = fourcc(b, 4);
			if (size === 1) {
				return {
					need: 8,
					next: (l) => {
						const large = u32be(l, 0) * 2 ** 32 + u32be(l, 4);
						if (type === "mdat" && large > 16) state.sawData = true;
						return large < 16 ? "done" : { skip: large - 16, next: box };
					},
				};
			}
			if (size === 0) {
				// The box runs to the end of the file.
				if (type === "mdat") state.sawData = true;
				return "done";
			}
			if (size < 8) return "done";
			if (type === "mdat" && size > 8) state.sawData = true;
			if (type === "meta" && size - 8 <= MAX_META_SCAN) {
				return {
					need: size - 8,
					next: (m) => {
						for (let i = 0; i + 4 <= m.byteLength; i++) {
							if (m[i] === 0x69 && fourcc(m, i) === "idat" && i >= 4 && u32be(m, i - 4) > 8) state.sawData = true;
						}
						return box();
					},
				};
			}
			return { skip: size - 8, next: box };
		},
	});
	return box();
}
