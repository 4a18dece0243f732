import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { pngHead } from "../../scripts/lib/png.mjs";
import { api } from "./api";

/** The image object of the API. */
export type ImageJson = {
	id: string;
	filename: string;
	content_type: string;
	size: number;
	width: number;
	height: number;
	etag: string;
	metadata_stripped: boolean;
	created_at: string;
	updated_at: string;
	url: string;
	content_url: string;
};

/** Limits set for tests in vitest.config.ts. */
export const LIMITS = { maxBytes: 1_048_576, maxPixels: 50_000_000, quotaBytes: 2_000_000, quotaImages: 20 };

/**
 * A PNG signature and a valid IHDR for `width` x `height`, then one IDAT chunk whose data is `fill`
 * bytes, `size` bytes in all (at least 46). The server reads headers and walks the chunk structure
 * (it must hold image data) but never decodes, so this is a "valid" image of any dimensions and size.
 */
export function pngOf(width: number, height: number, size = 64, fill = 0): Uint8Array {
	const head = pngHead(width, height);
	const total = Math.max(size, head.length + 13);
	const bytes = new Uint8Array(total).fill(fill);
	bytes.set(head);
	const dataLength = total - head.length - 12;
	new DataView(bytes.buffer).setUint32(head.length, dataLength);
	bytes.set([0x49, 0x44, 0x41, 0x54], head.length + 4); // "IDAT"
	// The CRC (last 4 bytes) stays `fill`: nothing on the server checks a data chunk's CRC.
	return bytes;
}

/**
 * What Atrium stores for a fixture of test/fixtures (metadata stripped): the same bytes, except that
 * tiny.jpg loses its comment (COM, the 18 bytes after SOI and the 18-byte JFIF APP0).
 */
export function storedBytes(bytes: Uint8Array, name: string): Uint8Array {
	if (name !== "tiny.jpg") return bytes;
	expect(bytes[20]).toBe(0xff);
	expect(bytes[21]).toBe(0xfe);
	return concat(bytes.subarray(0, 20), bytes.subarray(38));
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
	const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
	let offset = 0;
	for (const part of parts) {
		out.set(part, offset);
		offset += part.byteLength;
	}
	return out;
}

/** Raw upload: the bytes as the body, with an image Content-Type and `?filename=`. */
export function postRaw(
	token: string,
	bytes: Uint8Array,
	options: { type?: string; filename?: string; path?: string; method?: string; headers?: Record<string, string> } = {},
): Promise<Response> {
	const url = new URL(options.path ?? "/v1/images", "https://atrium.test");
	if (options.filename !== undefined) url.searchParams.set("filename", options.filename);
	return api(url.pathname + url.search, {
		method: options.method ?? "POST",
		headers: { Authorization: `Bearer ${token}`, "Content-Type": options.type ?? "image/png", ...options.headers },
		body: bytes,
	});
}

/** Multipart upload with the file in field `image` (or `field`). */
export function postMultipart(
	token: string,
	bytes: Uint8Array,
	options: { type?: string; filename?: string; field?: string; path?: string; method?: string } = {},
): Promise<Response> {
	const form = new FormData();
	form.append(
		options.field ?? "image",
		new File([bytes], options.filename ?? "photo.png", { type: options.type ?? "" }),
	);
	return api(options.path ?? "/v1/images", {
		method: options.method ?? "POST",
		headers: { Authorization: `Bearer ${token}` },
		body: form,
	});
}

/** A body stream of unknown length (sent chunked) that counts how many bytes were pulled from it. */
export function chunkedBody(bytes: Uint8Array, chunkSize = 16 * 1024) {
	const state = { pulled: 0 };
	const stream = new ReadableStream<Uint8Array>({
		pull(controller) {
			if (state.pulled >= bytes.byteLength) {
				controller.close();
				return;
			}
			const chunk = bytes.slice(state.pulled, state.pulled + chunkSize);
			state.pulled += chunk.byteLength;
			controller.enqueue(chunk);
		},
	});
	return { stream, state };
}

/** Uploads and expects 201; returns the image. */
export async function uploadImage(token: string, bytes: Uint8Array, filename = "photo.png"): Promise<ImageJson> {
	const res = await postRaw(token, bytes, { type: "image/png", filename });
	expect(res.status, await res.clone().text()).toBe(201);
	return res.json();
}

/** Keys R2 holds under a prefix. */
export async function keysUnder(prefix: string): Promise<string[]> {
	const keys: string[] = [];
	let cursor: string | undefined;
	do {
		const page = await env.IMAGES.list({ prefix, cursor });
		keys.push(...page.objects.map((o) => o.key));
		cursor = page.truncated ? page.cursor : undefined;
	} while (cursor);
	return keys;
}

/** Number of image rows of a user, read straight from D1. */
export async function imageRowCount(userId: string): Promise<number> {
	const row = await env.DB.prepare("select count(*) as n from images where user_id = ?")
		.bind(userId)
		.first<{ n: number }>();
	return row?.n ?? 0;
}

/** SHA-256 hex of bytes. */
export async function sha256Hex(bytes: Uint8Array | ArrayBuffer): Promise<string> {
	const digest = await crypto.subtle.digest("SHA-256", bytes);
	return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
