#!/usr/bin/env node
// The typed client's cost to an app: bundles client/ (with openapi-fetch) for the browser,
// minified, and prints its size raw and gzipped. `npm run client:size`.
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { root } from "./lib/wrangler-dev.mjs";

const result = await build({
	stdin: { contents: 'export * from "@atrium/client";', resolveDir: root, loader: "ts" },
	bundle: true,
	minify: true,
	format: "esm",
	platform: "browser",
	write: false,
	logLevel: "warning",
});
const bytes = result.outputFiles[0].contents;
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
console.log(`@atrium/client: ${kib(bytes.length)} minified, ${kib(gzipSync(bytes, { level: 9 }).length)} gzip`);
