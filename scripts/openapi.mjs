#!/usr/bin/env node
// The served OpenAPI document, checked from outside: starts `wrangler dev` (its own port and
// state), fetches GET /openapi.json into .openapi/openapi.json, stops the server, then
//   node scripts/openapi.mjs lint    `redocly lint` with redocly.yaml (recommended rules): 0 errors
//   node scripts/openapi.mjs types   openapi-typescript -> .openapi/schema.d.ts, then `tsc` over
//                                    test/types/client.ts, a small openapi-fetch client whose
//                                    @ts-expect-error lines fail the step if the types go loose;
//                                    then checks that client/src/openapi.d.ts is the same
//                                    generation (the typed client cannot drift) and compiles client/.
//   node scripts/openapi.mjs client  regenerates client/src/openapi.d.ts from the served document.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { root, startWranglerDev } from "./lib/wrangler-dev.mjs";

process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false";
const mode = process.argv[2];
if (mode !== "lint" && mode !== "types" && mode !== "client") {
	console.error("usage: node scripts/openapi.mjs lint|types|client");
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
	const generated = join(out, "schema.d.ts");
	const committed = join(root, "client/src/openapi.d.ts");
	ok = run(bin("openapi-typescript/bin/cli.js"), [documentPath, "-o", generated]);
	if (ok && mode === "client") {
		copyFileSync(generated, committed);
		console.log(`client types written to ${committed}`);
	} else if (ok) {
		ok =
			run(bin("typescript/bin/tsc"), ["-p", join(root, "test/types/tsconfig.json")]) &&
			sameClientTypes(generated, committed);
	}
}

/** The committed client types must be exactly what the served document generates. */
function sameClientTypes(generated, committed) {
	if (readFileSync(generated, "utf8") === readFileSync(committed, "utf8")) return true;
	console.error(`${committed} is out of date with the served document: run \`npm run client:generate\`.`);
	return false;
}
process.exit(ok ? 0 : 1);
