import { describe, expect, it } from "vitest";
import { type FixtureName, fixture } from "../fixtures";
import { api, expectProblem, send, signedInUser } from "../helpers/api";
import { type ImageJson, concat, keysUnder, pngOf, postMultipart, postRaw, storedBytes } from "../helpers/images";
import { appWith, retryAfterOf } from "../helpers/worker";

const text = (value: string) => new TextEncoder().encode(value);

/** A GIF logical screen of any size (little-endian 16-bit width and height), nothing else. */
function gifOf(width: number, height: number): Uint8Array {
	return Uint8Array.from([
		...text("GIF89a"),
		width & 0xff,
		width >> 8,
		height & 0xff,
		height >> 8,
		0x00,
		0x00,
		0x00,
		0x3b,
	]);
}

type Upload = (token: string, bytes: Uint8Array, type: string, filename?: string) => Promise<Response>;

/** Every way bytes reach storage: new images (raw and multipart), replaced content, avatars. */
async function routes(token: string): Promise<[string, Upload][]> {
	const existing = (await (await postRaw(token, fixture("tiny.png"), { type: "image/png" })).json()) as ImageJson;
	return [
		["POST /v1/images (raw)", (t, bytes, type, filename) => postRaw(t, bytes, { type, filename })],
		["POST /v1/images (multipart)", (t, bytes, type, filename) => postMultipart(t, bytes, { type, filename })],
		[
			"PUT /v1/images/:id/content",
			(t, bytes, type, filename) =>
				postRaw(t, bytes, { type, filename, method: "PUT", path: `/v1/images/${existing.id}/content` }),
		],
		[
			"PUT /v1/me/avatar",
			(t, bytes, type, filename) => postRaw(t, bytes, { type, filename, method: "PUT", path: "/v1/me/avatar" }),
		],
	];
}

const HOSTILE: [string, Uint8Array, string][] = [
	["HTML", text("<!doctype html><script>alert(document.cookie)</script>"), "image/png"],
	["PHP", text("<?php system($_GET['c']); ?>"), "image/gif"],
	["PDF", text("%PDF-1.7\n1 0 obj <</Type/Catalog>> endobj\n"), "image/jpeg"],
	["ZIP", concat(Uint8Array.from([0x50, 0x4b, 0x03, 0x04]), new Uint8Array(60)), "image/png"],
	["ELF", concat(Uint8Array.from([0x7f, 0x45, 0x4c, 0x46]), new Uint8Array(60)), "image/webp"],
	["Windows executable", concat(text("MZ"), new Uint8Array(62)), "image/avif"],
	["SVG with script", fixture("evil.svg"), "image/svg+xml"],
	["SVG dressed as PNG", fixture("evil.svg"), "image/png"],
	["SVG behind a UTF-8 BOM", concat(Uint8Array.from([0xef, 0xbb, 0xbf]), fixture("evil.svg")), "image/png"],
	["gzipped SVG (svgz)", concat(Uint8Array.from([0x1f, 0x8b, 0x08, 0x00]), new Uint8Array(60)), "image/svg+xml"],
	["HTML before a real PNG", concat(text("<html><script>alert(1)</script>"), fixture("tiny.png")), "image/png"],
	[
		"PNG magic with a corrupted header",
		concat(fixture("tiny.png").slice(0, 8), text("<script>alert(1)</script>")),
		"image/png",
	],
];

describe("hostile bytes are refused on every upload route and nothing is stored", () => {
	it.each(HOSTILE)("%s", async (_name, bytes, type) => {
		const { token, userId } = await signedInUser();
		const before = await keysUnder(`users/${userId}/`);
		for (const [route, upload] of await routes(token)) {
			const res = await upload(token, bytes, type, "innocent.png");
			expect({ route, status: res.status }).toEqual({ route, status: 415 });
			expect(((await res.json()) as { code: string }).code).toBe("unsupported_image_type");
		}
		// Only the one image made by routes() for the replacement route is there, unchanged.
		const after = await keysUnder(`users/${userId}/`);
		expect(after).toHaveLength(before.length + 1);
	});
});

describe("polyglots that are real images are only ever served as those images, their payload cut off", () => {
	it.each<[string, FixtureName, Uint8Array, string]>([
		["GIF + JavaScript", "tiny.gif", text("*/=1;alert(document.domain);/*"), "image/gif"],
		[
			"GIF + JAR/ZIP (GIFAR)",
			"tiny.gif",
			concat(Uint8Array.from([0x50, 0x4b, 0x03, 0x04]), new Uint8Array(40)),
			"image/gif",
		],
		["PNG + ZIP", "tiny.png", concat(Uint8Array.from([0x50, 0x4b, 0x05, 0x06]), new Uint8Array(18)), "image/png"],
		["PNG + HTML", "tiny.png", text("<html><body onload=alert(1)>"), "image/png"],
		["JPEG + PHP", "tiny.jpg", text("<?php echo 1; ?>"), "image/jpeg"],
	])("%s", async (_name, name, payload, type) => {
		const bytes = concat(fixture(name), payload);
		const { token } = await signedInUser();
		const res = await postRaw(token, bytes, { type, filename: "payload.html" });
		expect(res.status).toBe(201);
		const image = (await res.json()) as ImageJson;
		expect(image.content_type).toBe(type);
		const served = await send("GET", `/v1/images/${image.id}/content`, { token });
		expect(served.headers.get("Content-Type")).toBe(type);
		expect(served.headers.get("X-Content-Type-Options")).toBe("nosniff");
		expect(served.headers.get("Content-Disposition")).toMatch(/^inline; /);
		// Bytes after the image's end (GIF trailer, PNG IEND, JPEG EOI) are not stored: metadata stripping.
		expect(new Uint8Array(await served.arrayBuffer())).toEqual(storedBytes(fixture(name), name));
	});
});

describe("decompression-bomb dimensions are refused from the header alone", () => {
	it.each<[string, Uint8Array, string]>([
		["PNG claiming 100000 x 100000", pngOf(100_000, 100_000), "image/png"],
		["PNG claiming 2^31-1 x 1", pngOf(2 ** 31 - 1, 1), "image/png"],
		["PNG claiming 1 x 50,000,001", pngOf(1, 50_000_001), "image/png"],
		["GIF claiming 65535 x 65535", gifOf(65_535, 65_535), "image/gif"],
	])("%s -> 422 on every route, nothing stored", async (_name, bytes, type) => {
		const { token, userId } = await signedInUser();
		for (const [route, upload] of await routes(token)) {
			const res = await upload(token, bytes, type);
			expect({ route, status: res.status }).toEqual({ route, status: 422 });
			expect(((await res.json()) as { code: string }).code).toBe("image_dimensions_too_large");
		}
		expect(await keysUnder(`users/${userId}/`)).toHaveLength(1);
	});
});

describe("file names are metadata only", () => {
	const TRAVERSAL = [
		"../../etc/passwd.png",
		"..\\..\\windows\\win.ini.png",
		"/absolute/path.png",
		"users/someone-else/images/x",
		"....//....//x.png",
		"%2e%2e%2fx.png",
		"..",
		".htaccess",
	];

	it.each(TRAVERSAL)("%j never reaches a key, and comes back without a path", async (filename) => {
		const { token, userId } = await signedInUser();
		for (const res of [
			await postRaw(token, fixture("tiny.png"), { type: "image/png", filename }),
			await postMultipart(token, fixture("tiny.png"), { type: "image/png", filename }),
		]) {
			expect(res.status).toBe(201);
			const image = (await res.json()) as ImageJson;
			expect(image.filename).not.toMatch(/[/\\]|^\./);
			expect(image.filename.length).toBeGreaterThan(0);
		}
		const keys = await keysUnder("users/");
		for (const key of keys) expect(key).toMatch(/^users\/[a-z2-7]+\/(images\/[a-z2-7]+|avatar)$/);
		expect(keys.filter((key) => key.startsWith(`users/${userId}/`))).toHaveLength(2);
	});

	it.each([
		["CRLF header injection", "a.png\r\nSet-Cookie: pwned=1"],
		["LF only", "a.png\nLocation: evil.html"],
		["quote breaking out of filename=", 'a.png"; filename="evil.html'],
		["semicolon parameters", "a.png; filename*=UTF-8''evil.html"],
		["NUL and controls", "a\u0000b\u0007c.png"],
		["right-to-left override", "photo\u202egnp.exe"],
	])("%s: the download's headers stay intact", async (_name, filename) => {
		const { token } = await signedInUser();
		const raw = await postRaw(token, fixture("tiny.png"), { type: "image/png", filename });
		expect(raw.status).toBe(201);
		const patch = await send("PATCH", `/v1/images/${((await raw.clone().json()) as ImageJson).id}`, {
			token,
			body: { filename },
		});
		expect(patch.status).toBe(200);
		const accepted = [raw, patch];
		// workerd writes some of these names into the part header as they are, which breaks the part:
		// refusing such a body as unreadable is as safe as accepting it.
		const multipart = await postMultipart(token, fixture("tiny.png"), { type: "image/png", filename });
		if (multipart.status === 400) await expectProblem(multipart, 400, "validation_failed");
		else accepted.push(multipart);
		for (const res of accepted) {
			const image = (await res.json()) as ImageJson;
			// No C0 control, DEL or bidi override survives.
			expect([...image.filename].filter((char) => /[\p{Cc}\u202e]/u.test(char))).toEqual([]);
			const served = await api(`/v1/images/${image.id}/content`, { headers: { Authorization: `Bearer ${token}` } });
			expect(served.status).toBe(200);
			expect(served.headers.get("Set-Cookie")).toBeNull();
			expect(served.headers.get("Location")).toBeNull();
			const disposition = served.headers.get("Content-Disposition") ?? "";
			expect(disposition).not.toMatch(/[\r\n]/);
			// One filename* (percent-encoded) and one quoted ASCII fallback without inner quotes.
			expect(disposition).toMatch(/^inline; filename\*=UTF-8''[A-Za-z0-9%._~!$&+^`|#-]+; filename="[^"\\]*"$/);
		}
	});
});

describe("upload rate limit per user", () => {
	it("the Nth upload is stored, the next is 429 with Retry-After and stores nothing", async () => {
		const { token, userId } = await signedInUser();
		const app = appWith({ RATE_LIMIT_UPLOAD_USER: "3/600" });
		const upload = (path = "/v1/images", method = "POST") =>
			app.fetch(
				new Request(`https://atrium.test${path}`, {
					method,
					headers: { Authorization: `Bearer ${token}`, "Content-Type": "image/png" },
					body: fixture("tiny.png"),
				}),
			);
		expect((await upload()).status).toBe(201);
		expect((await upload()).status).toBe(201);
		expect((await upload("/v1/me/avatar", "PUT")).status).toBe(200);
		const retryAfter = await retryAfterOf(await upload());
		expect(retryAfter).toBeGreaterThan(590);
		await expectProblem(await upload("/v1/me/avatar", "PUT"), 429, "rate_limited");
		expect(await keysUnder(`users/${userId}/images/`)).toHaveLength(2);
	});
});
