import type { ReadConditions } from "../lib/http-conditions";
import { contentDisposition } from "../lib/http-file";
import { type TransformOptions, type VariantParams, transformOptions, variantName } from "../lib/variants";
import { imageKey, userPrefix, variantKey, variantsPrefix } from "./storage";

/*
 * Variants are made on the first request for them and kept in R2 next to nothing else: the key
 * names the image, the etag of the bytes they were made from and every parameter, so a cache hit
 * is one R2 read (no D1, no write), a replaced image's variants are simply never asked for again
 * (and are deleted by the replacement or the sweep), and two first requests racing for one
 * variant both write the same correct object (R2 puts are atomic; the later one wins).
 */

/** Variants kept per image version; past that, new ones are served without being stored. */
export const VARIANTS_KEPT = 16;

/** What makes a variant out of an original: Cloudflare's Images binding in production. */
export interface Transformer {
	/** The transformed image's bytes; throws when the input cannot be decoded. */
	transform(input: ReadableStream<Uint8Array>, options: TransformOptions): Promise<ReadableStream<Uint8Array>>;
}

/**
 * The Images binding (`[images] binding = "IMAGE_TRANSFORMS"`) as a Transformer. Locally miniflare
 * simulates it with sharp and honours only width, height, rotate and format (not `fit`).
 */
export function imagesTransformer(binding: ImagesBinding): Transformer {
	return {
		async transform(input, options) {
			const result = await binding.input(input).transform(options.transform).output(options.output);
			return result.image();
		},
	};
}

/** The image version a variant is made from. */
export type VariantSource = { userId: string; imageId: string; etag: string; filename: string };

export type VariantResult =
	| { kind: "response"; response: Response }
	/** The original (with that etag) is gone. */
	| { kind: "missing" }
	/** The Images binding could not decode the stored bytes. */
	| { kind: "untransformable" };

/**
 * Answers a GET for one variant: from R2 when it was made before (ETag / If-None-Match as for
 * originals, evaluated by R2), otherwise made from the original, stored (unless the image already
 * has VARIANTS_KEPT of them, or it is larger than `maxBytes`) and sent.
 */
export async function serveVariant(
	bucket: R2Bucket,
	transformer: Transformer,
	source: VariantSource,
	params: VariantParams,
	conditions: Pick<ReadConditions, "ifNoneMatch">,
	options: { cacheControl: string; maxBytes: number },
): Promise<VariantResult> {
	const key = variantKey(source.userId, source.imageId, source.etag, variantName(params));
	const tags = conditions.ifNoneMatch;
	// With If-None-Match matching, R2 answers with the object's metadata and no body.
	const cached: R2Object | R2ObjectBody | null = await bucket.get(key, {
		onlyIf: tags ? new Headers({ "If-None-Match": tags }) : undefined,
	});
	const headers = (contentType: string, etag: string | null) => {
		const h = new Headers({
			"Cache-Control": options.cacheControl,
			"Content-Type": contentType,
			"X-Content-Type-Options": "nosniff",
			"Content-Disposition": contentDisposition("inline", source.filename),
		});
		if (etag) h.set("ETag", etag);
		return h;
	};
	if (cached) {
		const contentType = cached.httpMetadata?.contentType ?? `image/${params.format}`;
		if (!("body" in cached)) {
			return {
				kind: "response",
				response: new Response(null, {
					status: 304,
					headers: { ETag: cached.httpEtag, "Cache-Control": options.cacheControl },
				}),
			};
		}
		const h = headers(contentType, cached.httpEtag);
		h.set("Content-Length", String(cached.size));
		return { kind: "response", response: new Response(cached.body, { status: 200, headers: h }) };
	}

	const original = await bucket.get(imageKey(source.userId, source.imageId), {
		onlyIf: { etagMatches: source.etag },
	});
	if (!original || !("body" in original)) return { kind: "missing" };
	let output: ReadableStream<Uint8Array>;
	const chunks: Uint8Array[] = [];
	let size = 0;
	let reader: ReadableStreamDefaultReader<Uint8Array>;
	try {
		output = await transformer.transform(original.body, transformOptions(params));
		reader = output.getReader();
		for (;;) {
			const { done, value } = await reader.read();
			if (done) break;
			chunks.push(value);
			size += value.byteLength;
			// Too large to keep: what was read, then the rest as it comes, never held whole.
			if (size > options.maxBytes) {
				const h = headers(`image/${params.format}`, null);
				return { kind: "response", response: new Response(resume(chunks, reader), { status: 200, headers: h }) };
			}
		}
	} catch {
		return { kind: "untransformable" };
	}
	// The local simulator streams sharp's output: a decode failure there ends the body empty.
	if (size === 0) return { kind: "untransformable" };

	const contentType = `image/${params.format}`;
	const kept = await bucket.list({
		prefix: `${variantsPrefix(source.userId, source.imageId)}${source.etag}/`,
		limit: VARIANTS_KEPT,
	});
	// One buffer serves both the put and the response (a variant is at most `maxBytes`).
	const bytes = new Uint8Array(size);
	let offset = 0;
	for (const chunk of chunks.splice(0)) {
		bytes.set(chunk, offset);
		offset += chunk.byteLength;
	}
	let etag: string | null = null;
	if (kept.objects.length < VARIANTS_KEPT) {
		const stored = await bucket.put(key, bytes, {
			httpMetadata: { contentType },
			customMetadata: { source: source.etag },
		});
		etag = stored.httpEtag;
	}
	const h = headers(contentType, etag);
	h.set("Content-Length", String(size));
	return { kind: "response", response: new Response(bytes, { status: 200, headers: h }) };
}

/** A stream of `chunks`, then whatever `rest` still yields. */
function resume(
	chunks: Uint8Array[],
	rest: ReadableStreamDefaultReader<Uint8Array> | null,
): ReadableStream<Uint8Array> {
	let index = 0;
	return new ReadableStream<Uint8Array>(
		{
			async pull(controller) {
				const chunk = chunks[index];
				if (chunk !== undefined) {
					chunks[index++] = new Uint8Array(0);
					controller.enqueue(chunk);
					return;
				}
				const next = rest ? await rest.read() : { done: true as const, value: undefined };
				if (next.done) controller.close();
				else controller.enqueue(next.value);
			},
			cancel: (reason) => rest?.cancel(reason),
		},
		{ highWaterMark: 0 },
	);
}

/** Deletes every variant of an image (all versions); returns how many. */
export async function deleteVariants(bucket: R2Bucket, userId: string, imageId: string): Promise<number> {
	let deleted = 0;
	let cursor: string | undefined;
	do {
		const page = await bucket.list({ prefix: variantsPrefix(userId, imageId), cursor, limit: 1000 });
		const keys = page.objects.map((object) => object.key);
		if (keys.length > 0) await bucket.delete(keys);
		deleted += keys.length;
		cursor = page.truncated ? page.cursor : undefined;
	} while (cursor);
	return deleted;
}

/** How many variants a user's images have in R2 and their bytes (for the export). */
export async function variantUsage(bucket: R2Bucket, userId: string): Promise<{ count: number; bytes: number }> {
	const usage = { count: 0, bytes: 0 };
	let cursor: string | undefined;
	do {
		const page = await bucket.list({ prefix: `${userPrefix(userId)}variants/`, cursor, limit: 1000 });
		for (const object of page.objects) {
			usage.count++;
			usage.bytes += object.size;
		}
		cursor = page.truncated ? page.cursor : undefined;
	} while (cursor);
	return usage;
}
