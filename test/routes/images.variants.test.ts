import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createDb } from "../../src/db/client";
import { sweepOrphans } from "../../src/services/sweep";
import { VARIANTS_KEPT } from "../../src/services/variants";
import { metadataFixture } from "../fixtures/metadata";
import { api, expectProblem, signedInUser } from "../helpers/api";
import { fixture } from "../fixtures";
import { type ImageJson, keysUnder, postRaw } from "../helpers/images";

// Variants go through miniflare's local Images binding (sharp in Node, honouring width, height and
// format, not fit); what Atrium asks of the binding for each fit is asserted in test/lib/variants.test.ts.

const HOUR = 60 * 60 * 1000;

async function photo(token: string): Promise<ImageJson> {
	const res = await postRaw(token, metadataFixture("photo.png"), { type: "image/png", filename: "photo.png" });
	expect(res.status).toBe(201);
	return res.json();
}

function get(token: string, path: string, headers: Record<string, string> = {}) {
	return api(path, { headers: { Authorization: `Bearer ${token}`, ...headers } });
}

/** Width and height from a PNG's IHDR. */
function pngSize(bytes: Uint8Array): { width: number; height: number } {
	const view = new DataView(bytes.buffer, bytes.byteOffset);
	expect(String.fromCharCode(...bytes.subarray(12, 16))).toBe("IHDR");
	return { width: view.getUint32(16), height: view.getUint32(20) };
}

describe("variants: happy path", () => {
	it("?w=&format=png makes a PNG of that width, keeps the aspect ratio and stores it under variants/", async () => {
		const { token, userId } = await signedInUser();
		const image = await photo(token);
		const res = await get(token, `/v1/images/${image.id}/content?w=20&format=png`);
		expect(res.status).toBe(200);
		expect(res.headers.get("Content-Type")).toBe("image/png");
		expect(res.headers.get("ETag")).toMatch(/^"[^"]+"$/);
		expect(res.headers.get("ETag")).not.toBe(image.etag);
		const bytes = new Uint8Array(await res.arrayBuffer());
		expect(pngSize(bytes)).toEqual({ width: 20, height: 15 });
		expect(await keysUnder(`users/${userId}/variants/`)).toEqual([
			`users/${userId}/variants/${image.id}/${image.etag.slice(1, -1)}/w20_h-_scale-down.png`,
		]);
	});

	it("format defaults to webp", async () => {
		const { token } = await signedInUser();
		const image = await photo(token);
		const res = await get(token, `/v1/images/${image.id}/content?w=8`);
		expect(res.headers.get("Content-Type")).toBe("image/webp");
		const bytes = new Uint8Array(await res.arrayBuffer());
		expect(String.fromCharCode(...bytes.subarray(0, 4), ...bytes.subarray(8, 12))).toBe("RIFFWEBP");
	});

	it("a second request is a cache hit: same ETag, same object, nothing written; If-None-Match gives 304", async () => {
		const { token, userId } = await signedInUser();
		const image = await photo(token);
		const path = `/v1/images/${image.id}/content?w=16&h=16&fit=cover&format=jpeg`;
		const first = await get(token, path);
		const firstBytes = new Uint8Array(await first.arrayBuffer());
		const [key] = await keysUnder(`users/${userId}/variants/`);
		const stored = await env.IMAGES.head(key!);
		const second = await get(token, path);
		expect(second.headers.get("ETag")).toBe(first.headers.get("ETag"));
		expect(new Uint8Array(await second.arrayBuffer())).toEqual(firstBytes);
		expect((await env.IMAGES.head(key!))?.uploaded.getTime()).toBe(stored?.uploaded.getTime());
		const revalidated = await get(token, path, { "If-None-Match": first.headers.get("ETag")! });
		expect(revalidated.status).toBe(304);
		expect(revalidated.headers.get("ETag")).toBe(first.headers.get("ETag"));
	});

	it("concurrent first requests for one variant both answer a correct image, and one object is kept", async () => {
		const { token, userId } = await signedInUser();
		const image = await photo(token);
		const path = `/v1/images/${image.id}/content?w=10&format=png`;
		const answers = await Promise.all([get(token, path), get(token, path), get(token, path)]);
		for (const res of answers) {
			expect(res.status).toBe(200);
			expect(pngSize(new Uint8Array(await res.arrayBuffer()))).toEqual({ width: 10, height: 8 });
		}
		const keys = await keysUnder(`users/${userId}/variants/`);
		expect(keys).toHaveLength(1);
		const object = await env.IMAGES.get(keys[0]!);
		expect(pngSize(new Uint8Array(await object!.arrayBuffer()))).toEqual({ width: 10, height: 8 });
	});

	it(`keeps ${VARIANTS_KEPT} variants per image; past that, new ones are served without being stored`, async () => {
		const { token, userId } = await signedInUser();
		const image = await photo(token);
		for (let w = 1; w <= VARIANTS_KEPT; w++) {
			expect((await get(token, `/v1/images/${image.id}/content?w=${w}&format=png`)).status).toBe(200);
		}
		expect(await keysUnder(`users/${userId}/variants/`)).toHaveLength(VARIANTS_KEPT);
		const extra = await get(token, `/v1/images/${image.id}/content?w=30&format=png`);
		expect(extra.status).toBe(200);
		expect(extra.headers.get("ETag")).toBeNull();
		expect(pngSize(new Uint8Array(await extra.arrayBuffer())).width).toBe(30);
		expect(await keysUnder(`users/${userId}/variants/`)).toHaveLength(VARIANTS_KEPT);
	});

	it("deleting the image deletes its variants", async () => {
		const { token, userId } = await signedInUser();
		const image = await photo(token);
		await get(token, `/v1/images/${image.id}/content?w=10`);
		await get(token, `/v1/images/${image.id}/content?w=12`);
		expect(await keysUnder(`users/${userId}/variants/`)).toHaveLength(2);
		const res = await api(`/v1/images/${image.id}`, {
			method: "DELETE",
			headers: { Authorization: `Bearer ${token}` },
		});
		expect(res.status).toBe(204);
		expect(await keysUnder(`users/${userId}/`)).toEqual([]);
	});

	it("replacing the bytes deletes the old variants; the next request makes one from the new bytes", async () => {
		const { token, userId } = await signedInUser();
		const image = await photo(token);
		await get(token, `/v1/images/${image.id}/content?w=10&format=png`);
		const replaced = await postRaw(token, metadataFixture("photo.jpg"), {
			method: "PUT",
			path: `/v1/images/${image.id}/content`,
			type: "image/jpeg",
		});
		expect(replaced.status).toBe(200);
		expect(await keysUnder(`users/${userId}/variants/`)).toEqual([]);
		const res = await get(token, `/v1/images/${image.id}/content?w=12&format=png`);
		// photo.jpg is 48 x 32 (its orientation tag is not applied by the local simulator).
		expect(pngSize(new Uint8Array(await res.arrayBuffer()))).toEqual({ width: 12, height: 8 });
	});

	it("the export counts the variants kept and their bytes", async () => {
		const { token, userId } = await signedInUser();
		const image = await photo(token);
		await get(token, `/v1/images/${image.id}/content?w=10&format=png`);
		await get(token, `/v1/images/${image.id}/content?w=12&format=jpeg`);
		let bytes = 0;
		for (const key of await keysUnder(`users/${userId}/variants/`)) bytes += (await env.IMAGES.head(key))?.size ?? 0;
		expect(bytes).toBeGreaterThan(0);
		const res = await get(token, "/v1/me/export");
		expect(res.status).toBe(200);
		const data = (await res.json()) as { image_variants: unknown; images: ImageJson[] };
		expect(data.image_variants).toEqual({ count: 2, bytes });
		expect(data.images[0]?.metadata_stripped).toBe(true);
	});

	it("a share link of a variant (POST /links {w, format}) serves that variant without Authorization", async () => {
		const { token } = await signedInUser();
		const image = await photo(token);
		const res = await api(`/v1/images/${image.id}/links`, {
			method: "POST",
			headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
			body: JSON.stringify({ w: 8, format: "png", fit: "contain" }),
		});
		expect(res.status).toBe(201);
		const { url } = (await res.json()) as { url: string };
		const link = new URL(url);
		expect(link.searchParams.get("w")).toBe("8");
		expect(link.searchParams.get("fit")).toBe("contain");
		expect(link.searchParams.get("format")).toBe("png");
		const shared = await api(link.pathname + link.search);
		expect(shared.status).toBe(200);
		expect(shared.headers.get("Content-Type")).toBe("image/png");
		expect(shared.headers.get("Referrer-Policy")).toBe("no-referrer");
		expect(pngSize(new Uint8Array(await shared.arrayBuffer())).width).toBe(8);
	});
});

describe("variants: errors", () => {
	it.each(["w=0", "w=4097", "h=-1", "w=abc", "w=1.5", "fit=stretch", "format=gif", "format=svg"])(
		"?%s -> 400 validation_failed",
		async (query) => {
			const { token } = await signedInUser();
			const image = await photo(token);
			await expectProblem(await get(token, `/v1/images/${image.id}/content?${query}`), 400, "validation_failed");
		},
	);

	it("share link variant parameters are validated too", async () => {
		const { token } = await signedInUser();
		const image = await photo(token);
		const res = await api(`/v1/images/${image.id}/links`, {
			method: "POST",
			headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
			body: JSON.stringify({ w: 5000 }),
		});
		await expectProblem(res, 400, "validation_failed");
	});

	it("bytes the Images binding cannot decode -> 415 unsupported_image_type, nothing stored", async () => {
		const { token, userId } = await signedInUser();
		// tiny.jpg with its scan pointing at Huffman tables it never defines: the upload checks read
		// structure, not entropy-coded data, so only decoding finds out.
		const broken = fixture("tiny.jpg");
		const sos = broken.findIndex((byte, i) => byte === 0xff && broken[i + 1] === 0xda);
		broken[sos + 6] = 0x33;
		const res = await postRaw(token, broken, { type: "image/jpeg" });
		expect(res.status).toBe(201);
		const image = (await res.json()) as ImageJson;
		await expectProblem(await get(token, `/v1/images/${image.id}/content?w=2`), 415, "unsupported_image_type");
		expect(await keysUnder(`users/${userId}/variants/`)).toEqual([]);
	});
});

describe("variants: security", () => {
	it("another user's image is 404, variant or not, and nothing is made", async () => {
		const alice = await signedInUser();
		const bob = await signedInUser();
		const image = await photo(alice.token);
		await expectProblem(await get(bob.token, `/v1/images/${image.id}/content?w=10`), 404, "image_not_found");
		expect(await keysUnder(`users/${alice.userId}/variants/`)).toEqual([]);
		expect(await keysUnder(`users/${bob.userId}/`)).toEqual([]);
	});

	it("a signed variant link with any parameter changed or added is 403 link_invalid", async () => {
		const { token } = await signedInUser();
		const image = await photo(token);
		const res = await api(`/v1/images/${image.id}/links`, {
			method: "POST",
			headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
			body: JSON.stringify({ w: 8, format: "png" }),
		});
		const link = new URL(((await res.json()) as { url: string }).url);
		for (const [name, value] of [
			["w", "4096"],
			["format", "jpeg"],
			["fit", "cover"],
			["h", "8"],
		] as const) {
			const tampered = new URL(link);
			tampered.searchParams.set(name, value);
			await expectProblem(await api(tampered.pathname + tampered.search), 403, "link_invalid");
		}
		// The original's signature does not cover a variant either.
		const original = new URL(image.content_url);
		original.searchParams.set("w", "8");
		await expectProblem(await api(original.pathname + original.search), 403, "link_invalid");
	});

	it("the sweep deletes variants of images that are gone or replaced, and keeps live ones", async () => {
		const { token, userId } = await signedInUser();
		const live = await photo(token);
		const gone = await photo(token);
		await get(token, `/v1/images/${live.id}/content?w=10`);
		await get(token, `/v1/images/${gone.id}/content?w=10`);
		// A variant of bytes the image no longer has (as if a replacement's clean-up had failed).
		const stale = `users/${userId}/variants/${live.id}/stale-etag/w10_h-_scale-down.webp`;
		await env.IMAGES.put(stale, new Uint8Array([1, 2, 3]));
		// The row goes without its clean-up (as if the request had died right after the delete).
		await env.DB.prepare("delete from images where id = ?").bind(gone.id).run();
		await sweepOrphans(createDb(env.DB), env.IMAGES, { graceMs: HOUR, now: Date.now() + 2 * HOUR });
		const left = await keysUnder(`users/${userId}/variants/`);
		expect(left).toEqual([`users/${userId}/variants/${live.id}/${live.etag.slice(1, -1)}/w10_h-_scale-down.webp`]);
	});
});
