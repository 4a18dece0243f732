import { describe, expect, it } from "vitest";
import { VARIANT_FITS, type VariantParams, transformOptions, variantName, variantOf } from "../../src/lib/variants";
import { imagesTransformer } from "../../src/services/variants";

/** An Images binding that records what it is asked and hands the input back. */
function recordingBinding() {
	const calls: { transforms: unknown[]; outputs: unknown[] } = { transforms: [], outputs: [] };
	const binding = {
		input(stream: ReadableStream<Uint8Array>) {
			const handle = {
				transform(options: unknown) {
					calls.transforms.push(options);
					return handle;
				},
				async output(options: unknown) {
					calls.outputs.push(options);
					return { image: () => stream, contentType: () => "image/webp", response: () => new Response(stream) };
				},
			};
			return handle;
		},
	};
	return { binding: binding as unknown as ImagesBinding, calls };
}

describe("variants: options handed to the Images binding", () => {
	it.each(VARIANT_FITS)("fit=%s is passed as Cloudflare's fit, with width, height and format", async (fit) => {
		const { binding, calls } = recordingBinding();
		const params: VariantParams = { w: 320, h: 200, fit, format: "avif" };
		const out = await imagesTransformer(binding).transform(new Blob(["x"]).stream(), transformOptions(params));
		expect(await new Response(out).text()).toBe("x");
		expect(calls.transforms).toEqual([{ width: 320, height: 200, fit }]);
		expect(calls.outputs).toEqual([{ format: "image/avif" }]);
	});

	it("a side that is not given is not passed (the binding keeps the aspect ratio)", () => {
		expect(transformOptions({ w: 64, fit: "scale-down", format: "png" })).toEqual({
			transform: { width: 64, fit: "scale-down" },
			output: { format: "image/png" },
		});
		expect(transformOptions({ h: 48, fit: "cover", format: "jpeg" }).transform).toEqual({ height: 48, fit: "cover" });
	});

	it("defaults: scale-down and webp; no parameter at all means the original", () => {
		expect(variantOf({})).toBeNull();
		expect(variantOf({ w: 10 })).toEqual({ w: 10, h: undefined, fit: "scale-down", format: "webp" });
		expect(variantOf({ format: "png" })).toEqual({ w: undefined, h: undefined, fit: "scale-down", format: "png" });
	});

	it("one variant has one R2 name, whatever order its parameters came in", () => {
		expect(variantName({ w: 10, fit: "cover", format: "png" })).toBe("w10_h-_cover.png");
		expect(variantName({ w: 10, h: 10, fit: "cover", format: "png" })).not.toBe(
			variantName({ w: 10, fit: "cover", format: "png" }),
		);
	});
});
