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

/**
 * What a GET asked for beyond the plain bytes, read from its headers once by the route so the
 * download services see values, not a request.
 */
export type ReadConditions = {
	/** If-None-Match as a normalized entity-tag list; null when absent or listing nothing. */
	ifNoneMatch: string | null;
	/** The Range value as sent; it can only be interpreted against the object's size (lib/http-file `parseRange`). */
	range: string | null;
	/** If-Range as a normalized entity-tag list (a date never matches); null when absent. */
	ifRange: string | null;
};

/**
 * The conditional-read headers of a request (If-None-Match, Range, If-Range).
 *
 * @param headers The request's headers.
 */
export function readConditions(headers: Pick<Headers, "get">): ReadConditions {
	const ifNoneMatch = headers.get("if-none-match");
	const tags = ifNoneMatch === null ? "" : lenientEntityTags(ifNoneMatch);
	const ifRange = headers.get("if-range");
	return {
		ifNoneMatch: tags === "" ? null : tags,
		range: headers.get("range"),
		ifRange: ifRange === null ? null : lenientEntityTags(ifRange),
	};
}

/**
 * An If-Match header as a normalized entity-tag list; null only when the header is absent (a
 * present but empty one matches nothing).
 */
export function parseIfMatch(header: string | null | undefined): string | null {
	return header == null ? null : lenientEntityTags(header);
}
