import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { exifOrientation } from "../../src/lib/image-strip";
import { METADATA_FIXTURES, type MetadataFixture, SECRETS, metadataFixture } from "../fixtures/metadata";
import { api, signedInUser } from "../helpers/api";
import { type ImageJson, LIMITS, chunkedBody, pngOf, postMultipart, postRaw, sha256Hex } from "../helpers/images";
import { appWith } from "../helpers/worker";

// The fixtures (scripts/make-metadata-fixtures.mjs) were made with sharp and checked with exifr to
// carry GPS EXIF, camera make and serial, XMP, IPTC, comments and text chunks. Decoded pixels
// before and after stripping are compared in Node (test/e2e/image-strip.e2e.test.ts): sharp cannot
// run in workerd. Here the whole path is exercised: upload, R2 object, D1 row, download.

const TYPES: Record<MetadataFixture, string> = {
	"photo.jpg": "image/jpeg",
	"photo.png": "image/png",
	"photo.webp": "image/webp",
	"photo.gif": "image/gif",
	"photo.avif": "image/avif",
};
const NAMES = Object.keys(METADATA_FIXTURES) as MetadataFixture[];

const latin1 = (bytes: Uint8Array): string => String.fromCharCode(...bytes);

/** Where rendering-relevant colour data sits in each format (ICC profile; GIF has none in the fixture). */
const ICC_MARKER: Record<MetadataFixture, string | null> = {
	"photo.jpg": "ICC_PROFILE\0",
	"photo.png": "iCCP",
	"photo.webp": "ICCP",
	"photo.gif": null,
	"photo.avif": "colrrICC",
};

async function storedObject(userId: string, imageId: string): Promise<Uint8Array> {
	const object = await env.IMAGES.get(`users/${userId}/images/${imageId}`);
	expect(object).not.toBeNull();
	return new Uint8Array(await object!.arrayBuffer());
}

function expectClean(bytes: Uint8Array, name: MetadataFixture): void {
	const text = latin1(bytes);
	for (const secret of SECRETS) expect(text, `${name}: ${secret}`).not.toContain(secret);
	expect(text).not.toContain("x:xmpmeta");
	expect(text).not.toContain("Photoshop 3.0");
	const icc = ICC_MARKER[name];
	if (icc) expect(text).toContain(icc);
}

describe("metadata stripping: happy path", () => {
	it("the fixtures really carry the metadata before upload", () => {
		for (const name of NAMES) {
			const text = latin1(metadataFixture(name));
			expect(text, name).toContain(name === "photo.gif" ? "comment-secret" : "SN-SECRET-4242");
		}
	});

	it.each(NAMES)("%s: stored without its metadata; size, etag and sha256 describe the stored bytes", async (name) => {
		const { token, userId } = await signedInUser();
		const sent = metadataFixture(name);
		const res = await postRaw(token, sent, { type: TYPES[name], filename: name });
		expect(res.status).toBe(201);
		const image = (await res.json()) as ImageJson;
		expect(image.metadata_stripped).toBe(true);

		const stored = await storedObject(userId, image.id);
		expectClean(stored, name);
		expect(image.size).toBe(stored.byteLength);
		// AVIF keeps its layout (items zeroed in place); every other format shrinks.
		if (name === "photo.avif") expect(stored.byteLength).toBe(sent.byteLength);
		else expect(stored.byteLength).toBeLessThan(sent.byteLength);

		const row = await env.DB.prepare("select sha256, size, metadata_stripped from images where id = ?")
			.bind(image.id)
			.first();
		expect(row).toEqual({ sha256: await sha256Hex(stored), size: stored.byteLength, metadata_stripped: 1 });

		const served = await api(`/v1/images/${image.id}/content`, { headers: { Authorization: `Bearer ${token}` } });
		expect(served.headers.get("ETag")).toBe(image.etag);
		expect(served.headers.get("Content-Length")).toBe(String(stored.byteLength));
		expect(new Uint8Array(await served.arrayBuffer())).toEqual(stored);
	});

	it("JPEG: keeps the orientation as a minimal EXIF holding Orientation alone", async () => {
		const { token, userId } = await signedInUser();
		const image = (await (
			await postRaw(token, metadataFixture("photo.jpg"), { type: "image/jpeg" })
		).json()) as ImageJson;
		const stored = await storedObject(userId, image.id);
		const at = latin1(stored).indexOf("Exif\0\0");
		expect(at).toBeGreaterThan(0);
		// APP1 of 34 bytes: "Exif\0\0", a TIFF header, one IFD entry, no next IFD.
		expect([stored[at - 4], stored[at - 3], stored[at - 2], stored[at - 1]]).toEqual([0xff, 0xe1, 0x00, 0x22]);
		expect(exifOrientation(stored.subarray(at + 6, at + 32))).toBe(6);
		expect(latin1(stored).indexOf("Exif\0\0", at + 1)).toBe(-1);
	});

	it("WebP: the VP8X flags no longer announce EXIF or XMP, and the RIFF size is the file's", async () => {
		const { token, userId } = await signedInUser();
		const res = await postMultipart(token, metadataFixture("photo.webp"), { type: "image/webp" });
		const stored = await storedObject(userId, ((await res.json()) as ImageJson).id);
		const view = new DataView(stored.buffer, stored.byteOffset);
		expect(view.getUint32(4, true)).toBe(stored.byteLength - 8);
		expect(latin1(stored.subarray(12, 16))).toBe("VP8X");
		expect((stored[20] ?? 0) & 0x0c).toBe(0);
		expect((stored[20] ?? 0) & 0x20).toBe(0x20); // ICC flag kept
	});

	it("a chunked upload (no Content-Length) is stripped the same way", async () => {
		const { token, userId } = await signedInUser();
		const { stream } = chunkedBody(metadataFixture("photo.png"), 1000);
		const res = await api("/v1/images", {
			method: "POST",
			headers: { Authorization: `Bearer ${token}`, "Content-Type": "image/png" },
			body: stream,
			duplex: "half",
		} as RequestInit);
		expect(res.status).toBe(201);
		const image = (await res.json()) as ImageJson;
		const stored = await storedObject(userId, image.id);
		expectClean(stored, "photo.png");
		expect(image.size).toBe(stored.byteLength);
	});

	it("replacing content strips the new bytes too", async () => {
		const { token, userId } = await signedInUser();
		const first = (await (await postRaw(token, pngOf(4, 4), { type: "image/png" })).json()) as ImageJson;
		const res = await postRaw(token, metadataFixture("photo.jpg"), {
			method: "PUT",
			path: `/v1/images/${first.id}/content`,
			type: "image/jpeg",
		});
		expect(res.status).toBe(200);
		const updated = (await res.json()) as ImageJson;
		const stored = await storedObject(userId, first.id);
		expectClean(stored, "photo.jpg");
		expect(updated).toMatchObject({ size: stored.byteLength, metadata_stripped: true });
		const row = await env.DB.prepare("select reserved_bytes, size from images where id = ?").bind(first.id).first();
		expect(row).toEqual({ reserved_bytes: 0, size: stored.byteLength });
	});

	it("avatars are stripped", async () => {
		const { token, userId } = await signedInUser();
		const res = await postRaw(token, metadataFixture("photo.png"), { method: "PUT", path: "/v1/me/avatar" });
		expect(res.status).toBe(200);
		const served = new Uint8Array(await (await api(`/v1/users/${userId}/avatar`)).arrayBuffer());
		expectClean(served, "photo.png");
		expect(served.byteLength).toBeLessThan(metadataFixture("photo.png").byteLength);
	});

	it("the byte quota counts the stored (stripped) size, not the size sent", async () => {
		const { token } = await signedInUser();
		const sent = metadataFixture("photo.png");
		const first = (await (await postRaw(token, sent, { type: "image/png" })).json()) as ImageJson;
		const stripped = first.size;
		// Fill the quota up to exactly one more stripped copy: room for it, not for the bytes as sent.
		const fill = LIMITS.quotaBytes - 2 * stripped;
		for (const part of [Math.floor(fill / 2), fill - Math.floor(fill / 2)]) {
			expect((await postRaw(token, pngOf(4, 4, part), { type: "image/png" })).status).toBe(201);
		}
		expect(sent.byteLength).toBeGreaterThan(stripped);
		expect((await postRaw(token, sent, { type: "image/png" })).status).toBe(201);
		const over = await postRaw(token, pngOf(2, 2), { type: "image/png" });
		expect(over.status).toBe(403);
	});
});

describe("metadata stripping: STRIP_METADATA=off", () => {
	it("stores the bytes as sent and says metadata_stripped: false", async () => {
		const app = appWith({ STRIP_METADATA: "off" });
		const { token, userId } = await signedInUser();
		const sent = metadataFixture("photo.jpg");
		const res = await app.fetch(
			new Request("https://atrium.test/v1/images", {
				method: "POST",
				headers: { Authorization: `Bearer ${token}`, "Content-Type": "image/jpeg" },
				body: sent,
			}),
		);
		expect(res.status).toBe(201);
		const image = (await res.json()) as ImageJson;
		expect(image).toMatchObject({ metadata_stripped: false, size: sent.byteLength });
		expect(await storedObject(userId, image.id)).toEqual(sent);
	});
});

describe("metadata stripping: security", () => {
	it("a JPEG's trailer after EOI (where phones append data) is not stored", async () => {
		const { token, userId } = await signedInUser();
		const image = (await (
			await postRaw(token, metadataFixture("photo.jpg"), { type: "image/jpeg" })
		).json()) as ImageJson;
		const stored = await storedObject(userId, image.id);
		expect([stored.at(-2), stored.at(-1)]).toEqual([0xff, 0xd9]);
	});

	it("PNG text chunks placed after the image data are gone too", async () => {
		const { token, userId } = await signedInUser();
		const image = (await (await postRaw(token, metadataFixture("photo.png"))).json()) as ImageJson;
		const text = latin1(await storedObject(userId, image.id));
		for (const chunk of ["tEXt", "zTXt", "iTXt", "eXIf", "tIME"]) expect(text).not.toContain(chunk);
		expect(text.endsWith("IEND\xaeB`\x82")).toBe(true);
	});
});
