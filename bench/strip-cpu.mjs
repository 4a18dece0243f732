#!/usr/bin/env node
// CPU cost of metadata stripping (src/lib/image-strip.ts) per MiB, per format, on ~10 MiB files
// that carry the fixtures' metadata (test/fixtures/metadata/, made by
// scripts/make-metadata-fixtures.mjs) around synthetic image data of the realistic shape: a JPEG
// scan with byte stuffing, PNG data in 8 KiB IDAT chunks (libpng's default), one big WebP VP8L
// chunk, GIF data in 255-byte sub-blocks. The module is bundled with wrangler's esbuild and run on
// V8 in Node, the engine workerd runs; process.cpuUsage() counts the CPU time of each pass.
// AVIF is left out: its cost is zeroing the metadata items, independent of the file's size.
// Usage: node bench/strip-cpu.mjs [rounds=15]
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const esbuild = createRequire(require.resolve("wrangler/package.json"))("esbuild");
const rounds = Number(process.argv[2] ?? 15);
const MIB = 1024 * 1024;
const TARGET = 10 * MIB - 64 * 1024;

const bundled = await esbuild.build({
	entryPoints: [join(root, "src/lib/image-strip.ts")],
	bundle: true,
	format: "esm",
	write: false,
	platform: "neutral",
});
const { stripMetadata } = await import(
	`data:text/javascript;base64,${Buffer.from(bundled.outputFiles[0].text).toString("base64")}`
);

const fixture = (name) => readFileSync(join(root, "test/fixtures/metadata", name));

/** Random entropy-coded data: every 0xFF is followed by a stuffed 0x00, as an encoder writes it. */
function scanData(size) {
	const random = randomBytes(size);
	const out = Buffer.alloc(size * 2);
	let n = 0;
	for (const byte of random) {
		out[n++] = byte;
		if (byte === 0xff) out[n++] = 0;
		if (n >= size) break;
	}
	return out.subarray(0, n);
}

function bigJpeg() {
	const small = fixture("photo.jpg");
	// Up to and including the SOS segment; then a 10 MiB scan and EOI.
	let at = 2;
	while (!(small[at] === 0xff && small[at + 1] === 0xda)) at += 2 + small.readUInt16BE(at + 2);
	const sosEnd = at + 2 + small.readUInt16BE(at + 2);
	const head = small.subarray(0, sosEnd);
	return Buffer.concat([head, scanData(TARGET - head.length - 2), Buffer.from([0xff, 0xd9])]);
}

function bigPng() {
	const small = fixture("photo.png");
	const chunks = [];
	let at = 8;
	while (at < small.length) {
		const end = at + 12 + small.readUInt32BE(at);
		chunks.push({ type: small.toString("latin1", at + 4, at + 8), bytes: small.subarray(at, end) });
		at = end;
	}
	const before = chunks.filter((_c, i) => i < chunks.findIndex((d) => d.type === "IDAT"));
	const after = chunks.filter((c) => c.type !== "IDAT" && !before.includes(c));
	const parts = [small.subarray(0, 8), ...before.map((c) => c.bytes)];
	let size = parts.reduce((n, p) => n + p.length, 0) + after.reduce((n, c) => n + c.bytes.length, 0);
	while (size + 8192 + 12 <= TARGET) {
		const idat = Buffer.alloc(8192 + 12);
		idat.writeUInt32BE(8192, 0);
		idat.write("IDAT", 4, "latin1");
		randomBytes(8192).copy(idat, 8);
		parts.push(idat);
		size += idat.length;
	}
	return Buffer.concat([...parts, ...after.map((c) => c.bytes)]);
}

function bigWebp() {
	const small = fixture("photo.webp");
	const parts = [];
	let at = 12;
	while (at < small.length) {
		const size = small.readUInt32LE(at + 4);
		const end = at + 8 + size + (size & 1);
		const type = small.toString("latin1", at, at + 4);
		if (type === "VP8L") {
			const data = randomBytes(TARGET - small.length);
			const header = Buffer.alloc(8);
			header.write("VP8L", 0, "latin1");
			header.writeUInt32LE(data.length, 4);
			parts.push(header, data, Buffer.alloc(data.length & 1));
		} else parts.push(small.subarray(at, end));
		at = end;
	}
	const body = Buffer.concat(parts);
	const riff = Buffer.alloc(12);
	riff.write("RIFF", 0, "latin1");
	riff.writeUInt32LE(body.length + 4, 4);
	riff.write("WEBP", 8, "latin1");
	return Buffer.concat([riff, body]);
}

function bigGif() {
	const small = fixture("photo.gif");
	const flags = small[10];
	const start = 13 + (flags & 0x80 ? 3 * 2 ** ((flags & 7) + 1) : 0);
	// The fixture's comment and XMP extensions, then one frame with ~10 MiB of sub-blocks.
	const descriptor = Buffer.from([0x2c, 0, 0, 0, 0, 24, 0, 16, 0, 0, 8]);
	const blocks = [];
	let size = 0;
	while (size + 256 < TARGET - 4096) {
		blocks.push(Buffer.from([255]), randomBytes(255));
		size += 256;
	}
	const firstBlock = small.indexOf(Buffer.from([0x21, 0xf9]), start);
	return Buffer.concat([small.subarray(0, firstBlock), descriptor, ...blocks, Buffer.from([0, 0x3b])]);
}

const results = {};
for (const [name, type, bytes] of [
	["jpeg", "image/jpeg", bigJpeg()],
	["png", "image/png", bigPng()],
	["webp", "image/webp", bigWebp()],
	["gif", "image/gif", bigGif()],
]) {
	const times = [];
	let stripped = 0;
	for (let i = 0; i < rounds + 2; i++) {
		// A fresh copy each pass (the WebP path writes its VP8X flags in place), not timed.
		const copy = new Uint8Array(bytes);
		const before = process.cpuUsage();
		const result = stripMetadata(type, copy);
		const used = process.cpuUsage(before);
		if (!result) throw new Error(`${name}: did not parse`);
		stripped = result.length;
		if (i >= 2) times.push((used.user + used.system) / 1000);
	}
	times.sort((a, b) => a - b);
	const median = times[Math.floor(times.length / 2)];
	results[name] = {
		size_mib: Math.round((bytes.length / MIB) * 100) / 100,
		removed_bytes: bytes.length - stripped,
		median_cpu_ms: Math.round(median * 100) / 100,
		cpu_ms_per_mib: Math.round((median / (bytes.length / MIB)) * 1000) / 1000,
	};
}
console.log(JSON.stringify({ rounds, node: process.versions.node, v8: process.versions.v8, results }, null, 2));
