#!/usr/bin/env node
// `npm run dev`: local D1/R2 under .wrangler/state, migrations applied first, mail on the console.
// Creates .dev.vars on first run with a random, dev-only JWT secret and encryption key (never
// committed), and adds an ENCRYPTION_KEY to an older .dev.vars that lacks one. wrangler dev runs
// with --test-scheduled, so GET /__scheduled runs the cron (outbox retries, sweeps) on demand.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { migrateLocal, root, wrangler } from "./lib/wrangler-dev.mjs";

const devVars = join(root, ".dev.vars");

if (!existsSync(devVars)) {
	writeFileSync(
		devVars,
		[
			"# Local development only (created by npm run dev; never commit this file).",
			"ENVIRONMENT=development",
			"APP_URL=http://localhost:8787",
			`JWT_SECRET=${randomBytes(48).toString("base64url")}`,
			`ENCRYPTION_KEY=${randomBytes(48).toString("base64url")}`,
			"# Leave RESEND_API_KEY unset to print mail to this console.",
			"",
		].join("\n"),
	);
	console.log("Created .dev.vars with a random dev-only JWT_SECRET and ENCRYPTION_KEY.");
} else if (!/^ENCRYPTION_KEY=/m.test(readFileSync(devVars, "utf8"))) {
	appendFileSync(devVars, `\nENCRYPTION_KEY=${randomBytes(48).toString("base64url")}\n`);
	console.log("Added a random dev-only ENCRYPTION_KEY to .dev.vars.");
}

// Non-interactive (the launcher runs wrangler in CI mode: no confirmation prompt), into .wrangler/state.
try {
	migrateLocal(undefined, { inherit: true });
} catch {
	process.exit(1);
}

// wrangler dev already prints one line per request; Atrium's structured line (production's) would
// double every request in this console. A REQUEST_LOG line in .dev.vars still decides.
const quiet = /^REQUEST_LOG=/m.test(readFileSync(devVars, "utf8")) ? [] : ["--var", "REQUEST_LOG:off"];
const dev = spawn(process.execPath, [wrangler, "dev", "--test-scheduled", ...quiet, ...process.argv.slice(2)], {
	cwd: root,
	stdio: "inherit",
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code) => process.exit(code ?? 0));
