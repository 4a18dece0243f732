/**
 * Content sniffing for uploaded images.
 *
 * The type is decided from magic numbers only (never from a file name or a
 * client-supplied Content-Type), and the dimensions come straight from the
 * container/codec headers so that oversized images can be refused before
 * anything tries to decode pixels. All reads go through one DataView over the
 * caller's bytes; nothing is copied.
 */

export type ImageType = "image/jpeg" | "image/png" | "image/gif" | "image/webp" | "image/avif";

export type SniffResult =
	| { ok: true; type: ImageType; width: number; height: number; ext: string }
	| { ok: false; reason: "unsupported" | "truncated" };

/**
 * How many leading bytes of a file {@link sniffImage} needs. Headers of real
 * files sit well inside this; anything that places them further out (e.g. an
 * AVIF with a huge `mdat` before `meta`, or a JPEG with megabytes of
 * metadata before its frame header) is reported as truncated.
 */
export const SNIFF_BYTES = 64 * 1024;

type Failure = Extract<SniffResult, { ok: false }>;

// Shared by every call, so frozen in case a caller tries to annotate a result.
const UNSUPPORTED: Failure = Object.freeze({ ok: false, reason: "unsupported" });
const TRUNCATED: Failure = Object.freeze({ ok: false, reason: "truncated" });

/** -1 marks a byte whose value does not matter. */
type Magic = readonly number[];

const JPEG_MAGIC: Magic = [0xff, 0xd8, 0xff];
const PNG_MAGIC: Magic = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const GIF87_MAGIC: Magic = [0x47, 0x49, 0x46, 0x38, 0x37, 0x61];
const GIF89_MAGIC: Magic = [0x47, 0x49, 0x46, 0x38, 0x39, 0x61];
const WEBP_MAGIC: Magic = [0x52, 0x49, 0x46, 0x46, -1, -1, -1, -1, 0x57, 0x45, 0x42, 0x50];
// An ftyp box is tiny, so its 32-bit size starts with two zero bytes; requiring
// them keeps arbitrary 1-3 byte inputs from looking like a truncated AVIF.
const FTYP_MAGIC: Magic = [0x00, 0x00, -1, -1, 0x66, 0x74, 0x79, 0x70];

/** Upper bound on ISO-BMFF boxes visited, as a backstop against hostile nesting. */
const MAX_BOXES = 4096;

/**
 * Identifies a JPEG, PNG, GIF, WebP or AVIF image from its leading bytes and
 * reads its pixel dimensions from the headers.
 *
 * Only the first {@link SNIFF_BYTES} bytes of a file are needed; when the
 * relevant header is not within `head`, the result is `truncated` rather than
 * a guess. Zero-sized images are `unsupported`. AVIF dimensions are those of
 * the primary item's `ispe` property, and JPEG dimensions those of the frame
 * header, both before any rotation (irot / EXIF orientation) is applied.
 *
 * @param head The first bytes of the file (at most {@link SNIFF_BYTES} are inspected).
 * @returns The detected type, canonical extension and dimensions, or why detection failed.
 */
export function sniffImage(head: Uint8Array): SniffResult {
	const length = Math.min(head.byteLength, SNIFF_BYTES);
	if (length === 0) return UNSUPPORTED;
	const view = new DataView(head.buffer, head.byteOffset, length);

	let couldBeTruncated = false;
	const check = (magic: Magic): boolean => {
		const match = matchMagic(view, magic);
		if (match === "prefix") couldBeTruncated = true;
		return match === "full";
	};

	if (check(JPEG_MAGIC)) return sniffJpeg(view);
	if (check(PNG_MAGIC)) return sniffPng(view);
	if (check(GIF87_MAGIC) || check(GIF89_MAGIC)) return sniffGif(view);
	if (check(WEBP_MAGIC)) return sniffWebp(view);
	if (check(FTYP_MAGIC)) return sniffAvif(view);
	return couldBeTruncated ? TRUNCATED : UNSUPPORTED;
}

/**
 * "prefix" means every available byte agrees with the magic but there are too
 * few of them to be sure, so more data could still make it a match.
 */
function matchMagic(view: DataView, magic: Magic): "full" | "prefix" | "no" {
	const n = Math.min(view.byteLength, magic.length);
	for (let i = 0; i < n; i++) {
		const expected = magic[i];
		if (expected !== -1 && view.getUint8(i) !== expected) return "no";
	}
	return n === magic.length ? "full" : "prefix";
}

function ok(type: ImageType, ext: string, width: number, height: number): SniffResult {
	if (width <= 0 || height <= 0) return UNSUPPORTED;
	return { ok: true, type, width, height, ext };
}

function fourcc(view: DataView, offset: number): string {
	return String.fromCharCode(
		view.getUint8(offset),
		view.getUint8(offset + 1),
		view.getUint8(offset + 2),
		view.getUint8(offset + 3),
	);
}

// ---------------------------------------------------------------- JPEG

function isStartOfFrame(marker: number): boolean {
	// C4 (DHT), C8 (JPG extension) and CC (DAC) share the range but are not frames.
	return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

function isStandalone(marker: number): boolean {
	return marker === 0x01 || marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7);
}

function sniffJpeg(view: DataView): SniffResult {
	const end = view.byteLength;
	let pos = 2;
	// Every iteration consumes at least one byte, so this terminates.
	while (pos < end) {
		// Garbage between segments is tolerated by some decoders, but accepting it
		// would let us pick up an SOF lookalike from arbitrary data.
		if (view.getUint8(pos) !== 0xff) return UNSUPPORTED;
		while (pos < end && view.getUint8(pos) === 0xff) pos++;
		if (pos >= end) return TRUNCATED;
		const marker = view.getUint8(pos);
		pos++;
		if (marker === 0x00) return UNSUPPORTED;
		if (isStandalone(marker)) continue;
		// End of image or start of scan before any frame header: not a usable image.
		if (marker === 0xd9 || marker === 0xda) return UNSUPPORTED;
		if (pos + 2 > end) return TRUNCATED;
		const segmentLength = view.getUint16(pos);
		if (segmentLength < 2) return UNSUPPORTED;
		if (isStartOfFrame(marker)) {
			if (segmentLength < 8) return UNSUPPORTED;
			if (pos + segmentLength > end) return TRUNCATED;
			const components = view.getUint8(pos + 7);
			if (components === 0 || segmentLength !== 8 + 3 * components) return UNSUPPORTED;
			const height = view.getUint16(pos + 3);
			const width = view.getUint16(pos + 5);
			return ok("image/jpeg", "jpg", width, height);
		}
		pos += segmentLength;
	}
	return TRUNCATED;
}

// ---------------------------------------------------------------- PNG

function sniffPng(view: DataView): SniffResult {
	// Signature (8) + IHDR length/type (8) + IHDR data (13) + CRC (4).
	if (view.byteLength < 33) return TRUNCATED;
	if (view.getUint32(8) !== 13 || fourcc(view, 12) !== "IHDR") return UNSUPPORTED;
	if (crc32(view, 12, 17) !== view.getUint32(29)) return UNSUPPORTED;
	const width = view.getUint32(16);
	const height = view.getUint32(20);
	if (width > 0x7fffffff || height > 0x7fffffff) return UNSUPPORTED;
	return ok("image/png", "png", width, height);
}

/** Bitwise CRC-32 (no table): it only ever runs over the 17 bytes of IHDR. */
function crc32(view: DataView, offset: number, length: number): number {
	let crc = 0xffffffff;
	for (let i = offset; i < offset + length; i++) {
		crc ^= view.getUint8(i);
		for (let k = 0; k < 8; k++) {
			crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
		}
	}
	return (crc ^ 0xffffffff) >>> 0;
}

// ---------------------------------------------------------------- GIF

function sniffGif(view: DataView): SniffResult {
	// Header (6) + the whole logical screen descriptor (7).
	if (view.byteLength < 13) return TRUNCATED;
	return ok("image/gif", "gif", view.getUint16(6, true), view.getUint16(8, true));
}

// ---------------------------------------------------------------- WebP

function sniffWebp(view: DataView): SniffResult {
	if (view.byteLength < 20) return TRUNCATED;
	const riffSize = view.getUint32(4, true);
	const chunkSize = view.getUint32(16, true);
	// Mirrors libwebp: the first chunk has to fit inside the RIFF payload.
	if (riffSize < 12 || chunkSize > riffSize - 12) return UNSUPPORTED;
	const payload = 20;
	switch (fourcc(view, 12)) {
		case "VP8 ": {
			if (chunkSize < 10) return UNSUPPORTED;
			if (view.byteLength < payload + 10) return TRUNCATED;
			const frameTag = view.getUint8(payload);
			// Bit 0 clear marks a key frame; bit 4 is show_frame.
			if ((frameTag & 0x01) !== 0 || (frameTag & 0x10) === 0) return UNSUPPORTED;
			if (
				view.getUint8(payload + 3) !== 0x9d ||
				view.getUint8(payload + 4) !== 0x01 ||
				view.getUint8(payload + 5) !== 0x2a
			) {
				return UNSUPPORTED;
			}
			// The top two bits are upscaling hints, not part of the size.
			const width = view.getUint16(payload + 6, true) & 0x3fff;
			const height = view.getUint16(payload + 8, true) & 0x3fff;
			return ok("image/webp", "webp", width, height);
		}
		case "VP8L": {
			if (chunkSize < 5) return UNSUPPORTED;
			if (view.byteLength < payload + 5) return TRUNCATED;
			if (view.getUint8(payload) !== 0x2f) return UNSUPPORTED;
			const bits = view.getUint32(payload + 1, true);
			if (bits >>> 29 !== 0) return UNSUPPORTED; // version must be 0
			const width = (bits & 0x3fff) + 1;
			const height = ((bits >>> 14) & 0x3fff) + 1;
			return ok("image/webp", "webp", width, height);
		}
		case "VP8X": {
			if (chunkSize < 10) return UNSUPPORTED;
			if (view.byteLength < payload + 10) return TRUNCATED;
			const width = readUint24le(view, payload + 4) + 1;
			const height = readUint24le(view, payload + 7) + 1;
			return ok("image/webp", "webp", width, height);
		}
		default:
			return UNSUPPORTED;
	}
}

function readUint24le(view: DataView, offset: number): number {
	return view.getUint8(offset) | (view.getUint8(offset + 1) << 8) | (view.getUint8(offset + 2) << 16);
}

// ---------------------------------------------------------------- AVIF (ISO-BMFF)

type Box = {
	type: string;
	/** Offset of the first byte after the box header (before version/flags of full boxes). */
	contentStart: number;
	/** Offset just past the box. */
	end: number;
	/**
	 * Whether the box may continue beyond the bytes we hold: it declared size 0
	 * ("to the end of the file") at a level that itself reaches the end of our
	 * data. Missing children of such a box mean truncation, not a broken file.
	 */
	open: boolean;
};

type BoxRead = Box | Failure;

/** Shared, mutable budget so nested walks cannot multiply the work. */
type Budget = { boxes: number };

/** Returned by a visitor to end a walk early without failing. */
const STOP = "stop";

/**
 * Reads the box header at `pos` inside a parent spanning up to `parentEnd`.
 * A box that runs past an open parent (the file itself, or a box of size 0)
 * may simply be cut off by the end of our data; past a complete parent it is
 * malformed.
 */
function readBox(view: DataView, pos: number, parentEnd: number, parentOpen: boolean, budget: Budget): BoxRead {
	if (--budget.boxes < 0) return UNSUPPORTED;
	const overflow = parentOpen ? TRUNCATED : UNSUPPORTED;
	if (pos + 8 > parentEnd) return overflow;
	const size32 = view.getUint32(pos);
	const type = fourcc(view, pos + 4);
	let headerSize = 8;
	let size: number;
	if (size32 === 1) {
		if (pos + 16 > parentEnd) return overflow;
		const high = view.getUint32(pos + 8);
		const low = view.getUint32(pos + 12);
		if (high !== 0) {
			// At or above 2^32 bytes: necessarily past anything we hold (and past
			// exact double arithmetic beyond 2^53), so no need to compute it.
			return overflow;
		}
		size = low;
		headerSize = 16;
	} else if (size32 === 0) {
		size = parentEnd - pos;
	} else {
		size = size32;
	}
	if (size < headerSize) return UNSUPPORTED;
	const end = pos + size;
	if (end > parentEnd) return overflow;
	return { type, contentStart: pos + headerSize, end, open: size32 === 0 && parentOpen };
}

function isFailure(value: BoxRead): value is Failure {
	return "ok" in value;
}

/**
 * Calls `visit` for each child box of a parent whose children occupy
 * [start, end); stops early on a visitor's failure or STOP, or on a framing
 * failure.
 */
function walkBoxes(
	view: DataView,
	start: number,
	end: number,
	open: boolean,
	budget: Budget,
	visit: (box: Box) => Failure | typeof STOP | undefined,
): Failure | undefined {
	let pos = start;
	while (pos < end) {
		const box = readBox(view, pos, end, open, budget);
		if (isFailure(box)) return box;
		const result = visit(box);
		if (result === STOP) return undefined;
		if (result) return result;
		// readBox guarantees size >= 8, so pos strictly increases.
		pos = box.end;
	}
	return undefined;
}

function sniffAvif(view: DataView): SniffResult {
	const budget: Budget = { boxes: MAX_BOXES };
	const available = view.byteLength;

	const ftyp = readBox(view, 0, available, true, budget);
	if (isFailure(ftyp)) return ftyp;
	if (ftyp.type !== "ftyp" || ftyp.end - ftyp.contentStart < 8) return UNSUPPORTED;
	if (!hasAvifBrand(view, ftyp)) return UNSUPPORTED;

	let meta: Box | undefined;
	const topFailure = walkBoxes(view, ftyp.end, available, true, budget, (box) => {
		if (box.type !== "meta") return undefined;
		meta = box;
		return STOP;
	});
	if (topFailure) return topFailure;
	// We ran out of top-level boxes; more of the file may still hold meta.
	if (!meta) return TRUNCATED;
	return readPrimaryItemSize(view, meta, budget);
}

function hasAvifBrand(view: DataView, ftyp: Box): boolean {
	const isAvifBrand = (offset: number) => {
		const brand = fourcc(view, offset);
		return brand === "avif" || brand === "avis";
	};
	if (isAvifBrand(ftyp.contentStart)) return true;
	// Skip major brand and minor version; the rest is a list of 4-byte brands.
	for (let pos = ftyp.contentStart + 8; pos + 4 <= ftyp.end; pos += 4) {
		if (isAvifBrand(pos)) return true;
	}
	return false;
}

function readPrimaryItemSize(view: DataView, meta: Box, budget: Budget): SniffResult {
	// meta is a full box: version and flags precede its children.
	if (meta.end - meta.contentStart < 4) return meta.open ? TRUNCATED : UNSUPPORTED;

	let primaryItem: number | undefined;
	let ipco: Box | undefined;
	const ipmaBoxes: Box[] = [];

	const metaFailure = walkBoxes(view, meta.contentStart + 4, meta.end, meta.open, budget, (box) => {
		if (box.type === "pitm") {
			const version = fullBoxVersion(view, box);
			if (version === undefined) return UNSUPPORTED;
			const idSize = version === 0 ? 2 : 4;
			if (box.end - box.contentStart < 4 + idSize) return UNSUPPORTED;
			primaryItem = idSize === 2 ? view.getUint16(box.contentStart + 4) : view.getUint32(box.contentStart + 4);
		} else if (box.type === "iprp") {
			return walkBoxes(view, box.contentStart, box.end, box.open, budget, (child) => {
				if (child.type === "ipco" && !ipco) ipco = child;
				else if (child.type === "ipma") ipmaBoxes.push(child);
				return undefined;
			});
		}
		return undefined;
	});
	if (metaFailure) return metaFailure;
	if (primaryItem === undefined || !ipco || ipmaBoxes.length === 0) {
		return meta.open ? TRUNCATED : UNSUPPORTED;
	}

	const propertyIndices: number[] = [];
	for (const ipma of ipmaBoxes) {
		const failure = collectAssociations(view, ipma, primaryItem, propertyIndices);
		if (failure) return failure;
	}

	// Property indices are 1-based positions within ipco.
	let index = 0;
	let size: { width: number; height: number } | undefined;
	const ipcoFailure = walkBoxes(view, ipco.contentStart, ipco.end, ipco.open, budget, (property) => {
		index++;
		if (property.type !== "ispe" || !propertyIndices.includes(index)) return undefined;
		if (fullBoxVersion(view, property) === undefined || property.end - property.contentStart < 12) {
			return UNSUPPORTED;
		}
		size = {
			width: view.getUint32(property.contentStart + 4),
			height: view.getUint32(property.contentStart + 8),
		};
		return STOP;
	});
	if (ipcoFailure) return ipcoFailure;
	if (!size) return ipco.open ? TRUNCATED : UNSUPPORTED;
	return ok("image/avif", "avif", size.width, size.height);
}

function fullBoxVersion(view: DataView, box: Box): number | undefined {
	if (box.end - box.contentStart < 4) return undefined;
	return view.getUint8(box.contentStart);
}

/** Appends the property indices that `ipma` associates with `itemId`. */
function collectAssociations(view: DataView, ipma: Box, itemId: number, out: number[]): Failure | undefined {
	const version = fullBoxVersion(view, ipma);
	if (version === undefined) return UNSUPPORTED;
	const flags = view.getUint32(ipma.contentStart) & 0xffffff;
	const idSize = version < 1 ? 2 : 4;
	const indexSize = (flags & 1) === 1 ? 2 : 1;
	let pos = ipma.contentStart + 4;
	if (pos + 4 > ipma.end) return UNSUPPORTED;
	const entryCount = view.getUint32(pos);
	pos += 4;
	// Each entry takes at least idSize + 1 bytes and pos is bounds-checked
	// against the (complete) box, so a hostile entryCount cannot spin for long.
	for (let entry = 0; entry < entryCount; entry++) {
		if (pos + idSize + 1 > ipma.end) return UNSUPPORTED;
		const id = idSize === 2 ? view.getUint16(pos) : view.getUint32(pos);
		const count = view.getUint8(pos + idSize);
		pos += idSize + 1;
		if (pos + count * indexSize > ipma.end) return UNSUPPORTED;
		if (id === itemId) {
			for (let i = 0; i < count; i++) {
				// The top bit flags the property as essential; the rest is the index.
				const raw = indexSize === 2 ? view.getUint16(pos + i * 2) & 0x7fff : view.getUint8(pos + i) & 0x7f;
				out.push(raw);
			}
		}
		pos += count * indexSize;
	}
	return undefined;
}
