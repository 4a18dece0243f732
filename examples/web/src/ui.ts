import { isAtriumError } from "@atrium/client";

type Child = Node | string | null | undefined | false;
type Attributes = Record<string, string | boolean | undefined | ((event: Event) => void)>;

/** Creates an element: attributes (`on*` become listeners, booleans toggle) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
	tag: K,
	attributes: Attributes = {},
	...children: Child[]
): HTMLElementTagNameMap[K] {
	const element = document.createElement(tag);
	for (const [name, value] of Object.entries(attributes)) {
		if (typeof value === "function") element.addEventListener(name.slice(2).toLowerCase(), value);
		else if (value === true) element.setAttribute(name, "");
		else if (typeof value === "string") element.setAttribute(name, value);
	}
	for (const child of children) if (child) element.append(child);
	return element;
}

/** Shows a message under the header: `error` for refusals, `info` otherwise. */
export function banner(message: string, kind: "info" | "error" = "info"): void {
	const element = document.getElementById("banner");
	if (!element) return;
	element.textContent = message;
	element.className = kind;
	element.hidden = false;
}

export function clearBanner(): void {
	const element = document.getElementById("banner");
	if (element) element.hidden = true;
}

/** The server's localized sentence for a failure (its problem detail), or the error's message. */
export function describe(error: unknown): string {
	if (isAtriumError(error)) return error.problem.detail ?? error.problem.title;
	return error instanceof Error ? error.message : String(error);
}

/**
 * A form whose submit runs `action` with its fields; the button is disabled while it runs, and a
 * failure is shown in the banner instead of being lost.
 */
export function form(
	label: string,
	fields: HTMLElement[],
	action: (values: Record<string, string>, form: HTMLFormElement) => Promise<void>,
	attributes: Attributes = {},
): HTMLFormElement {
	const button = h("button", { type: "submit" }, label);
	const element = h("form", attributes, ...fields, button);
	element.addEventListener("submit", async (event) => {
		event.preventDefault();
		button.disabled = true;
		clearBanner();
		try {
			const values = Object.fromEntries(
				[...new FormData(element).entries()].map(([key, value]) => [key, String(value)]),
			);
			await action(values, element);
		} catch (error) {
			banner(describe(error), "error");
		} finally {
			button.disabled = false;
		}
	});
	return element;
}

/** A labelled input. */
export function field(label: string, name: string, type = "text", attributes: Attributes = {}): HTMLElement {
	return h("label", {}, h("span", {}, label), h("input", { name, type, required: type !== "file", ...attributes }));
}

export function section(title: string, ...children: Child[]): HTMLElement {
	return h("section", { class: "card", "aria-label": title }, h("h2", {}, title), ...children);
}
