import { decodeBase64urlIgnorePadding, encodeBase64urlNoPadding } from "@oslojs/encoding";
import {
	VARIANT_FITS,
	VARIANT_FORMATS,
	VARIANT_MAX_SIDE,
	type VariantFit,
	type VariantFormat,
	type VariantParams,
	variantSignaturePart,
} from "./variants";

/**
 * Signed image URLs: `/v1/images/<id>/shared?o=<owner>&t=<etag>&e=<expiry>&s=<signature>`.
 *
 * The signature is HMAC-SHA-256 (key: `macKey(ENCRYPTION_KEY, "signed-image-url")`) over a
 * canonical string of every value the URL carries, so the server can trust owner and etag without
 * asking D1: the object key follows from owner and id, and R2's own etag proves the bytes are the
 * ones that were signed. Any other query parameter, or any parameter twice, makes the URL invalid:
 * nothing outside the signature can steer the answer.
 */

/** The path a signed URL of `imageId` lives at. */
export function signedImagePath(imageId: string): string {
	return `/v1/images/${encodeURIComponent(imageId)}/shared`;
}

/**
 * What a signed URL vouches for. `expires` is in Unix seconds; `variant` (w, h, fit, format, all
 * inside the signature) names one variant of the image instead of its original bytes.
 */
export type ImageLink = {
	imageId: string;
	ownerId: string;
	etag: string;
	expires: number;
	variant?: VariantParams | null;
};

const encoder = new TextEncoder();
const PARAMS = ["o", "t", "e", "s"] as const;
const VARIANT_PARAMS = ["w", "h", "fit", "format"] as const;
const SIDE = /^[1-9][0-9]{0,3}$/;
// HMAC-SHA-256 is 32 bytes: 43 base64url characters without padding.
const SIGNATURE = /^[A-Za-z0-9_-]{43}$/;
const EXPIRY = /^[1-9][0-9]{0,11}$/;

// Newlines cannot occur in ids or R2 etags, and the version prefix keeps future layouts apart.
function canonical(link: ImageLink): Uint8Array {
	return encoder.encode(
		`atrium-image-link-v1\n${link.imageId}\n${link.ownerId}\n${link.etag}\n${link.expires}${variantSignaturePart(link.variant ?? null)}`,
	);
}

/** The absolute signed URL of `link` under `appUrl`. */
export async function signImageLink(key: CryptoKey, appUrl: URL, link: ImageLink): Promise<string> {
	const signature = new Uint8Array(await crypto.subtle.sign("HMAC", key, canonical(link)));
	const url = new URL(signedImagePath(link.imageId), appUrl);
	const query = new URLSearchParams({ o: link.ownerId, t: link.etag, e: String(link.expires) });
	const variant = link.variant;
	if (variant) {
		if (variant.w !== undefined) query.set("w", String(variant.w));
		if (variant.h !== undefined) query.set("h", String(variant.h));
		query.set("fit", variant.fit);
		query.set("format", variant.format);
	}
	query.set("s", encodeBase64urlNoPadding(signature));
	url.search = query.toString();
	return url.toString();
}

export type LinkVerdict = { ok: true; link: ImageLink } | { ok: false; reason: "invalid" | "expired" };

/**
 * Checks a signed URL's query for `imageId`: the signature first (constant time, WebCrypto's
 * verify), then the expiry, so an expired URL is only reported as such when it is genuine.
 * `now` is in milliseconds.
 */
export async function verifyImageLink(
	key: CryptoKey,
	imageId: string,
	search: URLSearchParams,
	now: number,
): Promise<LinkVerdict> {
	const keys = [...search.keys()];
	const optional = VARIANT_PARAMS.filter((name) => search.has(name));
	if (
		keys.length !== PARAMS.length + optional.length ||
		PARAMS.some((name) => search.getAll(name).length !== 1) ||
		optional.some((name) => search.getAll(name).length !== 1)
	) {
		return { ok: false, reason: "invalid" };
	}
	const variant = signedVariant(search);
	if (variant === "invalid") return { ok: false, reason: "invalid" };
	const ownerId = search.get("o") ?? "";
	const etag = search.get("t") ?? "";
	const expiry = search.get("e") ?? "";
	const signature = search.get("s") ?? "";
	if (!ownerId || !etag || !EXPIRY.test(expiry) || !SIGNATURE.test(signature)) return { ok: false, reason: "invalid" };
	const link: ImageLink = { imageId, ownerId, etag, expires: Number(expiry), variant };
	let bytes: Uint8Array;
	try {
		bytes = decodeBase64urlIgnorePadding(signature);
	} catch {
		return { ok: false, reason: "invalid" };
	}
	// Only the canonical encoding counts: 43 characters can spell the same bytes with other final bits.
	if (encodeBase64urlNoPadding(bytes) !== signature) return { ok: false, reason: "invalid" };
	const genuine = await crypto.subtle.verify("HMAC", key, bytes, canonical(link));
	if (!genuine) return { ok: false, reason: "invalid" };
	if (link.expires * 1000 <= now) return { ok: false, reason: "expired" };
	return { ok: true, link };
}

/** The variant a signed query names (null: the original); "invalid" for values no link carries. */
function signedVariant(search: URLSearchParams): VariantParams | null | "invalid" {
	const w = search.get("w");
	const h = search.get("h");
	const fit = search.get("fit");
	const format = search.get("format");
	if (w === null && h === null && fit === null && format === null) return null;
	const side = (value: string | null) =>
		value === null ? undefined : SIDE.test(value) && Number(value) <= VARIANT_MAX_SIDE ? Number(value) : Number.NaN;
	const width = side(w);
	const height = side(h);
	if (Number.isNaN(width) || Number.isNaN(height)) return "invalid";
	if (!VARIANT_FITS.includes(fit as VariantFit) || !VARIANT_FORMATS.includes(format as VariantFormat)) return "invalid";
	return { w: width, h: height, fit: fit as VariantFit, format: format as VariantFormat };
}

/**
 * The expiry of an image object's `content_url`: at least `seconds` from now, rounded up to a
 * step of a quarter of it, so listing the same images again within that step gives the same URLs
 * and a browser's cached `<img>` stays valid.
 */
export function contentUrlExpiry(now: number, seconds: number): number {
	const step = Math.max(60, Math.floor(seconds / 4));
	return Math.ceil((Math.floor(now / 1000) + seconds) / step) * step;
}
