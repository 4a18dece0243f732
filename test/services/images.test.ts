import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { fixture } from "../fixtures";
import { expectProblem, send, signedInUser } from "../helpers/api";
import { type ImageJson, concat, imageRowCount, keysUnder, pngOf, postRaw, uploadImage } from "../helpers/images";
import { appWith } from "../helpers/worker";

const u16le = (n: number) => [n & 0xff, (n >> 8) & 0xff];

/** A GIF with a `screen` logical screen and one image descriptor of `frame` size with a tiny LZW body. */
function gifWithFrame(screen: [number, number], frame: [number, number]): Uint8Array {
	return Uint8Array.from([
		...new TextEncoder().encode("GIF89a"),
		...u16le(screen[0]),
		...u16le(screen[1]),
		0x00, // no global colour table
		0x00,
		0x00,
		0x2c, // image descriptor
		...u16le(0),
		...u16le(0),
		...u16le(frame[0]),
		...u16le(frame[1]),
		0x00, // no local colour table
		0x02, // LZW minimum code size
		0x02, // one data sub-block of 2 bytes
		0x4c,
		0x01,
		0x00, // block terminator
		0x3b, // trailer
	]);
}

describe("replacement quota is settled in one statement (item 2)", () => {
	it("security: parallel replacements never overshoot the byte quota", async () => {
		// 1 MB quota; five 100 KB images, then five parallel replacements with 300 KB each.
		const app = appWith({ QUOTA_BYTES: "1000000" });
		const { token, userId } = await signedInUser();
		const images: ImageJson[] = [];
		for (let i = 0; i < 5; i++) {
			const res = await app.fetch(
				new Request("https://atrium.test/v1/images", {
					method: "POST",
					headers: { Authorization: `Bearer ${token}`, "Content-Type": "image/png" },
					body: pngOf(10, 10, 100_000, i + 1),
				}),
			);
			expect(res.status).toBe(201);
			images.push(await res.json());
		}
		const results = await Promise.all(
			images.map((image, i) =>
				app.fetch(
					new Request(`https://atrium.test/v1/images/${image.id}/content`, {
						method: "PUT",
						headers: { Authorization: `Bearer ${token}`, "Content-Type": "image/png" },
						body: pngOf(10, 10, 300_000, i + 10),
					}),
				),
			),
		);
		const statuses = results.map((res) => res.status).sort();
		// 500 KB stored; each replacement adds 200 KB: only two fit under 1 MB.
		expect(statuses.filter((s) => s === 200)).toHaveLength(2);
		for (const res of results) if (res.status !== 200) await expectProblem(res, 403, "quota_exceeded");
		const row = await env.DB.prepare(
			"select sum(size) as bytes, sum(reserved_bytes) as reserved from images where user_id = ?",
		)
			.bind(userId)
			.first<{ bytes: number; reserved: number }>();
		expect(row?.bytes).toBeLessThanOrEqual(1_000_000);
		expect(row?.reserved).toBe(0);
		// Rows and objects agree: every row's object holds the bytes the row describes.
		for (const image of images) {
			const stored = await env.DB.prepare("select size from images where id = ?")
				.bind(image.id)
				.first<{ size: number }>();
			const object = await env.IMAGES.head(`users/${userId}/images/${image.id}`);
			expect(object?.size).toBe(stored?.size);
		}
	});

	it("happy: a replacement that fits succeeds and releases its reservation", async () => {
		const { token, userId } = await signedInUser();
		const image = await uploadImage(token, pngOf(10, 10, 1000));
		const res = await postRaw(token, pngOf(10, 10, 5000, 7), { method: "PUT", path: `/v1/images/${image.id}/content` });
		expect(res.status).toBe(200);
		expect(((await res.json()) as ImageJson).size).toBe(5000);
		const row = await env.DB.prepare("select reserved_bytes as r, reserved_until as u from images where user_id = ?")
			.bind(userId)
			.first<{ r: number; u: number | null }>();
		expect(row).toEqual({ r: 0, u: null });
	});

	it("error: a replacement over the quota is refused and the old bytes stay", async () => {
		const app = appWith({ QUOTA_BYTES: "10000" });
		const { token, userId } = await signedInUser();
		const image = await uploadImage(token, pngOf(10, 10, 4000));
		const res = await app.fetch(
			new Request(`https://atrium.test/v1/images/${image.id}/content`, {
				method: "PUT",
				headers: { Authorization: `Bearer ${token}`, "Content-Type": "image/png" },
				body: pngOf(10, 10, 20_000, 3),
			}),
		);
		await expectProblem(res, 403, "quota_exceeded");
		const object = await env.IMAGES.head(`users/${userId}/images/${image.id}`);
		expect(object?.size).toBe(4000);
	});
});

describe("every frame and the presence of image data (items 3 and 11)", () => {
	it("security: a GIF whose frame is larger than MAX_IMAGE_PIXELS is refused, whatever its logical screen", async () => {
		const app = appWith({ MAX_IMAGE_PIXELS: "1000000" });
		const { token, userId } = await signedInUser();
		const res = await app.fetch(
			new Request("https://atrium.test/v1/images", {
				method: "POST",
				headers: { Authorization: `Bearer ${token}`, "Content-Type": "image/gif" },
				body: gifWithFrame([10, 10], [20000, 20000]),
			}),
		);
		await expectProblem(res, 422, "image_dimensions_too_large");
		expect(await imageRowCount(userId)).toBe(0);
		expect(await keysUnder(`users/${userId}/`)).toEqual([]);
	});

	it("happy: a GIF whose frames fit is stored", async () => {
		const { token } = await signedInUser();
		const res = await postRaw(token, gifWithFrame([10, 10], [10, 10]), { type: "image/gif" });
		expect(res.status).toBe(201);
		expect((await res.json()) as ImageJson).toMatchObject({ width: 10, height: 10, content_type: "image/gif" });
	});

	it("error: files without image data are refused 415", async () => {
		const { token, userId } = await signedInUser();
		const png33 = fixture("tiny.png").slice(0, 33); // signature + IHDR, nothing else
		expect(png33.byteLength).toBe(33);
		const gifNoFrame = gifWithFrame([10, 10], [10, 10]).slice(0, 13);
		const pngWithoutIdat = concat(png33, Uint8Array.from([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]));
		const jpegWithoutScan = concat(fixture("tiny.jpg").slice(0, 2), Uint8Array.from([0xff, 0xd9]));
		for (const [name, bytes, type] of [
			["33-byte PNG", png33, "image/png"],
			["PNG without IDAT", pngWithoutIdat, "image/png"],
			["GIF without a frame", gifNoFrame, "image/gif"],
			["JPEG without a scan", jpegWithoutScan, "image/jpeg"],
		] as const) {
			const res = await postRaw(token, bytes, { type });
			expect(res.status, name).toBe(415);
			await expectProblem(res, 415, "unsupported_image_type");
		}
		expect(await imageRowCount(userId)).toBe(0);
		expect(await keysUnder(`users/${userId}/`)).toEqual([]);
	});

	it("happy: the real fixtures of every type still pass", async () => {
		const { token } = await signedInUser();
		for (const [name, type] of [
			["tiny.png", "image/png"],
			["tiny.gif", "image/gif"],
			["tiny.jpg", "image/jpeg"],
			["tiny.webp", "image/webp"],
			["tiny-lossless.webp", "image/webp"],
			["tiny-vp8x.webp", "image/webp"],
			["tiny.avif", "image/avif"],
		] as const) {
			const res = await postRaw(token, fixture(name), { type });
			expect(res.status, name).toBe(201);
		}
	});
});

describe("uploads racing account deletion (item 10)", () => {
	/** A body that sends `head`, then waits for `gate` before sending the rest. */
	function gatedBody(bytes: Uint8Array, gate: Promise<void>) {
		let sent = false;
		return new ReadableStream<Uint8Array>({
			async pull(controller) {
				if (!sent) {
					sent = true;
					controller.enqueue(bytes.slice(0, 64 * 1024 + 1));
					return;
				}
				await gate;
				controller.enqueue(bytes.slice(64 * 1024 + 1));
				controller.close();
			},
		});
	}

	for (const [name, path, method] of [
		["avatar upload", "/v1/me/avatar", "PUT"],
		["image upload", "/v1/images", "POST"],
	] as const) {
		it(`security: deleting the account during an ${name} answers 401 and leaves no object`, async () => {
			const app = appWith({});
			const { token, userId } = await signedInUser();
			let open: () => void = () => {};
			const gate = new Promise<void>((resolve) => {
				open = resolve;
			});
			const bytes = pngOf(10, 10, 200_000, 5);
			const uploading = app.fetch(
				new Request(`https://atrium.test${path}`, {
					method,
					headers: {
						Authorization: `Bearer ${token}`,
						"Content-Type": "image/png",
						"Content-Length": String(bytes.byteLength),
					},
					body: gatedBody(bytes, gate),
					// @ts-expect-error workerd's Request accepts a stream body with a declared length
					duplex: "half",
				}),
			);
			// Let the upload get past authentication and into the body before deleting.
			await new Promise((resolve) => setTimeout(resolve, 50));
			const deleted = await send("DELETE", "/v1/me", { token });
			expect(deleted.status).toBe(204);
			open();
			const res = await uploading;
			expect([401, 404]).toContain(res.status);
			expect(res.status).not.toBe(500);
			expect(await keysUnder(`users/${userId}/`)).toEqual([]);
			expect(await imageRowCount(userId)).toBe(0);
		});
	}
});

describe("a client that disconnects mid-upload (item 11)", () => {
	it("is not a 503 and not an error-level log", async () => {
		const app = appWith({ REQUEST_LOG: "on" });
		const { token, userId } = await signedInUser();
		const head = pngOf(10, 10, 100_000, 9);
		let sent = false;
		const body = new ReadableStream<Uint8Array>({
			pull(controller) {
				if (!sent) {
					sent = true;
					controller.enqueue(head.slice(0, 70_000));
					return;
				}
				// What workerd reports when the client's connection drops.
				controller.error(new Error("Network connection lost."));
			},
		});
		const errors: string[] = [];
		const original = console.error;
		console.error = (...args: unknown[]) => {
			errors.push(args.map(String).join(" "));
		};
		let res: Response;
		try {
			res = await app.fetch(
				new Request("https://atrium.test/v1/images", {
					method: "POST",
					headers: { Authorization: `Bearer ${token}`, "Content-Type": "image/png", "Content-Length": "100000" },
					body,
					// @ts-expect-error workerd's Request accepts a stream body with a declared length
					duplex: "half",
				}),
			);
		} finally {
			console.error = original;
		}
		expect(res.status).not.toBe(503);
		expect(res.status).toBeLessThan(500);
		await expectProblem(res, 400, "validation_failed");
		expect(errors).toEqual([]);
		expect(await keysUnder(`users/${userId}/`)).toEqual([]);
	});
});
