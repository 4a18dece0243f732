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

/** One image: rendered straight from its signed `content_url`, with rename, replace and delete. */
function card(image: Image, refresh: () => Promise<void>): HTMLElement {
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
		h("img", { src: image.content_url, alt: image.filename ?? "image", loading: "lazy" }),
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
		const tiles = page.images.map((image) => card(image, () => load(true)));
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
