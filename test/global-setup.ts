import { execFileSync } from "node:child_process";

/** Regenerates the locale bundle, exactly as wrangler's build command does for dev and deploy. */
export default function setup() {
	execFileSync(process.execPath, ["scripts/i18n-bundle.mjs"], { stdio: "inherit" });
}
