import { contentDisposition, etagMatches, parseRange } from "../lib/http-file";

/**
 * Clients copy an `etag` field into If-Match / If-None-Match with or without its quotes; a bare
 * token would be skipped by a strict parser and silently turn every conditional request into a
 * miss, so bare tokens are read as the quoted tag they name.
 */
export function lenientEntityTags(header: string): string {
	// A quoted field quoted once more by the client: ""abc"" stands for "abc".
	const trimmed = header.trim().replace(/"{2,}/g, '"');
	if (trimmed === "*" || trimmed.includes('"')) return trimmed;
	return trimmed
		.split(",")
		.map((tag) => tag.trim())
		.filter(Boolean)
		.map((tag) => (tag.startsWith("W/") ? `W/"${tag.slice(2)}"` : `"${tag}"`))
		.join(", ");
}

export type DownloadOptions = {
	/** Cache-Control of every answer, 304 included. */
	cacheControl: string;
	/** Offered in Content-Disposition: inline. */
	filename: string;
	/**
	 * Size and etag the database holds for the object. With them single byte ranges are served
	 * (and a range past the end is refused before R2 is asked); without them the whole object is.
	 */
	known?: { size: number; etag: string };
	/**
	 * The object's plain `get`, already started (see `plainGet`): used when the request turns out to
	 * be a plain GET, so the caller could read R2 and D1 at the same time.
	 */
	started?: Promise<R2ObjectBody | null>;
};

/**
 * True for a request `downloadObject` answers with a plain `bucket.get(key)`: no validators, no
 * range. A caller may start that read early (`DownloadOptions.started`), beside its D1 check.
 */
export function plainGet(requestHeaders: Headers): boolean {
	return !requestHeaders.has("if-none-match") && !requestHeaders.has("range");
}

/** Drops an object read that will not be answered (its body would otherwise stay open). */
export function discardStarted(started: Promise<R2ObjectBody | null> | undefined): void {
	started?.then((object) => object?.body.cancel()).catch(() => {});
}

export type DownloadResult =
	| { kind: "response"; response: Response }
	| { kind: "missing" }
	| { kind: "unsatisfiable"; size: number };

/**
 * Answers a GET for an R2 object with the HTTP caching and range semantics of a file server.
 *
 * R2 evaluates If-None-Match itself, so a 304 never reads the object's bytes, and a Range is
 * passed down so only the requested bytes leave R2. Validators and Content-Type come from the
 * object R2 returned, so the headers always describe the bytes actually sent.
 */
export async function downloadObject(
	bucket: R2Bucket,
	key: string,
	requestHeaders: Headers,
	options: DownloadOptions,
): Promise<DownloadResult> {
	const ifNoneMatch = lenientIfPresent(requestHeaders.get("if-none-match"));
	// A revalidation the row can answer never reaches R2 (the hot path of a cached client). The row
	// can lag the object only when D1 failed right after a replace's put; the hourly sweep repairs
	// that row, and until then a client holding the previous etag keeps its copy.
	if (ifNoneMatch && options.known && etagMatches(ifNoneMatch, `"${options.known.etag}"`, true)) {
		return { kind: "response", response: notModified(`"${options.known.etag}"`, options.cacheControl) };
	}
	let range = options.known ? parseRange(requestHeaders.get("range"), options.known.size) : { kind: "none" as const };
	const ifRange = requestHeaders.get("if-range");
	// If-Range: a range only applies to the representation the client already has part of; a date
	// or a different tag gets the whole, current content instead.
	if (range.kind !== "none" && ifRange !== null && options.known) {
		if (!etagMatches(lenientEntityTags(ifRange), `"${options.known.etag}"`, false)) range = { kind: "none" };
	}
	if (range.kind === "unsatisfiable" && options.known) {
		// Preconditions come before ranges (RFC 9110 section 13.2.2): a cached copy still wins.
		if (ifNoneMatch && etagMatches(ifNoneMatch, `"${options.known.etag}"`, true)) {
			return { kind: "response", response: notModified(`"${options.known.etag}"`, options.cacheControl) };
		}
		return { kind: "unsatisfiable", size: options.known.size };
	}

	const plain = !ifNoneMatch && range.kind === "none";
	if (!plain) discardStarted(options.started);
	const object = await (plain && options.started
		? options.started
		: bucket.get(key, {
				onlyIf: ifNoneMatch ? new Headers({ "If-None-Match": ifNoneMatch }) : undefined,
				range: range.kind === "range" ? { offset: range.offset, length: range.length } : undefined,
			}));
	if (!object) return { kind: "missing" };

	const headers = new Headers({
		ETag: object.httpEtag,
		"Last-Modified": object.uploaded.toUTCString(),
		"Cache-Control": options.cacheControl,
		"Accept-Ranges": options.known ? "bytes" : "none",
	});
	if (!("body" in object)) return { kind: "response", response: new Response(null, { status: 304, headers }) };

	headers.set("Content-Type", object.httpMetadata?.contentType ?? "application/octet-stream");
	headers.set("X-Content-Type-Options", "nosniff");
	headers.set("Content-Disposition", contentDisposition("inline", options.filename));
	if (range.kind === "range") {
		headers.set("Content-Range", `bytes ${range.offset}-${range.offset + range.length - 1}/${object.size}`);
		headers.set("Content-Length", String(range.length));
		return { kind: "response", response: new Response(object.body, { status: 206, headers }) };
	}
	headers.set("Content-Length", String(object.size));
	return { kind: "response", response: new Response(object.body, { status: 200, headers }) };
}

function lenientIfPresent(header: string | null): string | null {
	if (header === null) return null;
	const tags = lenientEntityTags(header);
	return tags === "" ? null : tags;
}

function notModified(etag: string, cacheControl: string): Response {
	return new Response(null, { status: 304, headers: { ETag: etag, "Cache-Control": cacheControl } });
}
