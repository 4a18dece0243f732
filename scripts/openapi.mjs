#!/usr/bin/env node
// The served OpenAPI document, checked from outside: starts `wrangler dev` (its own port and
// state), fetches GET /openapi.json into .openapi/openapi.json, stops the server, then
//   node scripts/openapi.mjs lint    `redocly lint` with redocly.yaml (recommended rules): 0 errors
//   node scripts/openapi.mjs types   openapi-typescript -> .openapi/schema.d.ts, then `tsc` over
//                                    test/types/client.ts, a small openapi-fetch client whose
//                                    @ts-expect-error lines fail the step if the types go loose.
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { root, startWranglerDev } from "./lib/wrangler-dev.mjs";

process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false";
const mode = process.argv[2];
if (mode !== "lint" && mode !== "types") {
	console.error("usage: node scripts/openapi.mjs lint|types");
	process.exit(2);
}

const out = join(root, ".openapi");
const documentPath = join(out, "openapi.json");
const bin = (path) => join(root, "node_modules", path);

/** Runs a Node CLI of a dependency; true when it exits 0. */
function run(cli, args) {
	const result = spawnSync(process.execPath, [cli, ...args], { cwd: root, stdio: "inherit" });
	return result.status === 0;
}

const server = await startWranglerDev();
try {
	const res = await fetch(`${server.url}/openapi.json`);
	if (!res.ok) throw new Error(`GET /openapi.json answered ${res.status}`);
	mkdirSync(out, { recursive: true });
	writeFileSync(documentPath, JSON.stringify(await res.json(), null, 2));
	console.log(`served document written to ${documentPath}`);
} finally {
	await server.stop();
}

let ok;
if (mode === "lint") {
	ok = run(bin("@redocly/cli/bin/cli.js"), ["lint", documentPath, "--config", join(root, "redocly.yaml")]);
} else {
	ok =
		run(bin("openapi-typescript/bin/cli.js"), [documentPath, "-o", join(out, "schema.d.ts")]) &&
		run(bin("typescript/bin/tsc"), ["-p", join(root, "test/types/tsconfig.json")]);
}
process.exit(ok ? 0 : 1);
