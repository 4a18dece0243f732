import { type Image, ok } from "@atrium/client";
import { atrium } from "../atrium";
import { banner, describe, h, section } from "../ui";

/** A file picker that runs `action` with the chosen files, reporting failures in the banner. */
function picker(label: string, multiple: boolean, action: (files: File[]) => Promise<void>): HTMLElement {
	const input = h("input", { type: "file", accept: "image/*", multiple, "aria-label": label });
	input.addEventListener("change", async () => {
		const files = [...(input.files ?? [])];
		input.value = "";
		try {
			await action(files);
		} catch (error) {
			banner(describe(error), "error");
		}
	});
	return h("label", { class: "button" }, label, input);
}

function formatSize(bytes: number): string {
	return bytes < 1024 * 1024 ? `${Math.ceil(bytes / 1024)} KB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/**
 * A signed link to a 480-pixel WebP thumbnail (an image variant made at the edge), or the original's
 * `content_url` when the variant cannot be had.
 */
async function thumbnailUrl(image: Image): Promise<string> {
	const link = await atrium.api.POST("/v1/images/{id}/links", {
		params: { path: { id: image.id } },
		body: { w: 480, h: 360, fit: "cover", format: "webp", expires_in: 3600 },
	});
	return link.data?.url ?? image.content_url;
}

/** One image: a thumbnail from a signed variant link, with rename, replace and delete. */
function card(image: Image, thumbnail: string, refresh: () => Promise<void>): HTMLElement {
	const name = h("input", { value: image.filename ?? "", "aria-label": "File name" });
	const rename = h("button", { class: "secondary" }, "Rename");
	rename.addEventListener("click", async () => {
		await ok(
			atrium.api.PATCH("/v1/images/{id}", { params: { path: { id: image.id } }, body: { filename: name.value } }),
		)
			.then(refresh)
			.catch((error) => banner(describe(error), "error"));
	});
	const remove = h("button", { class: "danger" }, "Delete");
	remove.addEventListener("click", async () => {
		await ok(atrium.api.DELETE("/v1/images/{id}", { params: { path: { id: image.id } } }))
			.then(refresh)
			.catch((error) => banner(describe(error), "error"));
	});
	const replace = picker("Replace", false, async ([file]) => {
		if (!file) return;
		await atrium.images.replace(image.id, file, { ifMatch: image.etag });
		await refresh();
	});
	return h(
		"figure",
		{ class: "tile", "data-image-id": image.id },
		h(
			"a",
			{ href: image.content_url, target: "_blank", rel: "noopener" },
			h("img", { src: thumbnail, alt: image.filename, loading: "lazy" }),
		),
		h("figcaption", {}, name, h("small", {}, `${image.content_type} · ${formatSize(image.size)}`)),
		h("div", { class: "actions" }, rename, replace, remove),
	);
}

/** The signed-in home: the user's images, newest first, and an upload button. */
export async function galleryPage(root: HTMLElement): Promise<void> {
	const grid = h("div", { class: "grid", id: "gallery" });
	const more = h("button", { class: "secondary", hidden: true }, "Load more");
	let cursor: string | null = null;

	async function load(reset: boolean): Promise<void> {
		if (reset) cursor = null;
		const query = cursor ? { limit: 24, cursor } : { limit: 24 };
		const page = await ok(atrium.api.GET("/v1/images", { params: { query } }));
		const thumbnails = await Promise.all(page.images.map(thumbnailUrl));
		const tiles = page.images.map((image, i) => card(image, thumbnails[i] ?? image.content_url, () => load(true)));
		if (reset) grid.replaceChildren(...tiles);
		else grid.append(...tiles);
		if (reset && page.images.length === 0)
			grid.append(h("p", { class: "empty" }, "No images yet. Upload your first one."));
		cursor = page.next_cursor;
		more.hidden = !cursor;
	}
	more.addEventListener("click", () => load(false).catch((error) => banner(describe(error), "error")));
	const upload = picker("Upload images", true, async (files) => {
		for (const file of files) await atrium.images.upload(file);
		banner(files.length === 1 ? "Uploaded 1 image." : `Uploaded ${files.length} images.`);
		await load(true);
	});
	root.replaceChildren(section("Your images", h("div", { class: "toolbar" }, upload), grid, more));
	await load(true);
}
