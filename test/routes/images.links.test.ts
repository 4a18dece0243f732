import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { api, expectProblem, send, signedInUser } from "../helpers/api";
import { type ImageJson, pngOf, uploadImage } from "../helpers/images";
import { appWith } from "../helpers/worker";

afterEach(() => {
	vi.useRealTimers();
	vi.restoreAllMocks();
});

/** GET a signed URL with no credentials at all. */
function open(url: string, headers: Record<string, string> = {}): Promise<Response> {
	return api(url, { headers });
}

/** The URL with one query parameter set to `value`. */
function withParam(url: string, name: string, value: string): string {
	const copy = new URL(url);
	copy.searchParams.set(name, value);
	return copy.toString();
}

/** `text` with the character at `index` swapped for another of the same alphabet. */
function flip(text: string, index: number): string {
	const char = text[index] === "A" ? "B" : "A";
	return `${text.slice(0, index)}${char}${text.slice(index + 1)}`;
}

async function shareLink(token: string, id: string, body?: unknown) {
	const res = await send("POST", `/v1/images/${id}/links`, { token, body });
	expect(res.status).toBe(201);
	return (await res.json()) as { url: string; expires_at: string };
}

async function userWithImage(bytes = pngOf(8, 8)) {
	const user = await signedInUser();
	const image = await uploadImage(user.token, bytes);
	return { ...user, image, bytes };
}

function maxAge(res: Response): number {
	const match = /^private, max-age=(\d+)$/.exec(res.headers.get("Cache-Control") ?? "");
	expect(match, res.headers.get("Cache-Control") ?? "").not.toBeNull();
	return Number(match?.[1]);
}

describe("signed image URLs: happy", () => {
	it("gives every image object a content_url that serves the bytes without Authorization", async () => {
		const { token, image, bytes } = await userWithImage();
		expect(image.content_url).toMatch(new RegExp(`^https://atrium\\.test/v1/images/${image.id}/shared\\?`));
		const res = await open(image.content_url);
		expect(res.status).toBe(200);
		expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
		expect(res.headers.get("Content-Type")).toBe("image/png");
		expect(res.headers.get("ETag")).toBe(image.etag);
		expect(res.headers.get("Referrer-Policy")).toBe("no-referrer");
		expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
		expect(res.headers.get("Cross-Origin-Resource-Policy")).toBe("cross-origin");
		// SIGNED_URL_SECONDS (3600) at least, rounded up to a quarter of it at most.
		const seconds = maxAge(res);
		expect(seconds).toBeGreaterThanOrEqual(3590);
		expect(seconds).toBeLessThanOrEqual(3600 + 900);

		const fetched = (await (await send("GET", `/v1/images/${image.id}`, { token })).json()) as ImageJson;
		const listed = (await (await send("GET", "/v1/images", { token })).json()) as { images: ImageJson[] };
		const exported = (await (await send("GET", "/v1/me/export", { token })).json()) as { images: ImageJson[] };
		for (const copy of [fetched, listed.images[0], exported.images[0]]) {
			expect((await open(copy?.content_url ?? "")).status).toBe(200);
		}
	});

	it("answers If-None-Match with 304 and a Range with 206 on a signed URL", async () => {
		const { image, bytes } = await userWithImage(pngOf(8, 8, 200));
		const cached = await open(image.content_url, { "If-None-Match": image.etag });
		expect(cached.status).toBe(304);
		expect(cached.headers.get("ETag")).toBe(image.etag);
		expect(maxAge(cached)).toBeGreaterThan(0);

		const part = await open(image.content_url, { Range: "bytes=10-19" });
		expect(part.status).toBe(206);
		expect(part.headers.get("Content-Range")).toBe(`bytes 10-19/${bytes.byteLength}`);
		expect(new Uint8Array(await part.arrayBuffer())).toEqual(bytes.slice(10, 20));

		const past = await open(image.content_url, { Range: `bytes=${bytes.byteLength + 5}-` });
		await expectProblem(past, 416, "range_not_satisfiable");
	});

	it("creates share links valid a day by default, or as long as asked", async () => {
		const { token, image, bytes } = await userWithImage();
		const before = Date.now();
		const daily = await shareLink(token, image.id);
		const expiresAt = Date.parse(daily.expires_at);
		expect(expiresAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 86_400_000);
		expect(expiresAt).toBeLessThanOrEqual(Date.now() + 86_400_000);
		const res = await open(daily.url);
		expect(res.status).toBe(200);
		expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
		expect(maxAge(res)).toBeGreaterThan(86_390);

		const short = await shareLink(token, image.id, { expires_in: 60 });
		const shortRes = await open(short.url);
		expect(shortRes.status).toBe(200);
		expect(maxAge(shortRes)).toBeLessThanOrEqual(60);
		const week = await shareLink(token, image.id, { expires_in: 604_800 });
		expect((await open(week.url)).status).toBe(200);
	});

	it("serves a signed URL with 0 D1 round trips and no D1 call at all", async () => {
		const { token, image } = await userWithImage();
		const link = await shareLink(token, image.id);
		const dev = appWith({ ENVIRONMENT: "development" });
		const prepare = vi.spyOn(env.DB, "prepare");
		const batch = vi.spyOn(env.DB, "batch");
		for (const [url, headers, status] of [
			[image.content_url, {}, 200],
			[link.url, {}, 200],
			[link.url, { "If-None-Match": image.etag }, 304],
			[link.url, { Range: "bytes=0-3" }, 206],
		] as const) {
			const res = await dev.fetch(new Request(url, { headers }));
			expect(res.status).toBe(status);
			await res.body?.cancel();
			expect(res.headers.get("Server-Timing")).toBe('d1;desc="0 round trips"');
		}
		expect(prepare).not.toHaveBeenCalled();
		expect(batch).not.toHaveBeenCalled();
		// The counter does count: the authenticated route needs its one statement.
		const authenticated = await dev.fetch(new Request(image.url, { headers: { Authorization: `Bearer ${token}` } }));
		await authenticated.body?.cancel();
		expect(authenticated.headers.get("Server-Timing")).toBe('d1;desc="1 round trip"');
	});
});

describe("signed image URLs: error", () => {
	it("answers 410 link_expired once a genuine link has expired", async () => {
		const { token, image } = await userWithImage();
		const link = await shareLink(token, image.id, { expires_in: 60 });
		vi.useFakeTimers({ toFake: ["Date"] });
		vi.setSystemTime(Date.now() + 61_000);
		const res = await open(link.url);
		await expectProblem(res, 410, "link_expired");
		expect(res.headers.has("WWW-Authenticate")).toBe(false);
		vi.setSystemTime(Date.now() + 7200_000);
		await expectProblem(await open(image.content_url), 410, "link_expired");
	});

	it("checks the signature before the expiry: a tampered expired link is invalid", async () => {
		const { token, image } = await userWithImage();
		const link = await shareLink(token, image.id, { expires_in: 60 });
		const signature = new URL(link.url).searchParams.get("s") ?? "";
		vi.useFakeTimers({ toFake: ["Date"] });
		vi.setSystemTime(Date.now() + 120_000);
		await expectProblem(await open(withParam(link.url, "s", flip(signature, 5))), 403, "link_invalid");
	});

	it("ends every link when the image's bytes are replaced", async () => {
		const { token, image } = await userWithImage();
		const link = await shareLink(token, image.id);
		const replaced = await api(`/v1/images/${image.id}/content`, {
			method: "PUT",
			headers: { Authorization: `Bearer ${token}`, "Content-Type": "image/png" },
			body: pngOf(9, 9),
		});
		expect(replaced.status).toBe(200);
		const current = (await replaced.json()) as ImageJson;
		await expectProblem(await open(link.url), 404, "image_not_found");
		await expectProblem(await open(image.content_url), 404, "image_not_found");
		await expectProblem(await open(image.content_url, { "If-None-Match": image.etag }), 404, "image_not_found");
		expect((await open(current.content_url)).status).toBe(200);
	});

	it("ends every link when the image is deleted", async () => {
		const { token, image } = await userWithImage();
		const link = await shareLink(token, image.id);
		expect((await send("DELETE", `/v1/images/${image.id}`, { token })).status).toBe(204);
		await expectProblem(await open(link.url), 404, "image_not_found");
		await expectProblem(await open(image.content_url, { "If-None-Match": image.etag }), 404, "image_not_found");
	});

	it("refuses a link lifetime outside 60..604800 seconds and malformed bodies", async () => {
		const { token, image } = await userWithImage();
		for (const body of [{ expires_in: 59 }, { expires_in: 604_801 }, { expires_in: 1.5 }, { expires_in: "60" }, []]) {
			await expectProblem(
				await send("POST", `/v1/images/${image.id}/links`, { token, body }),
				400,
				"validation_failed",
			);
		}
	});

	it("refuses links to unknown images and without a token", async () => {
		const { token, image } = await userWithImage();
		await expectProblem(await send("POST", "/v1/images/unknown/links", { token }), 404, "image_not_found");
		await expectProblem(await send("POST", `/v1/images/${image.id}/links`), 401, "unauthorized");
	});
});

describe("signed image URLs: security", () => {
	it("refuses any tampering with 403 link_invalid", async () => {
		const { token, image } = await userWithImage();
		const link = await shareLink(token, image.id);
		const url = new URL(link.url);
		const q = (name: string) => url.searchParams.get(name) ?? "";
		const tampered = [
			withParam(link.url, "s", flip(q("s"), 0)),
			withParam(link.url, "s", flip(q("s"), 42)),
			withParam(link.url, "s", `${q("s")}x`),
			withParam(link.url, "t", flip(q("t"), 3)),
			withParam(link.url, "o", flip(q("o"), 3)),
			withParam(link.url, "e", String(Number(q("e")) + 1)),
			withParam(link.url, "e", String(Number(q("e")) + 86_400)),
			withParam(link.url, "e", `0${q("e")}`),
			`${link.url}&w=100`,
			`${link.url}&s=${q("s")}`,
			`${link.url}junk`,
			link.url.replace(/&s=[^&]*/, ""),
			link.url.split("?")[0] ?? "",
		];
		for (const bad of tampered) {
			const res = await open(bad);
			await expectProblem(res, 403, "link_invalid");
			expect(res.headers.has("WWW-Authenticate")).toBe(false);
		}
		expect((await open(link.url)).status).toBe(200);
	});

	it("refuses a link moved to another image or another user's id", async () => {
		const owner = await userWithImage();
		const second = await uploadImage(owner.token, pngOf(4, 4));
		const other = await userWithImage();
		const link = new URL(owner.image.content_url);
		// The same signature on another image path of the same owner.
		const moved = new URL(link);
		moved.pathname = `/v1/images/${second.id}/shared`;
		await expectProblem(await open(moved.toString()), 403, "link_invalid");
		// Another user's id as owner, or another user's image with this signature.
		await expectProblem(await open(withParam(link.toString(), "o", other.userId)), 403, "link_invalid");
		const foreign = new URL(other.image.content_url);
		foreign.searchParams.set("s", link.searchParams.get("s") ?? "");
		await expectProblem(await open(foreign.toString()), 403, "link_invalid");
	});

	it("signs with a key derived from ENCRYPTION_KEY: rotating it ends outstanding links", async () => {
		const { image } = await userWithImage();
		const rotated = appWith({ ENCRYPTION_KEY: "another-encryption-key-of-32-bytes-or-more!" });
		const res = await rotated.fetch(new Request(image.content_url));
		await expectProblem(res, 403, "link_invalid");
	});

	it("localizes its refusals", async () => {
		const { image } = await userWithImage();
		const res = await open(withParam(image.content_url, "e", "1"), { "Accept-Language": "fr" });
		const body = await expectProblem(res, 403, "link_invalid");
		expect(body.title).toBe("Lien invalide");
	});
});
