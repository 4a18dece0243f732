import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { PASSWORD, api, expectProblem, send, signedInUser } from "../helpers/api";
import { type ImageJson, keysUnder, pngOf, postRaw, sha256Hex, uploadImage } from "../helpers/images";

type User = Awaited<ReturnType<typeof signedInUser>>;

let owner: User;
let intruder: User;
let image: ImageJson;
let original: string;

beforeEach(async () => {
	owner = await signedInUser();
	intruder = await signedInUser();
	image = await uploadImage(owner.token, pngOf(6, 4), "private.png");
	original = await sha256Hex(
		await (await send("GET", `/v1/images/${image.id}/content`, { token: owner.token })).arrayBuffer(),
	);
});

/** The owner's image is exactly as it was: metadata, bytes and object. */
async function expectUntouched() {
	const meta = await send("GET", `/v1/images/${image.id}`, { token: owner.token });
	expect(meta.status).toBe(200);
	expect(await meta.json()).toEqual(image);
	const bytes = await (await send("GET", `/v1/images/${image.id}/content`, { token: owner.token })).arrayBuffer();
	expect(await sha256Hex(bytes)).toBe(original);
	expect(await keysUnder(`users/${owner.userId}/images/`)).toEqual([`users/${owner.userId}/images/${image.id}`]);
}

describe("image routes with another user's image id", () => {
	it.each<[string, string, (id: string, token: string) => Promise<Response>]>([
		["GET", "/v1/images/:id", (id, token) => send("GET", `/v1/images/${id}`, { token })],
		["GET", "/v1/images/:id/content", (id, token) => send("GET", `/v1/images/${id}/content`, { token })],
		[
			"GET",
			"/v1/images/:id/content (Range)",
			(id, token) => send("GET", `/v1/images/${id}/content`, { token, headers: { Range: "bytes=0-3" } }),
		],
		[
			"PUT",
			"/v1/images/:id/content",
			(id, token) => postRaw(token, pngOf(2, 2), { method: "PUT", path: `/v1/images/${id}/content` }),
		],
		[
			"PUT",
			"/v1/images/:id/content (If-Match)",
			(id, token) =>
				postRaw(token, pngOf(2, 2), {
					method: "PUT",
					path: `/v1/images/${id}/content`,
					headers: { "If-Match": image.etag },
				}),
		],
		[
			"PATCH",
			"/v1/images/:id",
			(id, token) => send("PATCH", `/v1/images/${id}`, { token, body: { filename: "mine-now.png" } }),
		],
		["DELETE", "/v1/images/:id", (id, token) => send("DELETE", `/v1/images/${id}`, { token })],
	])("%s %s answers 404 image_not_found, like a missing id, and changes nothing", async (_method, _path, call) => {
		const foreign = await call(image.id, intruder.token);
		const missing = await call("doesnotexist000000000000", intruder.token);
		const foreignBody = await expectProblem(foreign, 404, "image_not_found");
		const missingBody = await expectProblem(missing, 404, "image_not_found");
		expect(foreignBody).toEqual(missingBody);
		await expectUntouched();
	});

	it("listings never include another user's images, whatever the cursor", async () => {
		const own = await uploadImage(intruder.token, pngOf(2, 2));
		const listed = (await (await send("GET", "/v1/images?limit=100", { token: intruder.token })).json()) as {
			images: ImageJson[];
		};
		expect(listed.images.map((item) => item.id)).toEqual([own.id]);
		// A cursor made from the owner's listing only pages through the intruder's own images.
		const ownerPage = (await (await send("GET", "/v1/images?limit=1", { token: owner.token })).json()) as {
			next_cursor: string | null;
		};
		await uploadImage(owner.token, pngOf(2, 3));
		const firstPage = (await (await send("GET", "/v1/images?limit=1", { token: owner.token })).json()) as {
			next_cursor: string | null;
		};
		for (const cursor of [ownerPage.next_cursor, firstPage.next_cursor].filter(Boolean)) {
			const res = await send("GET", `/v1/images?limit=100&cursor=${cursor}`, { token: intruder.token });
			const page = (await res.json()) as { images: ImageJson[] };
			for (const item of page.images) expect(item.id).toBe(own.id);
		}
	});

	it("path tricks in the id reach nothing", async () => {
		const tricks = [
			`..%2F..%2F${owner.userId}%2Fimages%2F${image.id}`,
			`%2E%2E%2F${image.id}`,
			`${image.id}%00`,
			`${image.id.toUpperCase()}`,
			`${image.id}%20`,
		];
		for (const id of tricks) {
			const res = await api(`/v1/images/${id}/content`, { headers: { Authorization: `Bearer ${intruder.token}` } });
			expect(res.status).toBe(404);
		}
		await expectUntouched();
	});

	it("the owner's image is unreachable without a token, or with the owner's token after logout", async () => {
		await expectProblem(await send("GET", `/v1/images/${image.id}/content`), 401, "unauthorized");
		expect((await send("POST", "/v1/auth/logout", { token: owner.token })).status).toBe(204);
		await expectProblem(await send("GET", `/v1/images/${image.id}`, { token: owner.token }), 401, "unauthorized");
	});
});

describe("account routes with another user's ids and tokens", () => {
	it("avatars: the public URL serves only avatars, never images, and /v1/me/avatar only touches the caller", async () => {
		await expectProblem(await send("GET", `/v1/users/${owner.userId}/avatar`), 404, "avatar_not_found");
		expect((await postRaw(owner.token, pngOf(3, 3), { method: "PUT", path: "/v1/me/avatar" })).status).toBe(200);
		expect((await send("GET", `/v1/users/${owner.userId}/avatar`)).status).toBe(200);
		// The intruder deleting "their" avatar does not touch the owner's.
		await expectProblem(await send("DELETE", "/v1/me/avatar", { token: intruder.token }), 404, "avatar_not_found");
		expect((await send("GET", `/v1/users/${owner.userId}/avatar`)).status).toBe(200);
		expect(await keysUnder(`users/${owner.userId}/avatar`)).toHaveLength(1);
	});

	it("linked accounts: listing and unlinking only ever see the caller's links", async () => {
		await env.DB.prepare(
			"insert into oauth_accounts (provider, provider_user_id, user_id, email) values ('github', ?, ?, ?)",
		)
			.bind(`gh-${owner.userId}`, owner.userId, owner.email)
			.run();
		const listed = (await (await send("GET", "/v1/me/accounts", { token: intruder.token })).json()) as {
			accounts: unknown[];
		};
		expect(listed.accounts).toEqual([]);
		const res = await send("DELETE", "/v1/me/accounts/github", { token: intruder.token });
		expect(res.status).toBe(404);
		const links = await env.DB.prepare("select count(*) as n from oauth_accounts where user_id = ?")
			.bind(owner.userId)
			.first<{ n: number }>();
		expect(links?.n).toBe(1);
	});

	it("activity and export of the caller only", async () => {
		const activity = await (await send("GET", "/v1/me/activity?limit=100", { token: intruder.token })).text();
		const exported = await (await send("GET", "/v1/me/export", { token: intruder.token })).text();
		for (const text of [activity, exported]) {
			expect(text).not.toContain(owner.userId);
			expect(text).not.toContain(owner.email);
			expect(text).not.toContain(image.id);
		}
	});

	it("session tokens: the intruder's logout-all leaves the owner signed in; a refresh token only ever yields its own user", async () => {
		expect((await send("POST", "/v1/auth/logout-all", { token: intruder.token })).status).toBe(204);
		expect((await send("GET", "/v1/me", { token: owner.token })).status).toBe(200);
		const { tokens } = await signedInUser();
		// Another user's refresh token cannot be spent against this account: it only ever yields its own user.
		const refreshed = await send("POST", "/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } });
		const body = (await refreshed.json()) as { user: { id: string } };
		expect(body.user.id).not.toBe(owner.userId);
		expect((await send("POST", "/v1/auth/login", { body: { email: owner.email, password: PASSWORD } })).status).toBe(
			200,
		);
	});

	it("account deletion with the intruder's fresh token deletes the intruder only", async () => {
		expect((await send("DELETE", "/v1/me", { token: intruder.token })).status).toBe(204);
		await expectUntouched();
		expect((await send("GET", "/v1/me", { token: owner.token })).status).toBe(200);
	});
});
