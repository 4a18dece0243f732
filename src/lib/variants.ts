/**
 * Image variants (`?w=&h=&fit=&format=`): their parameters, the name that identifies one in R2,
 * and the options handed to Cloudflare's Images binding for them.
 */

export const VARIANT_FITS = ["scale-down", "contain", "cover", "crop"] as const;
export const VARIANT_FORMATS = ["webp", "avif", "jpeg", "png"] as const;
/** Bounds of `w` and `h`. */
export const VARIANT_MAX_SIDE = 4096;

export type VariantFit = (typeof VARIANT_FITS)[number];
export type VariantFormat = (typeof VARIANT_FORMATS)[number];

/** One variant: at least one of width and height; fit defaults to scale-down, format to webp. */
export type VariantParams = { w?: number; h?: number; fit: VariantFit; format: VariantFormat };

/** The options of one transformation as the Images binding takes them. */
export type TransformOptions = {
	transform: { width?: number; height?: number; fit: VariantFit };
	output: { format: `image/${VariantFormat}` };
};

/**
 * The variant a query asks for, or null when it names none (the original is wanted). Values are
 * validated by the route's schema before they get here.
 */
export function variantOf(query: {
	w?: number;
	h?: number;
	fit?: VariantFit;
	format?: VariantFormat;
}): VariantParams | null {
	if (query.w === undefined && query.h === undefined && query.fit === undefined && query.format === undefined) {
		return null;
	}
	return { w: query.w, h: query.h, fit: query.fit ?? "scale-down", format: query.format ?? "webp" };
}

/** The R2 name of a variant: every parameter, in a fixed order, so one variant has one name. */
export function variantName(params: VariantParams): string {
	return `w${params.w ?? "-"}_h${params.h ?? "-"}_${params.fit}.${params.format}`;
}

/**
 * What the Images binding is asked to do. Width and height are passed only when given (the other
 * side follows the aspect ratio); `fit` is passed as is: Cloudflare's names are the API's.
 */
export function transformOptions(params: VariantParams): TransformOptions {
	const transform: TransformOptions["transform"] = { fit: params.fit };
	if (params.w !== undefined) transform.width = params.w;
	if (params.h !== undefined) transform.height = params.h;
	return { transform, output: { format: `image/${params.format}` } };
}

/** The canonical string of a variant inside a signed URL's signature ("" for the original). */
export function variantSignaturePart(params: VariantParams | null): string {
	return params ? `\nvariant=${variantName(params)}` : "";
}
