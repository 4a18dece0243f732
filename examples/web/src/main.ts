import { atrium } from "./atrium";
import { banner, describe, h } from "./ui";
import { accountPage } from "./views/account";
import { galleryPage } from "./views/gallery";
import { callbackPage, signInPage } from "./views/sign-in";

const root = document.getElementById("app") as HTMLElement;
const nav = document.getElementById("nav") as HTMLElement;

/** Client-side navigation: the URL changes and the page renders without a reload. */
function navigate(path: string): void {
	history.pushState(null, "", path);
	void render();
}

function link(label: string, path: string): HTMLAnchorElement {
	const anchor = h("a", { href: path }, label);
	anchor.addEventListener("click", (event) => {
		event.preventDefault();
		navigate(path);
	});
	return anchor;
}

/** What a mailed link's "continue" button brings back: `/?status=confirmed` or `password_reset`. */
function announceStatus(): void {
	const status = new URLSearchParams(location.search).get("status");
	if (status === "confirmed") banner("Your email address is confirmed. You can sign in now.");
	if (status === "password_reset") banner("Your password was reset. Sign in with the new one.");
}

async function render(): Promise<void> {
	const signedIn = (await atrium.tokens()) !== null;
	const path = location.pathname;
	try {
		if (path === "/callback") return await callbackPage(root, navigate);
		announceStatus();
		if (!signedIn) {
			nav.replaceChildren();
			return await signInPage(root, navigate);
		}
		const signOut = h("button", { class: "link" }, "Sign out");
		signOut.addEventListener("click", async () => {
			await atrium.auth.signOut().catch(() => {});
			navigate("/");
		});
		nav.replaceChildren(link("Gallery", "/"), link("Account", "/settings"), signOut);
		if (path === "/settings") return await accountPage(root);
		return await galleryPage(root);
	} catch (error) {
		banner(describe(error), "error");
	}
}

window.addEventListener("popstate", () => void render());
// The server ended the session (signed out elsewhere, revoked): back to the sign-in page.
window.addEventListener("atrium:signed-out", () => {
	banner("Your session ended. Please sign in again.", "error");
	navigate("/");
});
void render();
