import { encodeHexLowerCase } from "@oslojs/encoding";
import { type ImageType, SNIFF_BYTES, sniffImage } from "../lib/image-sniff";
import { type StructureProblem, type StructureScanner, structureScanner } from "../lib/image-structure";
import { stripMetadata } from "../lib/image-strip";

/** Why an upload was refused; the route turns each into its problem code. */
export type Refusal =
	| { reason: "too_large"; limit: number }
	| { reason: "unsupported_type" }
	| { reason: "dimensions_too_large"; limit: number }
	| { reason: "quota_exceeded" }
	| { reason: "invalid_form"; field: string }
	| { reason: "precondition_failed" }
	| { reason: "not_found" }
	/** The account was deleted while its upload streamed. */
	| { reason: "account_gone" }
	/** The client went away (or broke its body) before the upload was complete. */
	| { reason: "client_gone" };

/** The bytes of an upload as they arrive, before anything has looked at them. */
export type UploadSource = {
	stream: ReadableStream<Uint8Array>;
	/** Exact length when the sender committed to one (Content-Length, or the multipart part's size). */
	length: number | null;
	/**
	 * The media type a multipart part claimed, lower-cased without parameters; null when it claimed
	 * none, and for raw bodies, whose image/* Content-Type the sniffed bytes override.
	 */
	declaredType: string | null;
	/** The client's name for the file, unsanitized; null when none was given. */
	filename: string | null;
};

/** An upload whose leading bytes passed type and dimension checks; the rest is still unread. */
export type InspectedUpload = {
	type: ImageType;
	ext: string;
	width: number;
	height: number;
	length: number | null;
	filename: string | null;
	/** Chunks already read from `reader` to sniff the type; they are sent first. */
	prefix: Uint8Array[];
	/** Checks the whole file's structure as it streams (image data present, every frame within the limit). */
	structure: StructureScanner;
	maxPixels: number;
	reader: ReadableStreamDefaultReader<Uint8Array>;
};

/** What R2 stored, as needed to describe it in D1; `stripped` when the bytes went through metadata stripping. */
export type StoredObject = { etag: string; size: number; sha256: string; uploaded: Date; stripped: boolean };

export type Outcome<T> = { ok: true; value: T } | { ok: false; refusal: Refusal };

// Spellings of the five types that tools still send; anything else must name the sniffed type exactly.
const TYPE_ALIASES: Record<string, ImageType> = {
	"image/jpg": "image/jpeg",
	"image/pjpeg": "image/jpeg",
	"image/x-png": "image/png",
};

/** A part without a real claim: browsers and curl fall back to these when they do not know the type. */
const NO_CLAIM = new Set(["", "application/octet-stream"]);

/**
 * Reads just enough of the upload to decide its type and dimensions from the bytes, then checks
 * them: an unknown or truncated format, a declared type that disagrees with the bytes, or more
 * than `maxPixels` pixels. Nothing else of the body is read.
 */
export async function inspectUpload(source: UploadSource, maxPixels: number): Promise<Outcome<InspectedUpload>> {
	const reader = source.stream.getReader();
	const prefix: Uint8Array[] = [];
	let read = 0;
	while (read < SNIFF_BYTES) {
		let chunk: ReadableStreamReadResult<Uint8Array>;
		try {
			chunk = await reader.read();
		} catch {
			// The request body broke: the client went away. Its fault, not the platform's.
			return refuse({ reason: "client_gone" });
		}
		const { done, value } = chunk;
		if (done) break;
		prefix.push(value);
		read += value.byteLength;
	}
	const sniffed = sniffImage(joinHead(prefix, Math.min(read, SNIFF_BYTES)));
	const refusal: Refusal | null = !sniffed.ok
		? { reason: "unsupported_type" }
		: !declarationAgrees(source.declaredType, sniffed.type)
			? { reason: "unsupported_type" }
			: sniffed.width * sniffed.height > maxPixels
				? { reason: "dimensions_too_large", limit: maxPixels }
				: null;
	if (refusal || !sniffed.ok) {
		await reader.cancel().catch(() => {});
		return refuse(refusal ?? { reason: "unsupported_type" });
	}
	return {
		ok: true,
		value: {
			type: sniffed.type,
			ext: sniffed.ext,
			width: sniffed.width,
			height: sniffed.height,
			length: source.length,
			filename: source.filename,
			prefix,
			structure: structureScanner(sniffed.type, maxPixels),
			maxPixels,
			reader,
		},
	};
}

function declarationAgrees(declared: string | null, sniffed: ImageType): boolean {
	if (declared === null || NO_CLAIM.has(declared)) return true;
	return (TYPE_ALIASES[declared] ?? declared) === sniffed;
}

/** The first `length` bytes of the chunks; copies only when the head spans several chunks. */
function joinHead(chunks: Uint8Array[], length: number): Uint8Array {
	const first = chunks[0];
	if (!first) return new Uint8Array(0);
	if (first.byteLength >= length) return first.subarray(0, length);
	const head = new Uint8Array(length);
	let offset = 0;
	for (const chunk of chunks) {
		if (offset >= length) break;
		const part = chunk.subarray(0, length - offset);
		head.set(part, offset);
		offset += part.byteLength;
	}
	return head;
}

export type StoreOptions = {
	maxBytes: number;
	/** Bytes the owner may still add; going past it is a quota refusal rather than "too large". */
	byteBudget: number;
	httpMetadata: R2HTTPMetadata;
	customMetadata?: Record<string, string>;
	/** R2 condition for the write, e.g. that the object still has the etag the caller validated. */
	onlyIf?: R2Conditional;
	/**
	 * Called once with the exact size, after the limits passed and before the put starts (before a
	 * byte is streamed when the length is declared, after collecting a chunked body otherwise): a
	 * refusal stops the upload with nothing written.
	 */
	reserve?: (length: number) => Promise<Refusal | null>;
	/**
	 * Strip metadata (src/lib/image-strip.ts) before storing. The stored length is then known only
	 * at the end, so the upload is held once in memory (at most `maxBytes`), `byteBudget` and
	 * `reserve` apply to the stripped length, and the hash describes the stored bytes.
	 */
	strip?: boolean;
};

/**
 * Streams an inspected upload into R2 under `key`, counting bytes and hashing (SHA-256) on the way.
 *
 * R2 wants a body of known length: with one, the bytes flow straight through a FixedLengthStream
 * and are never held whole; without one (chunked), they are collected once as received and then
 * written. Either way the limits are enforced as bytes arrive, and R2 commits a put atomically:
 * a body cut off for size or by a failing client never replaces what was stored before.
 */
export async function storeUpload(
	bucket: R2Bucket,
	key: string,
	upload: InspectedUpload,
	options: StoreOptions,
): Promise<Outcome<StoredObject>> {
	const strip = options.strip === true;
	const budget = Math.max(0, Math.min(options.maxBytes, options.byteBudget));
	// Stripping may shrink the file under the quota: only the size limit applies to the bytes as sent.
	const limit = strip ? options.maxBytes : budget;
	const refusalFor = (size: number): Refusal =>
		size > options.maxBytes ? { reason: "too_large", limit: options.maxBytes } : { reason: "quota_exceeded" };
	if (upload.length !== null && upload.length > limit) {
		await upload.reader.cancel().catch(() => {});
		return refuse(refusalFor(upload.length));
	}
	if (upload.length !== null && options.reserve && !strip) {
		const refused = await options.reserve(upload.length);
		if (refused) {
			await upload.reader.cancel().catch(() => {});
			return refuse(refused);
		}
	}

	const digest = new crypto.DigestStream("SHA-256");
	const digestWriter = digest.getWriter();
	let refusal: Refusal | null = null;
	let size = 0;
	const pending = [...upload.prefix];
	const counted = new ReadableStream<Uint8Array>(
		{
			async pull(controller) {
				let next = pending.shift();
				if (next === undefined) {
					try {
						next = (await upload.reader.read()).value;
					} catch (cause) {
						// A client that disconnects mid-upload is not an infrastructure failure (no 503).
						refusal = { reason: "client_gone" };
						controller.error(cause);
						return;
					}
				}
				if (next === undefined) {
					if (upload.length !== null && size < upload.length) {
						// The body ended short of its Content-Length: the client went away mid-upload.
						refusal = { reason: "client_gone" };
						controller.error(new Error("upload body ended early"));
						return;
					}
					// Checked before the body closes: an erroring body never commits the put.
					const problem = upload.structure.finish();
					if (problem) {
						refusal = structureRefusal(problem, upload.maxPixels);
						controller.error(new Error("upload refused by its structure"));
						return;
					}
					if (!strip) await digestWriter.close();
					controller.close();
					return;
				}
				const problem = upload.structure.push(next);
				if (problem) {
					refusal = structureRefusal(problem, upload.maxPixels);
					controller.error(new Error("upload refused by its structure"));
					await upload.reader.cancel().catch(() => {});
					return;
				}
				size += next.byteLength;
				if (size > limit) {
					refusal = refusalFor(size);
					controller.error(new Error("upload over its limit"));
					await upload.reader.cancel().catch(() => {});
					return;
				}
				// With a known length R2 may commit as soon as the last byte arrives: judge the file before it does.
				const last = !strip && upload.length !== null && size === upload.length ? upload.structure.finish() : null;
				if (last) {
					refusal = structureRefusal(last, upload.maxPixels);
					controller.error(new Error("upload refused by its structure"));
					await upload.reader.cancel().catch(() => {});
					return;
				}
				if (!strip) await digestWriter.write(next);
				controller.enqueue(next);
			},
			cancel: (reason) => upload.reader.cancel(reason),
		},
		{ highWaterMark: 0 },
	);

	let body = counted;
	let length = upload.length;
	if (strip) {
		const held = await holdWhole(counted, upload.length, options.maxBytes);
		if (!held.ok) {
			if (refusal) return refuse(refusal);
			throw held.cause;
		}
		const stripped = stripMetadata(upload.type, held.bytes);
		if (!stripped) return refuse({ reason: "unsupported_type" });
		length = stripped.length;
		if (length > budget) return refuse(refusalFor(length));
		if (options.reserve) {
			const refused = await options.reserve(length);
			if (refused) return refuse(refused);
		}
		for (const piece of stripped.pieces) await digestWriter.write(piece);
		await digestWriter.close();
		body = streamOf(stripped.pieces);
	} else if (length === null) {
		const chunks: Uint8Array[] = [];
		try {
			for await (const chunk of counted) chunks.push(chunk);
		} catch (cause) {
			if (refusal) return refuse(refusal);
			throw cause;
		}
		length = size;
		if (options.reserve) {
			const refused = await options.reserve(length);
			if (refused) return refuse(refused);
		}
		body = streamOf(chunks);
	}

	const fixed = new FixedLengthStream(length);
	const abort = new AbortController();
	// Failures of the pipe surface through the put, which sees its body error.
	const piping = body.pipeTo(fixed.writable, { signal: abort.signal }).catch(() => {});
	let object: R2Object | null;
	try {
		object = await bucket.put(key, fixed.readable, {
			httpMetadata: options.httpMetadata,
			customMetadata: options.customMetadata,
			onlyIf: options.onlyIf,
		});
	} catch (cause) {
		abort.abort();
		if (refusal) return refuse(refusal);
		throw cause;
	}
	if (object === null) {
		abort.abort();
		return refuse({ reason: "precondition_failed" });
	}
	await piping;
	const sha256 = encodeHexLowerCase(new Uint8Array(await digest.digest));
	return {
		ok: true,
		value: { etag: object.etag, size: object.size, sha256, uploaded: object.uploaded, stripped: strip },
	};
}

/**
 * Reads a whole (already counted and checked) body into one resizable buffer, sized up front when
 * the length was declared and grown in place up to `maxBytes` otherwise. Each chunk is copied in
 * and let go, so the file is held once.
 */
async function holdWhole(
	body: ReadableStream<Uint8Array>,
	declared: number | null,
	maxBytes: number,
): Promise<{ ok: true; bytes: Uint8Array } | { ok: false; cause: unknown }> {
	const buffer = new ArrayBuffer(Math.min(declared ?? 0, maxBytes), { maxByteLength: maxBytes });
	let filled = 0;
	try {
		for await (const chunk of body) {
			if (filled + chunk.byteLength > buffer.byteLength) buffer.resize(filled + chunk.byteLength);
			new Uint8Array(buffer, filled, chunk.byteLength).set(chunk);
			filled += chunk.byteLength;
		}
	} catch (cause) {
		return { ok: false, cause };
	}
	return { ok: true, bytes: new Uint8Array(buffer, 0, filled) };
}

function structureRefusal(problem: StructureProblem, maxPixels: number): Refusal {
	return problem.problem === "frame_too_large"
		? { reason: "dimensions_too_large", limit: maxPixels }
		: { reason: "unsupported_type" };
}

/**
 * Custom metadata stored with an image object: with the Content-Type and size R2 keeps anyway,
 * it lets the sweep rebuild a row from the object alone (the hash it recomputes from the bytes).
 */
export function objectMetadata(
	upload: Pick<InspectedUpload, "width" | "height">,
	stripped: boolean,
): Record<string, string> {
	return { width: String(upload.width), height: String(upload.height), stripped: stripped ? "1" : "0" };
}

/** A failed outcome. */
export function refuse(refusal: Refusal): { ok: false; refusal: Refusal } {
	return { ok: false, refusal };
}

/** Hands the chunks out one by one and lets go of each, so they can be freed as R2 consumes them. */
function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
	let index = 0;
	return new ReadableStream<Uint8Array>(
		{
			pull(controller) {
				const chunk = chunks[index];
				if (chunk === undefined) {
					controller.close();
					return;
				}
				chunks[index++] = EMPTY;
				controller.enqueue(chunk);
			},
		},
		{ highWaterMark: 0 },
	);
}

const EMPTY = new Uint8Array(0);
