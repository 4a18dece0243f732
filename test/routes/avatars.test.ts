import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { fixture } from "../fixtures";
import { api, expectProblem, send, signedInUser } from "../helpers/api";
import { LIMITS, concat, keysUnder, pngOf, postMultipart, postRaw, storedBytes } from "../helpers/images";

function putAvatar(token: string, bytes: Uint8Array, type = "image/png") {
	return postRaw(token, bytes, { method: "PUT", path: "/v1/me/avatar", type });
}

async function avatarUrl(res: Response): Promise<string> {
	expect(res.status).toBe(200);
	const body = (await res.json()) as { avatar_url: string };
	return body.avatar_url;
}

describe("avatars: happy path", () => {
	it("sets an avatar that anyone can fetch, with public caching and an ETag", async () => {
		const { token, userId } = await signedInUser();
		const bytes = fixture("tiny.webp");
		const url = await avatarUrl(await putAvatar(token, bytes, "image/webp"));
		expect(url).toMatch(new RegExp(`^https://atrium\\.test/v1/users/${userId}/avatar\\?v=.+`));
		const me = (await (await send("GET", "/v1/me", { token })).json()) as { avatar_url: string };
		expect(me.avatar_url).toBe(url);

		const res = await api(`/v1/users/${userId}/avatar`);
		expect(res.status).toBe(200);
		expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
		expect(res.headers.get("Content-Type")).toBe("image/webp");
		expect(res.headers.get("Cache-Control")).toMatch(/^public, max-age=\d+$/);
		expect(res.headers.get("Cross-Origin-Resource-Policy")).toBe("cross-origin");
		expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
		const etag = res.headers.get("ETag");
		expect(etag).toMatch(/^"[^"]+"$/);

		const cached = await api(`/v1/users/${userId}/avatar`, { headers: { "If-None-Match": etag ?? "" } });
		expect(cached.status).toBe(304);
		expect(cached.headers.get("ETag")).toBe(etag);
		expect(cached.headers.get("Cache-Control")).toMatch(/^public, max-age=\d+$/);
		expect(await cached.text()).toBe("");

		// The versioned URL from avatar_url names immutable bytes.
		const versioned = await api(new URL(url).pathname + new URL(url).search);
		expect(versioned.headers.get("Cache-Control")).toBe("public, max-age=31536000, immutable");
		expect(await keysUnder(`users/${userId}/`)).toEqual([`users/${userId}/avatar`]);
	});

	it("replaces the avatar from a multipart body: new bytes, new URL, one key", async () => {
		const { token, userId } = await signedInUser();
		const first = await avatarUrl(await putAvatar(token, fixture("tiny.png")));
		const second = await avatarUrl(
			await postMultipart(token, fixture("tiny.avif"), { method: "PUT", path: "/v1/me/avatar", type: "image/avif" }),
		);
		expect(second).not.toBe(first);
		const res = await api(`/v1/users/${userId}/avatar`);
		expect(res.headers.get("Content-Type")).toBe("image/avif");
		expect(new Uint8Array(await res.arrayBuffer())).toEqual(fixture("tiny.avif"));
		expect(await keysUnder(`users/${userId}/`)).toEqual([`users/${userId}/avatar`]);
	});

	it("deletes the avatar and its object", async () => {
		const { token, userId } = await signedInUser();
		await avatarUrl(await putAvatar(token, fixture("tiny.png")));
		const res = await send("DELETE", "/v1/me/avatar", { token });
		expect(res.status).toBe(204);
		expect(await keysUnder(`users/${userId}/`)).toEqual([]);
		await expectProblem(await api(`/v1/users/${userId}/avatar`), 404, "avatar_not_found");
		const me = (await (await send("GET", "/v1/me", { token })).json()) as { avatar_url: string | null };
		expect(me.avatar_url).toBeNull();
	});
});

describe("avatars: errors", () => {
	it("404s when there is no avatar, for fetch and delete", async () => {
		const { token, userId } = await signedInUser();
		await expectProblem(await api(`/v1/users/${userId}/avatar`), 404, "avatar_not_found");
		await expectProblem(await api("/v1/users/nobody/avatar"), 404, "avatar_not_found");
		await expectProblem(await send("DELETE", "/v1/me/avatar", { token }), 404, "avatar_not_found");
	});

	it("requires a token to set or delete", async () => {
		const put = await api("/v1/me/avatar", {
			method: "PUT",
			headers: { "Content-Type": "image/png" },
			body: fixture("tiny.png"),
		});
		await expectProblem(put, 401, "unauthorized");
		await expectProblem(await api("/v1/me/avatar", { method: "DELETE" }), 401, "unauthorized");
	});

	it("refuses what an image upload refuses, and keeps the current avatar", async () => {
		const { token, userId } = await signedInUser();
		const bytes = fixture("tiny.png");
		await avatarUrl(await putAvatar(token, bytes));
		await expectProblem(await putAvatar(token, fixture("evil.svg"), "image/svg+xml"), 415, "unsupported_image_type");
		await expectProblem(await putAvatar(token, pngOf(1, 1, LIMITS.maxBytes + 1)), 413, "image_too_large");
		await expectProblem(await putAvatar(token, pngOf(10_000, 5_001)), 422, "image_dimensions_too_large");
		const multipart = await postMultipart(token, bytes, { method: "PUT", path: "/v1/me/avatar", field: "avatar" });
		await expectProblem(multipart, 400, "validation_failed");
		const res = await api(`/v1/users/${userId}/avatar`);
		expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
	});
});

describe("avatars: sniffed type", () => {
	it("stores a raw avatar whose image Content-Type disagrees with its bytes under the sniffed type", async () => {
		const { token, userId } = await signedInUser();
		expect((await putAvatar(token, fixture("tiny.jpg"), "image/png")).status).toBe(200);
		const res = await api(`/v1/users/${userId}/avatar`);
		expect(res.headers.get("Content-Type")).toBe("image/jpeg");
		expect(new Uint8Array(await res.arrayBuffer())).toEqual(storedBytes(fixture("tiny.jpg"), "tiny.jpg"));
	});
});

describe("avatars: security", () => {
	it("refuses an HTML page with a GIF tail", async () => {
		const { token, userId } = await signedInUser();
		const polyglot = concat(new TextEncoder().encode("<html><script>alert(1)</script></html>"), fixture("tiny.gif"));
		await expectProblem(await putAvatar(token, polyglot, "image/gif"), 415, "unsupported_image_type");
		expect(await keysUnder(`users/${userId}/`)).toEqual([]);
	});

	it("stores each user's avatar under their own key only", async () => {
		const alice = await signedInUser();
		const bob = await signedInUser();
		await avatarUrl(await putAvatar(alice.token, fixture("tiny.png")));
		await avatarUrl(await putAvatar(bob.token, fixture("tiny.gif"), "image/gif"));
		await send("DELETE", "/v1/me/avatar", { token: bob.token });
		const stillThere = await api(`/v1/users/${alice.userId}/avatar`);
		expect(stillThere.status).toBe(200);
		expect(await env.IMAGES.head(`users/${alice.userId}/avatar`)).not.toBeNull();
		expect(await env.IMAGES.head(`users/${bob.userId}/avatar`)).toBeNull();
	});
});
