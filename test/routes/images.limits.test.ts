import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { fixture } from "../fixtures";
import { api, expectProblem, login, send, signedInUser } from "../helpers/api";
import { interceptPrepare } from "../helpers/d1-recorder";
import {
	type ImageJson,
	LIMITS,
	chunkedBody,
	imageRowCount,
	keysUnder,
	pngOf,
	postMultipart,
	postRaw,
	sha256Hex,
	uploadImage,
} from "../helpers/images";

afterEach(() => {
	vi.restoreAllMocks();
});

/** Sends a body of unknown length (no Content-Length), as a chunked client would. */
function postChunked(token: string, bytes: Uint8Array, type: string, chunkSize?: number) {
	const body = chunkedBody(bytes, chunkSize);
	const response = api("/v1/images", {
		method: "POST",
		headers: { Authorization: `Bearer ${token}`, "Content-Type": type },
		body: body.stream,
	});
	return { response, state: body.state };
}

function multipartBytes(bytes: Uint8Array, filename = "big.png") {
	const form = new FormData();
	form.append("image", new File([bytes], filename, { type: "image/png" }));
	return new Response(form);
}

describe("limits: size", () => {
	it("accepts an image of exactly MAX_IMAGE_BYTES, raw and multipart", async () => {
		const { token } = await signedInUser();
		const raw = await postRaw(token, pngOf(100, 100, LIMITS.maxBytes));
		expect(raw.status).toBe(201);
		expect(((await raw.json()) as ImageJson).size).toBe(LIMITS.maxBytes);
		await send(
			"DELETE",
			`/v1/images/${((await (await send("GET", "/v1/images", { token })).json()) as { images: ImageJson[] }).images[0]?.id}`,
			{ token },
		);
		const multipart = await postMultipart(token, pngOf(100, 100, LIMITS.maxBytes), { type: "image/png" });
		expect(multipart.status).toBe(201);
	});

	it("refuses one byte more with 413 and a localized limit", async () => {
		const { token, userId } = await signedInUser();
		const raw = await expectProblem(await postRaw(token, pngOf(1, 1, LIMITS.maxBytes + 1)), 413, "image_too_large");
		expect(raw.detail).toBe("Images may be at most 1 MB.");
		const fr = await expectProblem(
			await postRaw(token, pngOf(1, 1, LIMITS.maxBytes + 1), { headers: { "Accept-Language": "fr" } }),
			413,
			"image_too_large",
		);
		expect(fr.detail).toContain("1");
		await expectProblem(
			await postMultipart(token, pngOf(1, 1, LIMITS.maxBytes + 1), { type: "image/png" }),
			413,
			"image_too_large",
		);
		expect(await keysUnder(`users/${userId}/`)).toEqual([]);
		expect(await imageRowCount(userId)).toBe(0);
	});

	it("refuses from Content-Length alone, before reading the body", async () => {
		const { token } = await signedInUser();
		let pulled = 0;
		const endless = new ReadableStream<Uint8Array>({
			pull(controller) {
				pulled += 64 * 1024;
				controller.enqueue(new Uint8Array(64 * 1024));
			},
		});
		const res = await api("/v1/images", {
			method: "POST",
			headers: {
				Authorization: `Bearer ${token}`,
				"Content-Type": "image/png",
				"Content-Length": String(50 * 1024 * 1024),
			},
			body: endless,
		});
		await expectProblem(res, 413, "image_too_large");
		expect(pulled).toBeLessThan(LIMITS.maxBytes);
		await endless.cancel().catch(() => {});
	});

	it("refuses a multipart body whose Content-Length is over the limit plus framing", async () => {
		const { token } = await signedInUser();
		const body = multipartBytes(pngOf(1, 1, LIMITS.maxBytes + 70 * 1024));
		const res = await api("/v1/images", {
			method: "POST",
			headers: { Authorization: `Bearer ${token}`, "Content-Type": body.headers.get("Content-Type") ?? "" },
			body: await body.arrayBuffer(),
		});
		await expectProblem(res, 413, "image_too_large");
	});

	it("enforces the limit while streaming a body without Content-Length", async () => {
		const { token, userId } = await signedInUser();
		const big = pngOf(10, 10, 3 * LIMITS.maxBytes);
		const { response, state } = postChunked(token, big, "image/png");
		await expectProblem(await response, 413, "image_too_large");
		// Reading stops soon after the limit: the rest of the body is never pulled.
		expect(state.pulled).toBeLessThan(2 * LIMITS.maxBytes);
		expect(await keysUnder(`users/${userId}/`)).toEqual([]);
		expect(await imageRowCount(userId)).toBe(0);
	});

	it("accepts a body without Content-Length up to exactly the limit and hashes it", async () => {
		const { token, userId } = await signedInUser();
		const bytes = pngOf(10, 10, LIMITS.maxBytes, 3);
		const { response } = postChunked(token, bytes, "image/png", 10_000);
		const res = await response;
		expect(res.status).toBe(201);
		const image = (await res.json()) as ImageJson;
		expect(image.size).toBe(LIMITS.maxBytes);
		const stored = await env.IMAGES.get(`users/${userId}/images/${image.id}`);
		// Hashes, not a byte-by-byte toEqual, which takes seconds on a megabyte.
		expect(await sha256Hex(await stored!.arrayBuffer())).toBe(await sha256Hex(bytes));
		const row = await env.DB.prepare("select sha256 from images where id = ?").bind(image.id).first();
		expect(row).toEqual({ sha256: await sha256Hex(bytes) });
	});

	it("cuts off a chunked multipart body that runs past the limit", async () => {
		const { token } = await signedInUser();
		const body = multipartBytes(pngOf(1, 1, 2 * LIMITS.maxBytes));
		const type = body.headers.get("Content-Type") ?? "";
		const { stream, state } = chunkedBody(new Uint8Array(await body.arrayBuffer()));
		const res = await api("/v1/images", {
			method: "POST",
			headers: { Authorization: `Bearer ${token}`, "Content-Type": type },
			body: stream,
		});
		await expectProblem(res, 413, "image_too_large");
		expect(state.pulled).toBeLessThan(2 * LIMITS.maxBytes);
	});
});

describe("limits: dimensions", () => {
	it("accepts exactly MAX_IMAGE_PIXELS and refuses one row more with 422", async () => {
		const { token, userId } = await signedInUser();
		const atLimit = await postRaw(token, pngOf(10_000, 5_000));
		expect(atLimit.status).toBe(201);
		expect(await atLimit.json()).toMatchObject({ width: 10_000, height: 5_000 });
		const over = await expectProblem(await postRaw(token, pngOf(10_000, 5_001)), 422, "image_dimensions_too_large");
		expect(over.detail).toBe("Images may have at most 50,000,000 pixels.");
		expect(await imageRowCount(userId)).toBe(1);
	});

	it("refuses a decompression bomb whose header claims 65535 x 65535 pixels", async () => {
		const { token } = await signedInUser();
		const gif = fixture("tiny.gif");
		gif.set([0xff, 0xff, 0xff, 0xff], 6);
		await expectProblem(await postRaw(token, gif, { type: "image/gif" }), 422, "image_dimensions_too_large");
	});
});

describe("limits: quota", () => {
	it("accepts QUOTA_IMAGES images and refuses the next with 403", async () => {
		const { token, userId } = await signedInUser();
		for (let i = 0; i < LIMITS.quotaImages; i++) await uploadImage(token, pngOf(1, 1, 40, i));
		await expectProblem(await postRaw(token, pngOf(1, 1, 40)), 403, "quota_exceeded");
		expect(await imageRowCount(userId)).toBe(LIMITS.quotaImages);
		expect(await keysUnder(`users/${userId}/images/`)).toHaveLength(LIMITS.quotaImages);
		// Deleting one frees a slot.
		const list = (await (await send("GET", "/v1/images?limit=1", { token })).json()) as { images: ImageJson[] };
		await send("DELETE", `/v1/images/${list.images[0]?.id}`, { token });
		expect((await postRaw(token, pngOf(1, 1, 40))).status).toBe(201);
	});

	it("lets concurrent uploads fill the last slot only once", async () => {
		const { token, userId } = await signedInUser();
		for (let i = 0; i < LIMITS.quotaImages - 1; i++) await uploadImage(token, pngOf(1, 1, 40, i));
		const results = await Promise.all([1, 2, 3].map((i) => postRaw(token, pngOf(1, 1, 40, 100 + i))));
		expect(results.map((r) => r.status).sort()).toEqual([201, 403, 403]);
		expect(await imageRowCount(userId)).toBe(LIMITS.quotaImages);
		expect(await keysUnder(`users/${userId}/images/`)).toHaveLength(LIMITS.quotaImages);
	});

	it("accepts uploads up to exactly QUOTA_BYTES and refuses one byte more", async () => {
		const { token, userId } = await signedInUser();
		await uploadImage(token, pngOf(1, 1, LIMITS.maxBytes));
		const rest = LIMITS.quotaBytes - LIMITS.maxBytes;
		const last = await uploadImage(token, pngOf(1, 1, rest));
		await expectProblem(await postRaw(token, pngOf(1, 1, 40)), 403, "quota_exceeded");
		// Without Content-Length, the quota is enforced while the bytes stream in.
		const { response } = postChunked(token, pngOf(1, 1, 40), "image/png");
		await expectProblem(await response, 403, "quota_exceeded");
		expect(await keysUnder(`users/${userId}/images/`)).toHaveLength(2);

		// A replacement counts the bytes it frees: same size fits, one byte more does not.
		const path = `/v1/images/${last.id}/content`;
		await expectProblem(await postRaw(token, pngOf(2, 2, rest + 1), { method: "PUT", path }), 403, "quota_exceeded");
		const same = await postRaw(token, pngOf(2, 2, rest, 9), { method: "PUT", path });
		expect(same.status).toBe(200);
	});
});

describe("consistency", () => {
	it("leaves neither row nor object when R2 fails mid-upload", async () => {
		const { token, userId } = await signedInUser();
		vi.spyOn(env.IMAGES, "put").mockRejectedValueOnce(new Error("R2 is down"));
		await expectProblem(await postRaw(token, fixture("tiny.png")), 500, "internal_error");
		expect(await imageRowCount(userId)).toBe(0);
		expect(await keysUnder(`users/${userId}/`)).toEqual([]);
		// The next attempt goes through.
		expect((await postRaw(token, fixture("tiny.png"))).status).toBe(201);
	});

	it("deletes the object again when the row cannot be written", async () => {
		const { token, userId } = await signedInUser();
		interceptPrepare((query, prepare) => {
			if (/^\s*insert into "images"/i.test(query)) throw new Error("D1 is down");
			return prepare(query);
		});
		await expectProblem(await postRaw(token, fixture("tiny.png")), 500, "internal_error");
		vi.restoreAllMocks();
		expect(await imageRowCount(userId)).toBe(0);
		expect(await keysUnder(`users/${userId}/`)).toEqual([]);
	});

	it("keeps the old row and object when R2 fails during a replacement", async () => {
		const { token, userId } = await signedInUser();
		const bytes = fixture("tiny.png");
		const image = await uploadImage(token, bytes);
		vi.spyOn(env.IMAGES, "put").mockRejectedValueOnce(new Error("R2 is down"));
		const res = await postRaw(token, fixture("tiny.jpg"), {
			method: "PUT",
			path: `/v1/images/${image.id}/content`,
			type: "image/jpeg",
		});
		await expectProblem(res, 500, "internal_error");
		expect(await (await send("GET", `/v1/images/${image.id}`, { token })).json()).toEqual(image);
		const stored = await env.IMAGES.get(`users/${userId}/images/${image.id}`);
		expect(stored?.etag).toBe(image.etag.slice(1, -1));
		expect(new Uint8Array(await stored!.arrayBuffer())).toEqual(bytes);
	});

	it("deleting the account leaves no object under the user's prefix", async () => {
		const { token, userId, email } = await signedInUser();
		for (let i = 0; i < 3; i++) await uploadImage(token, pngOf(1, 1, 100, i));
		const avatar = await postRaw(token, fixture("tiny.jpg"), {
			method: "PUT",
			path: "/v1/me/avatar",
			type: "image/jpeg",
		});
		expect(avatar.status).toBe(200);
		expect(await keysUnder(`users/${userId}/`)).toHaveLength(4);
		const fresh = await login(email);
		const res = await send("DELETE", "/v1/me", { token: fresh.access_token });
		expect(res.status).toBe(204);
		expect(await keysUnder(`users/${userId}/`)).toEqual([]);
		expect(await imageRowCount(userId)).toBe(0);
	});
});
