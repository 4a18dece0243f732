#!/usr/bin/env node
// Times a 10 MiB image upload (raw with Content-Length, multipart, chunked) and download (whole and
// one range) against `wrangler dev`, and samples the resident memory of the workerd process while
// each request runs. Usage: node bench/upload-10mib.mjs [rounds=3]
//
// It starts its own `wrangler dev` on a free port with a throw-away state folder, signs up through
// the API (the confirmation link is read from the console mail transport) and removes everything
// it created when done. MAX_IMAGE_BYTES keeps wrangler.toml's 10 MiB. Each scenario runs in a fresh
// workerd, after a small warm-up request; "floor_bare_r2_put" is bench/baseline/worker.ts putting the
// request body straight into R2, the least any upload can cost on this runtime.
import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, migrateLocal, root, startWranglerDev } from "../scripts/lib/wrangler-dev.mjs";

const rounds = Number(process.argv[2] ?? 3);
// BENCH_ONLY=upload_raw_content_length,floor_bare_r2_put runs just those scenarios; the variant
// scenarios (variant_first_request, variant_cached, variant_original_download) need sharp.
const only = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(",")) : null;
const SIZE = 10 * 1024 * 1024;

const state = mkdtempSync(join(tmpdir(), "atrium-bench-"));
// wrangler dev rebuilds (and restarts the Worker mid-request) whenever src/ changes, so it runs on
// a snapshot of the project instead of the working tree.
const project = join(state, "project");
for (const entry of [
	"src",
	"locales",
	"drizzle",
	"scripts",
	"bench/baseline",
	"wrangler.toml",
	"package.json",
	"tsconfig.json",
]) {
	cpSync(join(root, entry), join(project, entry), { recursive: true });
}
symlinkSync(join(root, "node_modules"), join(project, "node_modules"));
const port = await freePort();
const base = `http://127.0.0.1:${port}`;

migrateLocal(join(state, "data"), { cwd: project });

const vars = {
	ENVIRONMENT: "development",
	APP_URL: base,
	JWT_SECRET: randomBytes(48).toString("base64url"),
};
/** The running `wrangler dev` (scripts/lib/wrangler-dev.mjs), one per scenario. */
let server;

/**
 * Starts a fresh `wrangler dev` on the shared state, so each scenario's memory is measured in a
 * process that no earlier scenario has grown.
 */
async function startDev(script = "src/index.ts", extraVars = {}) {
	server = await startWranglerDev(
		{ ...vars, ...extraVars },
		{
			cwd: project,
			state: join(state, "data"),
			port,
			script,
			ready: script === "src/index.ts" ? "/health" : "/json",
		},
	);
	return workerdProcesses(server.pid);
}

async function stopDev() {
	await server?.stop();
	server = undefined;
}

const results = { size_bytes: SIZE, rounds };
try {
	await startDev();
	const token = await signUp();
	await stopDev();
	const auth = { Authorization: `Bearer ${token}` };
	const body = pngHeaded(SIZE, 4000, 2500);
	let imageId = "";

	const expectStatus = async (res, status) => {
		if (res.status !== status) throw new Error(`${res.status}: ${await res.text()}`);
		return res;
	};
	const upload = async (init) => {
		const res = await expectStatus(await fetch(`${base}/v1/images?filename=big.png`, { method: "POST", ...init }), 201);
		const image = await res.json();
		// A JPEG with metadata is stored stripped: smaller than sent, by its metadata.
		const sizeOk = init.strippedFrom ? image.size < init.strippedFrom : image.size === init.expectedSize;
		if (!sizeOk) throw new Error(`stored ${image.size} bytes`);
		if (imageId) await fetch(`${base}/v1/images/${imageId}`, { method: "DELETE", headers: auth });
		imageId = image.id;
	};
	const raw = (bytes) => ({
		headers: { ...auth, "Content-Type": "image/png" },
		body: bytes,
		expectedSize: bytes.byteLength,
	});
	const multipart = (bytes) => {
		const form = new FormData();
		form.append("image", new Blob([bytes], { type: "image/png" }), "big.png");
		return { headers: auth, body: form, expectedSize: bytes.byteLength };
	};
	const chunkedRaw = (bytes) => ({ ...raw(bytes), body: chunked(bytes), duplex: "half" });

	/** Runs one scenario in a fresh workerd: a small warm-up, then `rounds` timed runs. */
	const scenario = async (name, warmUp, run, script, extraVars) => {
		if (only && !only.has(name)) return;
		const pids = await startDev(script, extraVars);
		await warmUp();
		const idle = totalRss(pids);
		const samples = [];
		for (let i = 0; i < rounds; i++) samples.push(await sampled(pids, run));
		await stopDev();
		samples.sort((a, b) => a.ms - b.ms);
		results[name] = {
			median_ms: Math.round(samples[Math.floor(samples.length / 2)].ms),
			min_ms: Math.round(samples[0].ms),
			idle_rss_mib: mib(idle),
			peak_rss_growth_mib: mib(Math.max(...samples.map((s) => s.peak)) - idle),
		};
	};
	const small = pngHeaded(64 * 1024, 10, 10);

	// The floor: bench/baseline/worker.ts streams the request body straight into R2, nothing else.
	const floorPut = async (bytes) => {
		const res = await fetch(`${base}/r2/floor`, {
			method: "PUT",
			headers: { "Content-Type": "image/png" },
			body: bytes,
		});
		await expectStatus(res, 201);
	};
	await scenario(
		"floor_bare_r2_put",
		() => floorPut(small),
		() => floorPut(body),
		"bench/baseline/worker.ts",
	);

	for (const [name, make] of [
		["upload_raw_content_length", raw],
		["upload_multipart", multipart],
		["upload_chunked_no_length", chunkedRaw],
	]) {
		await scenario(
			name,
			() => upload(make(small)),
			() => upload(make(body)),
		);
	}
	// A 10 MiB JPEG carrying the metadata fixture's EXIF (GPS), XMP, IPTC, comment and trailer,
	// stored stripped (the whole upload held once in memory) and, for comparison, with
	// STRIP_METADATA=off (streamed straight into R2).
	const jpeg = jpegWithMetadata(SIZE);
	const jpegRaw = (bytes) => ({
		headers: { ...auth, "Content-Type": "image/jpeg" },
		body: bytes,
		strippedFrom: bytes === jpeg ? bytes.byteLength : 0,
		expectedSize: bytes.byteLength,
	});
	const smallJpeg = jpegWithMetadata(64 * 1024);
	await scenario(
		"upload_jpeg_metadata_stripped",
		() => upload({ ...jpegRaw(smallJpeg), strippedFrom: smallJpeg.byteLength }),
		() => upload(jpegRaw(jpeg)),
	);
	await scenario(
		"upload_jpeg_metadata_strip_off",
		() => upload(jpegRaw(smallJpeg)),
		() => upload({ ...jpegRaw(jpeg), strippedFrom: 0 }),
		undefined,
		{ STRIP_METADATA: "off" },
	);
	const download = async (headers, status, length) => {
		const res = await expectStatus(
			await fetch(`${base}/v1/images/${imageId}/content`, { headers: { ...auth, ...headers } }),
			status,
		);
		if ((await res.arrayBuffer()).byteLength !== length) throw new Error("short body");
	};
	const warmDownload = () => download({ Range: "bytes=0-9" }, 206, 10);
	await scenario("download_whole", warmDownload, () => download({}, 200, SIZE));
	await scenario("download_range_1mib", warmDownload, () =>
		download({ Range: "bytes=4194304-5242879" }, 206, 1024 * 1024),
	);
	const etag = (await (await fetch(`${base}/v1/images/${imageId}`, { headers: auth }).catch(() => null))?.json?.())
		?.etag;
	await scenario("revalidate_304", warmDownload, async () => {
		const meta = await (await fetch(`${base}/v1/images/${imageId}`, { headers: auth })).json();
		await download({ "If-None-Match": meta.etag ?? etag }, 304, 0);
	});
	// Variants of a real 2400 x 1600 JPEG (sharp-encoded here): the first request for a variant
	// (decode, resize, encode through the Images binding, simulated locally with sharp, then an R2
	// put), the same variant again (one R2 read), and the original's download for comparison.
	const variantScenarios = ["variant_first_request", "variant_cached", "variant_original_download"];
	if (!only || variantScenarios.some((name) => only.has(name))) {
		const { default: sharp } = await import("sharp");
		const raw = randomBytes(600 * 400 * 3);
		const photo = await sharp(raw, { raw: { width: 600, height: 400, channels: 3 } })
			.resize(2400, 1600, { kernel: "cubic" })
			.jpeg({ quality: 85 })
			.toBuffer();
		await startDev();
		const res = await fetch(`${base}/v1/images?filename=photo.jpg`, {
			method: "POST",
			headers: { ...auth, "Content-Type": "image/jpeg" },
			body: photo,
		});
		const photoId = (await expectStatus(res, 201).then((r) => r.json())).id;
		await stopDev();
		results.variant_photo = { width: 2400, height: 1600, bytes: photo.byteLength };
		let width = 300;
		const variant = async (w) => {
			const answer = await expectStatus(
				await fetch(`${base}/v1/images/${photoId}/content?w=${w}&format=webp`, { headers: auth }),
				200,
			);
			await answer.arrayBuffer();
		};
		// A new width each time: every timed request makes a variant (fewer than 16 per scenario).
		await scenario(
			"variant_first_request",
			() => variant(width++),
			() => variant(width++),
		);
		await scenario(
			"variant_cached",
			() => variant(320),
			() => variant(320),
		);
		await scenario(
			"variant_original_download",
			() => variant(320),
			async () => {
				const answer = await fetch(`${base}/v1/images/${photoId}/content`, { headers: auth });
				await (await expectStatus(answer, 200)).arrayBuffer();
			},
		);
	}
	console.log(JSON.stringify(results, null, 2));
} finally {
	await stopDev();
	rmSync(state, { recursive: true, force: true });
}

async function signUp() {
	const email = `bench-${Date.now()}@example.com`;
	const password = "correct horse battery staple";
	const json = { "Content-Type": "application/json" };
	await fetch(`${base}/v1/auth/register`, { method: "POST", headers: json, body: JSON.stringify({ email, password }) });
	const link = /\/v1\/auth\/confirm\?token=([A-Za-z0-9_-]+)/;
	await waitFor(() => link.test(server.output()), 30_000, "the confirmation mail on the console");
	const confirmToken = link.exec(server.output())?.[1];
	await fetch(`${base}/v1/auth/confirm`, {
		method: "POST",
		headers: json,
		body: JSON.stringify({ token: confirmToken }),
	});
	const login = await fetch(`${base}/v1/auth/login`, {
		method: "POST",
		headers: json,
		body: JSON.stringify({ email, password }),
	});
	if (login.status !== 200) throw new Error(`login failed: ${login.status} ${await login.text()}`);
	return (await login.json()).access_token;
}

/** A PNG signature and IHDR for width x height, padded to `size` bytes (the server reads headers only). */
function pngHeaded(size, width, height) {
	const bytes = new Uint8Array(size);
	for (let i = 0; i < size; i += 4096) bytes[i] = i & 0xff;
	const ihdr = Buffer.alloc(17);
	ihdr.write("IHDR", 0, "latin1");
	ihdr.writeUInt32BE(width, 4);
	ihdr.writeUInt32BE(height, 8);
	ihdr.set([8, 2, 0, 0, 0], 12);
	const head = Buffer.concat([
		Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]),
		ihdr,
		Buffer.alloc(4),
	]);
	head.writeUInt32BE(crc32(ihdr), 29);
	bytes.set(head);
	// One IDAT chunk over the rest: uploads must hold image data (src/lib/image-structure.ts).
	const idat = Buffer.alloc(8);
	idat.writeUInt32BE(size - head.length - 12, 0);
	idat.write("IDAT", 4, "latin1");
	bytes.set(idat, head.length);
	return bytes;
}

/**
 * test/fixtures/metadata/photo.jpg's segments up to its scan (JFIF, EXIF with GPS, XMP, IPTC,
 * comment, ICC, tables, SOS), then random entropy-coded data (0xFF stuffed) to `size` bytes, then EOI.
 */
function jpegWithMetadata(size) {
	const small = readFileSync(join(root, "test/fixtures/metadata/photo.jpg"));
	let at = 2;
	while (!(small[at] === 0xff && small[at + 1] === 0xda)) at += 2 + small.readUInt16BE(at + 2);
	const head = small.subarray(0, at + 2 + small.readUInt16BE(at + 2));
	const scan = randomBytes(size - head.length - 2);
	// Stuffing as an encoder writes it: no 0xFF is followed by anything but 0x00.
	for (let i = 0; i < scan.length - 1; i++) if (scan[i] === 0xff) scan[i + 1] = 0;
	scan[scan.length - 1] = 0;
	return new Uint8Array(Buffer.concat([head, scan, Buffer.from([0xff, 0xd9])]));
}

function crc32(data) {
	let crc = 0xffffffff;
	for (const b of data) {
		crc ^= b;
		for (let k = 0; k < 8; k++) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
	}
	return (crc ^ 0xffffffff) >>> 0;
}

function chunked(bytes, chunkSize = 64 * 1024) {
	let offset = 0;
	return new ReadableStream({
		pull(controller) {
			if (offset >= bytes.byteLength) return controller.close();
			controller.enqueue(bytes.subarray(offset, offset + chunkSize));
			offset += chunkSize;
		},
	});
}

/** Runs `run` while sampling the workerd processes' resident set size every 5 ms. */
async function sampled(pids, run) {
	let peak = totalRss(pids);
	const timer = setInterval(() => {
		peak = Math.max(peak, totalRss(pids));
	}, 5);
	const start = performance.now();
	await run();
	const ms = performance.now() - start;
	clearInterval(timer);
	peak = Math.max(peak, totalRss(pids));
	return { ms, peak };
}

function totalRss(pids) {
	let total = 0;
	for (const pid of pids) {
		try {
			const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
			total += Number(match?.[1] ?? 0) * 1024;
		} catch {}
	}
	return total;
}

function mib(bytes) {
	return Math.round((bytes / (1024 * 1024)) * 10) / 10;
}

/** The workerd processes wrangler started (descendants of `parent`). */
function workerdProcesses(parent) {
	const children = new Map();
	for (const entry of readdirSync("/proc")) {
		if (!/^\d+$/.test(entry)) continue;
		try {
			const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
			const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
			const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
			children.set(Number(entry), { ppid, name });
		} catch {}
	}
	const found = [];
	const queue = [parent];
	while (queue.length > 0) {
		const pid = queue.shift();
		for (const [child, info] of children) {
			if (info.ppid !== pid) continue;
			if (info.name === "workerd") found.push(child);
			queue.push(child);
		}
	}
	if (found.length === 0) throw new Error("workerd process not found");
	return found;
}

async function waitFor(check, timeoutMs, what) {
	const end = Date.now() + timeoutMs;
	while (!check()) {
		if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${server?.output().slice(-2000) ?? ""}`);
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
}
