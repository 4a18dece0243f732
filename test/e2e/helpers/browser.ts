import { type Browser, chromium } from "playwright-core";

/** Debian's Chromium (apt-get install chromium); playwright never downloads a browser here. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/**
 * Launches headless Chromium with the flags this machine's closed network needs; playwright gives
 * every launch a new, empty profile directory of its own. `extraArgs` adds flags for one test.
 */
export function launchChromium(extraArgs: string[] = []): Promise<Browser> {
	return chromium.launch({
		executablePath: CHROMIUM_PATH,
		headless: true,
		args: [
			"--no-sandbox",
			"--disable-gpu",
			"--disable-quic",
			"--no-first-run",
			"--disable-background-networking",
			"--disable-component-update",
			"--disable-sync",
			...extraArgs,
		],
	});
}
