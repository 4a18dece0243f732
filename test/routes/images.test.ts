import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { type FixtureName, fixture } from "../fixtures";
import { imageKey } from "../../src/services/storage";
import { api, expectProblem, send, signedInUser } from "../helpers/api";
import {
	type ImageJson,
	concat,
	keysUnder,
	pngOf,
	postMultipart,
	postRaw,
	sha256Hex,
	storedBytes,
	uploadImage,
} from "../helpers/images";

const FORMATS: { name: FixtureName; type: string; width: number; height: number }[] = [
	{ name: "tiny.jpg", type: "image/jpeg", width: 3, height: 2 },
	{ name: "tiny.png", type: "image/png", width: 5, height: 4 },
	{ name: "tiny.gif", type: "image/gif", width: 7, height: 6 },
	{ name: "tiny.webp", type: "image/webp", width: 9, height: 8 },
	{ name: "tiny-lossless.webp", type: "image/webp", width: 11, height: 10 },
	{ name: "tiny-vp8x.webp", type: "image/webp", width: 13, height: 12 },
	{ name: "tiny.avif", type: "image/avif", width: 15, height: 14 },
];

/** A copy of `bytes` with one byte changed. */
function withByte(bytes: Uint8Array, index: number, value: number): Uint8Array {
	const copy = bytes.slice();
	copy[index] = value;
	return copy;
}

function auth(token: string, headers: Record<string, string> = {}) {
	return { headers: { Authorization: `Bearer ${token}`, ...headers } };
}

async function content(token: string, id: string, headers: Record<string, string> = {}) {
	return api(`/v1/images/${id}/content`, auth(token, headers));
}

describe("images: happy path", () => {
	it.each(FORMATS)("accepts $name as raw bytes, typed and sized from its bytes", async (format) => {
		const { token, userId } = await signedInUser();
		const sent = fixture(format.name);
		const bytes = storedBytes(sent, format.name);
		const res = await postRaw(token, sent, { type: format.type, filename: format.name });
		expect(res.status).toBe(201);
		const image = (await res.json()) as ImageJson;
		expect(image).toMatchObject({
			filename: format.name,
			content_type: format.type,
			size: bytes.byteLength,
			width: format.width,
			height: format.height,
			metadata_stripped: true,
		});
		expect(res.headers.get("Location")).toBe(`https://atrium.test/v1/images/${image.id}`);
		expect(image.url).toBe(`https://atrium.test/v1/images/${image.id}/content`);
		expect(image.etag).toMatch(/^"[^"]+"$/);
		expect(new Date(image.created_at).toISOString()).toBe(image.created_at);

		const stored = await env.IMAGES.get(`users/${userId}/images/${image.id}`);
		expect(stored).not.toBeNull();
		expect(new Uint8Array(await stored!.arrayBuffer())).toEqual(bytes);
		const row = await env.DB.prepare("select sha256, etag from images where id = ?").bind(image.id).first();
		expect(row).toEqual({ sha256: await sha256Hex(bytes), etag: image.etag.slice(1, -1) });
	});

	it.each(FORMATS)("accepts $name as a multipart `image` field", async (format) => {
		const { token } = await signedInUser();
		const res = await postMultipart(token, fixture(format.name), { type: format.type, filename: `up-${format.name}` });
		expect(res.status).toBe(201);
		const image = (await res.json()) as ImageJson;
		expect(image).toMatchObject({ filename: `up-${format.name}`, content_type: format.type, width: format.width });
	});

	it("accepts a multipart part without a declared type, and jpg spelled image/jpg", async () => {
		const { token } = await signedInUser();
		const untyped = await postMultipart(token, fixture("tiny.gif"), { type: "application/octet-stream" });
		expect(untyped.status).toBe(201);
		expect(((await untyped.json()) as ImageJson).content_type).toBe("image/gif");
		const alias = await postRaw(token, fixture("tiny.jpg"), { type: "image/jpg; charset=binary" });
		expect(alias.status).toBe(201);
	});

	it("names a raw upload without ?filename= after its sniffed type", async () => {
		const { token } = await signedInUser();
		const image = (await (await postRaw(token, fixture("tiny.webp"), { type: "image/webp" })).json()) as ImageJson;
		expect(image.filename).toBe("image.webp");
	});

	it("lists images newest first with a cursor", async () => {
		const { token } = await signedInUser();
		const ids: string[] = [];
		for (let i = 0; i < 5; i++) ids.push((await uploadImage(token, pngOf(1, 1, 64, i), `n${i}.png`)).id);
		const seen: string[] = [];
		let cursor: string | null = null;
		let pages = 0;
		do {
			const query: string = cursor ? `?limit=2&cursor=${cursor}` : "?limit=2";
			const res = await send("GET", `/v1/images${query}`, { token });
			expect(res.status).toBe(200);
			const page = (await res.json()) as { images: ImageJson[]; next_cursor: string | null };
			expect(page.images.length).toBeLessThanOrEqual(2);
			seen.push(...page.images.map((image) => image.id));
			cursor = page.next_cursor;
			pages++;
		} while (cursor);
		expect(pages).toBe(3);
		expect(seen).toEqual([...ids].reverse());
	});

	it("returns metadata for its owner", async () => {
		const { token } = await signedInUser();
		const image = await uploadImage(token, fixture("tiny.png"));
		const res = await send("GET", `/v1/images/${image.id}`, { token });
		expect(res.status).toBe(200);
		expect(await res.json()).toEqual(image);
	});

	it("serves content with type, validators, caching and disposition headers", async () => {
		const { token } = await signedInUser();
		const bytes = fixture("tiny.gif");
		const image = (await (
			await postRaw(token, bytes, { type: "image/gif", filename: "été 2024.gif" })
		).json()) as ImageJson;
		const res = await content(token, image.id);
		expect(res.status).toBe(200);
		expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
		expect(res.headers.get("Content-Type")).toBe("image/gif");
		expect(res.headers.get("Content-Length")).toBe(String(bytes.byteLength));
		expect(res.headers.get("ETag")).toBe(image.etag);
		expect(res.headers.get("Last-Modified")).toMatch(/GMT$/);
		expect(res.headers.get("Cache-Control")).toBe("private");
		expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
		expect(res.headers.get("Accept-Ranges")).toBe("bytes");
		expect(res.headers.get("Content-Disposition")).toContain("inline;");
		expect(res.headers.get("Content-Disposition")).toContain("filename*=UTF-8''%C3%A9t%C3%A9%202024.gif");
	});

	it("answers If-None-Match with 304 and no body", async () => {
		const { token } = await signedInUser();
		const image = await uploadImage(token, fixture("tiny.png"));
		// Clients copy the etag field with or without its quotes, or quote it once more.
		const bare = image.etag.slice(1, -1);
		for (const header of [image.etag, `W/${image.etag}`, `"other", ${image.etag}`, "*", bare, `"${image.etag}"`]) {
			const res = await content(token, image.id, { "If-None-Match": header });
			expect(res.status, header).toBe(304);
			expect(res.headers.get("ETag")).toBe(image.etag);
			expect(res.headers.get("Cache-Control")).toBe("private");
			expect(await res.text()).toBe("");
		}
		const stale = await content(token, image.id, { "If-None-Match": '"something-else"' });
		expect(stale.status).toBe(200);
	});

	it("serves single byte ranges with 206 and Content-Range", async () => {
		const { token } = await signedInUser();
		const bytes = pngOf(4, 4, 1000, 7);
		bytes.set([1, 2, 3, 4, 5], 500);
		const image = await uploadImage(token, bytes);
		const cases: [string, number, number][] = [
			["bytes=500-504", 500, 504],
			["bytes=990-", 990, 999],
			["bytes=-10", 990, 999],
			["bytes=0-0", 0, 0],
			["bytes=995-5000", 995, 999],
		];
		for (const [range, first, last] of cases) {
			const res = await content(token, image.id, { Range: range });
			expect(res.status, range).toBe(206);
			expect(res.headers.get("Content-Range")).toBe(`bytes ${first}-${last}/1000`);
			expect(res.headers.get("Content-Length")).toBe(String(last - first + 1));
			expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes.slice(first, last + 1));
		}
	});

	it("ignores a Range whose If-Range names another version", async () => {
		const { token } = await signedInUser();
		const image = await uploadImage(token, pngOf(2, 2, 300));
		const stale = await content(token, image.id, { Range: "bytes=0-9", "If-Range": '"old"' });
		expect(stale.status).toBe(200);
		expect((await stale.arrayBuffer()).byteLength).toBe(300);
		const current = await content(token, image.id, { Range: "bytes=0-9", "If-Range": image.etag });
		expect(current.status).toBe(206);
	});

	it("refuses a range past the end with 416 and bytes */size", async () => {
		const { token } = await signedInUser();
		const image = await uploadImage(token, pngOf(2, 2, 300));
		const res = await content(token, image.id, { Range: "bytes=300-" });
		expect(res.headers.get("Content-Range")).toBe("bytes */300");
		await expectProblem(res, 416, "range_not_satisfiable");
		// A cached copy still wins over the bad range.
		const cached = await content(token, image.id, { Range: "bytes=300-", "If-None-Match": image.etag });
		expect(cached.status).toBe(304);
	});

	it("replaces content: new bytes, new etag, same id and key", async () => {
		const { token, userId } = await signedInUser();
		const image = await uploadImage(token, fixture("tiny.png"), "keep.png");
		const replacement = storedBytes(fixture("tiny.jpg"), "tiny.jpg");
		const res = await postRaw(token, fixture("tiny.jpg"), {
			method: "PUT",
			path: `/v1/images/${image.id}/content`,
			type: "image/jpeg",
			headers: { "If-Match": image.etag },
		});
		expect(res.status).toBe(200);
		const updated = (await res.json()) as ImageJson;
		expect(updated).toMatchObject({
			id: image.id,
			filename: "keep.png",
			content_type: "image/jpeg",
			width: 3,
			height: 2,
		});
		expect(updated.size).toBe(replacement.byteLength);
		expect(updated.etag).not.toBe(image.etag);
		expect(updated.created_at).toBe(image.created_at);

		const served = await content(token, image.id);
		expect(served.headers.get("ETag")).toBe(updated.etag);
		expect(served.headers.get("Content-Type")).toBe("image/jpeg");
		expect(new Uint8Array(await served.arrayBuffer())).toEqual(replacement);
		expect(await keysUnder(`users/${userId}/`)).toEqual([`users/${userId}/images/${image.id}`]);
		const row = await env.DB.prepare("select sha256 from images where id = ?").bind(image.id).first();
		expect(row).toEqual({ sha256: await sha256Hex(replacement) });
	});

	it("replaces content from a multipart body and takes the part's name", async () => {
		const { token } = await signedInUser();
		const image = await uploadImage(token, fixture("tiny.png"));
		const res = await postMultipart(token, fixture("tiny.avif"), {
			method: "PUT",
			path: `/v1/images/${image.id}/content`,
			type: "image/avif",
			filename: "new.avif",
		});
		expect(res.status).toBe(200);
		expect(await res.json()).toMatchObject({ filename: "new.avif", content_type: "image/avif" });
	});

	it("renames (sanitized) without touching the bytes or the key", async () => {
		const { token, userId } = await signedInUser();
		const image = await uploadImage(token, fixture("tiny.png"));
		const res = await send("PATCH", `/v1/images/${image.id}`, {
			token,
			body: { filename: "../../etc/\u202Egnp.exe\u0000 holiday.png" },
		});
		expect(res.status).toBe(200);
		const renamed = (await res.json()) as ImageJson;
		expect(renamed.filename).toBe("gnp.exe holiday.png");
		expect(renamed.etag).toBe(image.etag);
		expect(await keysUnder(`users/${userId}/`)).toEqual([`users/${userId}/images/${image.id}`]);
	});

	it("is documented in /openapi.json", async () => {
		const doc = (await (await api("/openapi.json")).json()) as {
			paths: Record<string, Record<string, { parameters?: { name: string; in: string }[] }>>;
		};
		expect(Object.keys(doc.paths["/v1/images"] ?? {}).sort()).toEqual(["get", "post"]);
		expect(doc.paths["/v1/images"]?.get?.parameters?.map((p) => p.name).sort()).toEqual(["cursor", "limit"]);
		expect(Object.keys(doc.paths["/v1/images/{id}"] ?? {}).sort()).toEqual(["delete", "get", "patch"]);
		expect(Object.keys(doc.paths["/v1/images/{id}/content"] ?? {}).sort()).toEqual(["get", "put"]);
		expect(Object.keys(doc.paths["/v1/me/avatar"] ?? {}).sort()).toEqual(["delete", "put"]);
		expect(Object.keys(doc.paths["/v1/users/{id}/avatar"] ?? {})).toEqual(["get"]);
	});

	it("deletes the row and the object", async () => {
		const { token, userId } = await signedInUser();
		const image = await uploadImage(token, fixture("tiny.png"));
		const res = await send("DELETE", `/v1/images/${image.id}`, { token });
		expect(res.status).toBe(204);
		expect(await keysUnder(`users/${userId}/`)).toEqual([]);
		await expectProblem(await send("GET", `/v1/images/${image.id}`, { token }), 404, "image_not_found");
		await expectProblem(await send("DELETE", `/v1/images/${image.id}`, { token }), 404, "image_not_found");
	});
});

describe("images: errors", () => {
	it("requires a bearer token", async () => {
		const res = await api("/v1/images", {
			method: "POST",
			headers: { "Content-Type": "image/png" },
			body: fixture("tiny.png"),
		});
		await expectProblem(res, 401, "unauthorized");
	});

	it("refuses a multipart body without an `image` file", async () => {
		const { token } = await signedInUser();
		const body = await expectProblem(
			await postMultipart(token, fixture("tiny.png"), { field: "file" }),
			400,
			"validation_failed",
		);
		expect(body.errors?.[0]).toMatchObject({ path: "image", code: "required" });
	});

	it("refuses a body that is neither multipart nor an image type", async () => {
		const { token } = await signedInUser();
		for (const type of ["application/json", "text/plain", "application/octet-stream"]) {
			await expectProblem(await postRaw(token, fixture("tiny.png"), { type }), 415, "unsupported_image_type");
		}
	});

	it.each([
		["SVG", fixture("evil.svg"), "image/svg+xml"],
		["an empty body", new Uint8Array(0), "image/png"],
		["a truncated PNG header", fixture("tiny.png").slice(0, 20), "image/png"],
		["a PNG with a broken IHDR checksum", withByte(fixture("tiny.png"), 29, 0x00), "image/png"],
		["BMP", concat(new TextEncoder().encode("BM"), new Uint8Array(60)), "image/bmp"],
		["TIFF", Uint8Array.from([0x49, 0x49, 0x2a, 0x00, 8, 0, 0, 0, ...new Array(56).fill(0)]), "image/tiff"],
	])("refuses %s with 415", async (_name, bytes, type) => {
		const { token, userId } = await signedInUser();
		await expectProblem(await postRaw(token, bytes, { type }), 415, "unsupported_image_type");
		await expectProblem(await postMultipart(token, bytes, { type }), 415, "unsupported_image_type");
		expect(await keysUnder(`users/${userId}/`)).toEqual([]);
	});

	it("stores a raw upload with the sniffed type when its image Content-Type disagrees", async () => {
		const { token, userId } = await signedInUser();
		const res = await postRaw(token, fixture("tiny.png"), { type: "image/jpeg", filename: "photo.jpg" });
		expect(res.status).toBe(201);
		const image = (await res.json()) as ImageJson;
		expect(image.content_type).toBe("image/png");
		const stored = await env.IMAGES.head(`users/${userId}/images/${image.id}`);
		expect(stored?.httpMetadata?.contentType).toBe("image/png");
		const served = await content(token, image.id);
		expect(served.headers.get("Content-Type")).toBe("image/png");
		expect(new Uint8Array(await served.arrayBuffer())).toEqual(fixture("tiny.png"));
	});

	it("refuses a multipart part whose declared type disagrees with the bytes", async () => {
		const { token } = await signedInUser();
		await expectProblem(
			await postMultipart(token, fixture("tiny.gif"), { type: "image/webp", filename: "a.webp" }),
			415,
			"unsupported_image_type",
		);
		await expectProblem(
			await postMultipart(token, fixture("tiny.gif"), { type: "text/html", filename: "a.gif" }),
			415,
			"unsupported_image_type",
		);
	});

	it("validates the list query and the rename body", async () => {
		const { token } = await signedInUser();
		await expectProblem(await send("GET", "/v1/images?limit=0", { token }), 400, "validation_failed");
		await expectProblem(await send("GET", "/v1/images?limit=101", { token }), 400, "validation_failed");
		const bad = await expectProblem(
			await send("GET", "/v1/images?cursor=bm90LWEtY3Vyc29y", { token }),
			400,
			"validation_failed",
		);
		expect(bad.errors?.[0]).toMatchObject({ path: "cursor", code: "invalid_cursor" });
		const image = await uploadImage(token, fixture("tiny.png"));
		const empty = await expectProblem(
			await send("PATCH", `/v1/images/${image.id}`, { token, body: { filename: "\u0000\u202E ..." } }),
			400,
			"validation_failed",
		);
		expect(empty.errors?.[0]).toMatchObject({ path: "filename", code: "invalid_filename" });
		await expectProblem(await send("PATCH", `/v1/images/${image.id}`, { token, body: {} }), 400, "validation_failed");
	});

	it("answers a failed If-Match with 412 and keeps the old content", async () => {
		const { token } = await signedInUser();
		const bytes = fixture("tiny.png");
		const image = await uploadImage(token, bytes);
		for (const ifMatch of ['"stale"', `W/${image.etag}`]) {
			const res = await postRaw(token, fixture("tiny.jpg"), {
				method: "PUT",
				path: `/v1/images/${image.id}/content`,
				type: "image/jpeg",
				headers: { "If-Match": ifMatch },
			});
			await expectProblem(res, 412, "precondition_failed");
		}
		const served = await content(token, image.id);
		expect(served.headers.get("ETag")).toBe(image.etag);
		expect(new Uint8Array(await served.arrayBuffer())).toEqual(bytes);
	});

	it("refuses a replacement the same way as an upload and keeps the old pair", async () => {
		const { token, userId } = await signedInUser();
		const bytes = fixture("tiny.png");
		const image = await uploadImage(token, bytes);
		const path = `/v1/images/${image.id}/content`;
		await expectProblem(
			await postRaw(token, fixture("evil.svg"), { method: "PUT", path, type: "image/png" }),
			415,
			"unsupported_image_type",
		);
		await expectProblem(
			await postRaw(token, pngOf(10_000, 5_001), { method: "PUT", path }),
			422,
			"image_dimensions_too_large",
		);
		await expectProblem(await postRaw(token, pngOf(1, 1, 1_048_577), { method: "PUT", path }), 413, "image_too_large");
		expect(await (await send("GET", `/v1/images/${image.id}`, { token })).json()).toEqual(image);
		const stored = await env.IMAGES.get(`users/${userId}/images/${image.id}`);
		expect(new Uint8Array(await stored!.arrayBuffer())).toEqual(bytes);
	});

	it("answers unknown ids with 404 image_not_found on every verb", async () => {
		const { token } = await signedInUser();
		const id = "doesnotexist";
		await expectProblem(await send("GET", `/v1/images/${id}`, { token }), 404, "image_not_found");
		await expectProblem(await content(token, id), 404, "image_not_found");
		await expectProblem(
			await postRaw(token, fixture("tiny.png"), { method: "PUT", path: `/v1/images/${id}/content` }),
			404,
			"image_not_found",
		);
		await expectProblem(
			await send("PATCH", `/v1/images/${id}`, { token, body: { filename: "x.png" } }),
			404,
			"image_not_found",
		);
		await expectProblem(await send("DELETE", `/v1/images/${id}`, { token }), 404, "image_not_found");
	});
});

describe("images: security", () => {
	it("downloads stop at once when the session is revoked, and need a token at all", async () => {
		const { token } = await signedInUser();
		const image = await uploadImage(token, fixture("tiny.png"));
		expect((await content(token, image.id)).status).toBe(200);
		expect((await content(token, image.id, { "If-None-Match": image.etag })).status).toBe(304);
		expect((await send("POST", "/v1/auth/logout", { token })).status).toBe(204);
		await expectProblem(await content(token, image.id), 401, "unauthorized");
		await expectProblem(await content(token, image.id, { "If-None-Match": image.etag }), 401, "unauthorized");
		await expectProblem(await api(`/v1/images/${image.id}/content`), 401, "unauthorized");
	});

	it("never answers bytes that R2 holds without a row of the caller's (the plain download reads R2 beside D1)", async () => {
		const { token, userId } = await signedInUser();
		// An object under the caller's own prefix with no row (an upload whose row never landed).
		await env.IMAGES.put(imageKey(userId, "orphan-object"), fixture("tiny.png"));
		const res = await content(token, "orphan-object");
		await expectProblem(res, 404, "image_not_found");
		// And after a revoked session the same plain GET is 401 with nothing of the object in it.
		const image = await uploadImage(token, fixture("tiny.png"));
		expect((await send("POST", "/v1/auth/logout", { token })).status).toBe(204);
		const revoked = await content(token, image.id);
		await expectProblem(revoked, 401, "unauthorized");
		expect(revoked.headers.get("Content-Type")).toMatch(/^application\/problem\+json/);
	});

	it("answers a missing image in the owner's saved language", async () => {
		const { token } = await signedInUser({ locale: "fr" });
		const res = await content(token, "nope");
		const problem = await expectProblem(res, 404, "image_not_found");
		expect(res.headers.get("Content-Language")).toBe("fr");
		expect(problem.title).not.toBe("Image not found");
	});

	it("hides another user's image on every verb and leaves it untouched", async () => {
		const owner = await signedInUser();
		const intruder = await signedInUser();
		const bytes = fixture("tiny.png");
		const image = await uploadImage(owner.token, bytes);
		const token = intruder.token;
		await expectProblem(await send("GET", `/v1/images/${image.id}`, { token }), 404, "image_not_found");
		await expectProblem(await content(token, image.id), 404, "image_not_found");
		await expectProblem(await content(token, image.id, { "If-None-Match": image.etag }), 404, "image_not_found");
		await expectProblem(await content(token, image.id, { Range: "bytes=0-1" }), 404, "image_not_found");
		await expectProblem(
			await postRaw(token, fixture("tiny.jpg"), {
				method: "PUT",
				path: `/v1/images/${image.id}/content`,
				type: "image/jpeg",
			}),
			404,
			"image_not_found",
		);
		await expectProblem(
			await send("PATCH", `/v1/images/${image.id}`, { token, body: { filename: "pwned.png" } }),
			404,
			"image_not_found",
		);
		await expectProblem(await send("DELETE", `/v1/images/${image.id}`, { token }), 404, "image_not_found");
		const list = (await (await send("GET", "/v1/images", { token })).json()) as { images: ImageJson[] };
		expect(list.images).toEqual([]);

		expect(await (await send("GET", `/v1/images/${image.id}`, { token: owner.token })).json()).toEqual(image);
		const served = await content(owner.token, image.id);
		expect(new Uint8Array(await served.arrayBuffer())).toEqual(bytes);
		expect(await keysUnder(`users/${intruder.userId}/`)).toEqual([]);
	});

	it("refuses an SVG that claims to be a PNG by name and Content-Type", async () => {
		const { token } = await signedInUser();
		await expectProblem(
			await postRaw(token, fixture("evil.svg"), { type: "image/png", filename: "cat.png" }),
			415,
			"unsupported_image_type",
		);
		await expectProblem(
			await postMultipart(token, fixture("evil.svg"), { type: "image/png", filename: "cat.png" }),
			415,
			"unsupported_image_type",
		);
	});

	it("refuses polyglots whose image part is not at the start", async () => {
		const { token } = await signedInUser();
		const html = new TextEncoder().encode("<!doctype html><html><script>alert(document.cookie)</script></html>\n");
		for (const tail of ["tiny.gif", "tiny.png", "tiny.jpg"] as const) {
			await expectProblem(
				await postRaw(token, concat(html, fixture(tail)), { type: "image/gif" }),
				415,
				"unsupported_image_type",
			);
		}
	});

	it("serves a GIF+script polyglot only as the image it sniffs as, never as HTML", async () => {
		const { token } = await signedInUser();
		const polyglot = concat(fixture("tiny.gif"), new TextEncoder().encode("<script>alert(1)</script>"));
		const image = (await (
			await postRaw(token, polyglot, { type: "image/gif", filename: "x.html" })
		).json()) as ImageJson;
		const res = await content(token, image.id);
		expect(res.headers.get("Content-Type")).toBe("image/gif");
		expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
		expect(res.headers.get("Content-Disposition")).toMatch(/^inline; filename\*=UTF-8''x\.html; filename="x\.html"$/);
	});

	it("keeps client file names out of R2 keys", async () => {
		const { token, userId } = await signedInUser();
		const res = await postMultipart(token, fixture("tiny.png"), {
			type: "image/png",
			filename: "../../../users/admin/avatar",
		});
		expect(res.status).toBe(201);
		const image = (await res.json()) as ImageJson;
		expect(image.filename).toBe("avatar");
		expect(await keysUnder("users/")).toContain(`users/${userId}/images/${image.id}`);
		expect((await keysUnder("users/")).filter((key) => !key.startsWith("users/") || key.includes(".."))).toEqual([]);
		expect(image.id).toMatch(/^[a-z2-7]{24}$/);
	});
});
