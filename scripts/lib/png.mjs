// PNG byte building shared by the fixture generator, the load script and the tests (plain
// JavaScript without Node APIs, so it runs in Node and inside workerd alike). Types: png.d.mts.

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
	let c = n;
	for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
	return c >>> 0;
});

export const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** The CRC-32 PNG chunks carry (ISO 3309, as zlib computes it). */
export function crc32(bytes) {
	let crc = 0xffffffff;
	for (const b of bytes) crc = CRC_TABLE[(crc ^ b) & 0xff] ^ (crc >>> 8);
	return (crc ^ 0xffffffff) >>> 0;
}

/** Big-endian 32-bit integer as four bytes. */
export function u32be(n) {
	return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

/** One PNG chunk: length, type, data and CRC. */
export function pngChunk(type, data) {
	const typeAndData = Uint8Array.from([...new TextEncoder().encode(type), ...data]);
	return Uint8Array.from([...u32be(data.length), ...typeAndData, ...u32be(crc32(typeAndData))]);
}

/**
 * The signature and a valid IHDR for `width` x `height` (8-bit, colour type `colourType`): all a
 * server that reads only headers looks at.
 */
export function pngHead(width, height, colourType = 2) {
	const ihdr = pngChunk("IHDR", [...u32be(width), ...u32be(height), 8, colourType, 0, 0, 0]);
	return Uint8Array.from([...PNG_SIGNATURE, ...ihdr]);
}

/**
 * Writes, in place after the `pngHead` at the start of `bytes`, the header of one IDAT chunk that
 * fills the rest (its last 4 bytes stand for the CRC, left as they are: the server walks the chunk
 * structure, which must hold image data, but never decodes or checks a data chunk's CRC). Lets
 * scripts send PNGs of any size and content cheaply. `bytes` must be at least 46 bytes long.
 */
export function fillWithIdat(bytes) {
	const offset = 33;
	const dataLength = bytes.length - offset - 12;
	if (dataLength < 1) throw new Error("a PNG with image data needs at least 46 bytes");
	bytes.set([...u32be(dataLength), 0x49, 0x44, 0x41, 0x54], offset);
	return bytes;
}
