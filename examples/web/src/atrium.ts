import { createAtriumClient, localStorageStorage } from "@atrium/client";

declare const __ATRIUM_URL__: string;

/** The API this app talks to (ATRIUM_URL at build time). */
export const ATRIUM_URL = __ATRIUM_URL__;

/** Where mailed links and providers send the browser back to. */
export const APP_HOME = `${location.origin}/`;
export const APP_CALLBACK = `${location.origin}/callback`;
export const APP_SETTINGS = `${location.origin}/settings`;

/** One client for the page; tokens survive reloads and are shared by the origin's tabs. */
export const atrium = createAtriumClient({
	baseUrl: ATRIUM_URL,
	storage: localStorageStorage("atrium-example.tokens"),
	onTokensChange: (_tokens, reason) => {
		if (reason === "session_ended") window.dispatchEvent(new Event("atrium:signed-out"));
	},
});
