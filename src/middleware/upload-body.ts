import { type Outcome, type UploadSource, refuse } from "../services/uploads";

// Reading an upload's request body (the route side of an upload): Content-Type and Content-Length,
// multipart or raw bytes, and the size limit while the body arrives. What the bytes are and where
// they go is services/uploads.ts, which sees only the resulting stream and declared values.

/**
 * Room for multipart framing around the `image` part: boundaries, part headers (a long file name
 * included) and a few small fields. Only the multipart body limit adds it; the file itself is
 * still held to MAX_IMAGE_BYTES.
 */
export const MULTIPART_OVERHEAD = 64 * 1024;

function mediaType(header: string | null | undefined): string {
	return (header ?? "").split(";", 1)[0]?.trim().toLowerCase() ?? "";
}

/** Content-Length as a number, or null when absent, malformed, or overridden by chunked framing. */
function declaredLength(headers: Headers): number | null {
	if (headers.has("transfer-encoding")) return null;
	const value = headers.get("content-length");
	if (value === null || !/^\d+$/.test(value.trim())) return null;
	return Number(value);
}

/**
 * Opens an image upload sent either as multipart (field `image`) or as raw bytes with an image
 * Content-Type. A declared Content-Length over the limit is refused before a byte of the body is
 * read. Multipart has to be parsed in memory (the File is held once); a chunked multipart body is
 * cut off as soon as it passes the limit instead of being buffered whole.
 *
 * @param request The incoming request; its body is consumed only on success.
 * @param maxBytes MAX_IMAGE_BYTES.
 * @param filenameParam `?filename=`, used for raw bodies and as a fallback for nameless parts.
 */
export async function openUpload(
	request: Request,
	maxBytes: number,
	filenameParam: string | undefined,
): Promise<Outcome<UploadSource>> {
	const type = mediaType(request.headers.get("content-type"));
	const length = declaredLength(request.headers);
	if (type === "multipart/form-data") {
		const formLimit = maxBytes + MULTIPART_OVERHEAD;
		if (length !== null && length > formLimit) return refuse({ reason: "too_large", limit: maxBytes });
		return openMultipart(request, length === null ? formLimit : null, maxBytes, filenameParam);
	}
	if (!type.startsWith("image/")) return refuse({ reason: "unsupported_type" });
	if (length !== null && length > maxBytes) return refuse({ reason: "too_large", limit: maxBytes });
	return {
		ok: true,
		value: {
			stream: request.body ?? emptyStream(),
			length: request.body ? length : 0,
			// A raw body's Content-Type only has to say "an image" (checked above): when it names
			// another image type than the bytes, the bytes win (API.md v1.1), so it makes no claim.
			declaredType: null,
			filename: filenameParam ?? null,
		},
	};
}

async function openMultipart(
	request: Request,
	streamLimit: number | null,
	maxBytes: number,
	filenameParam: string | undefined,
): Promise<Outcome<UploadSource>> {
	let overflowed = false;
	let source = request;
	if (streamLimit !== null && request.body) {
		// Without a Content-Length only counting the bytes as they arrive can stop an endless body.
		const body = request.body.pipeThrough(
			countingStream(streamLimit, () => {
				overflowed = true;
			}),
		);
		source = new Request(request.url, { method: request.method, headers: request.headers, body });
	}
	let form: FormData;
	try {
		form = await source.formData();
	} catch {
		if (overflowed) return refuse({ reason: "too_large", limit: maxBytes });
		return refuse({ reason: "invalid_form", field: "" });
	}
	const file = form.get("image");
	if (!(file instanceof File)) return refuse({ reason: "invalid_form", field: "image" });
	if (file.size > maxBytes) return refuse({ reason: "too_large", limit: maxBytes });
	return {
		ok: true,
		value: {
			stream: file.stream(),
			length: file.size,
			declaredType: mediaType(file.type),
			filename: file.name || filenameParam || null,
		},
	};
}

function emptyStream(): ReadableStream<Uint8Array> {
	return new ReadableStream({ start: (controller) => controller.close() });
}

/** Passes bytes through until more than `limit` have gone by, then fails the stream. */
function countingStream(limit: number, onOverflow: () => void): TransformStream<Uint8Array, Uint8Array> {
	let seen = 0;
	return new TransformStream({
		transform(chunk, controller) {
			seen += chunk.byteLength;
			if (seen > limit) {
				onOverflow();
				controller.error(new Error("body over its limit"));
				return;
			}
			controller.enqueue(chunk);
		},
	});
}
