// The Workers of a bench run, side by side on local workerd through the project's one launcher
// (scripts/lib/wrangler-dev.mjs startWorkerInProcess): Atrium, a second Atrium hashing with Better
// Auth's scrypt parameters, the bare baseline and the Better Auth peer. Each gets its own state
// folder, and the bench learns which workerd process runs it (for CPU from /proc).
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { root, runWrangler, startWorkerInProcess } from "../../scripts/lib/wrangler-dev.mjs";
import { listenerPid, ticksOf, ticksToMs, workerdChildren } from "./cpu.mjs";
import { call, sleep } from "./http.mjs";
import { BETTER_AUTH_SCRYPT_VAR, EXTRA_VARS, KIB, LOG_LEVEL, MIB } from "./settings.mjs";

/** What the bench runs: config, variables, the path that answers once it is up, its D1 database. */
export function workerSpecs() {
	// The bench logs in and uploads far more often than any person; abuse limits would answer 429.
	const limits = Object.fromEntries(
		[
			"RATE_LIMIT_LOGIN_ACCOUNT",
			"RATE_LIMIT_LOGIN_IP",
			"RATE_LIMIT_REGISTER_IP",
			"RATE_LIMIT_MAIL_EMAIL",
			"RATE_LIMIT_MAIL_IP",
			"RATE_LIMIT_UPLOAD_USER",
			"RATE_LIMIT_MFA_ACCOUNT",
			"RATE_LIMIT_MFA_IP",
		].map((name) => [name, "1000000000/60"]),
	);
	const atriumVars = {
		ENVIRONMENT: "development",
		APP_URL: "http://localhost:8787",
		RESEND_API_KEY: "",
		ACCESS_TOKEN_SECONDS: "3600",
		MAX_IMAGE_BYTES: String(8 * MIB),
		QUOTA_BYTES: String(1024 * 1024 * MIB),
		QUOTA_IMAGES: "1000000",
		...limits,
		// Experiments only, e.g. BENCH_VARS='{"REQUEST_LOG":"off"}'; the published run uses none.
		...EXTRA_VARS,
	};
	const atriumSecrets = () => ({ JWT_SECRET: randomBytes(48).toString("base64url") });
	return {
		atrium: {
			label: "Atrium",
			config: path.join(root, "wrangler.toml"),
			database: "atrium",
			vars: atriumVars,
			secrets: atriumSecrets(),
			ready: "/health",
		},
		atriumEq: {
			label: `Atrium (PASSWORD_SCRYPT=${BETTER_AUTH_SCRYPT_VAR})`,
			config: path.join(root, "wrangler.toml"),
			database: "atrium",
			vars: { ...atriumVars, PASSWORD_SCRYPT: BETTER_AUTH_SCRYPT_VAR },
			secrets: atriumSecrets(),
			ready: "/health",
		},
		baseline: {
			label: "baseline",
			config: path.join(root, "bench/baseline/wrangler.toml"),
			database: null,
			// A (no-op) custom build, as for Atrium: bundled once, no esbuild watcher that could restart it.
			build: { command: "node --version" },
			ready: "/json",
		},
		betterAuth: {
			label: "Better Auth",
			config: path.join(root, "bench/peers/better-auth/wrangler.toml"),
			database: "atrium-bench-better-auth",
			build: { command: "node --version" },
			secrets: { BETTER_AUTH_SECRET: randomBytes(32).toString("base64url") },
			vars: { BETTER_AUTH_URL: "http://localhost:8787" },
			ready: "/health",
		},
	};
}

/** Applies a Worker's D1 migrations (its own wrangler.toml's) to its state folder. */
export function migrate(spec, persist) {
	if (!spec.database) return;
	runWrangler([
		"d1",
		"migrations",
		"apply",
		spec.database,
		"--local",
		"--persist-to",
		persist,
		"--config",
		spec.config,
	]);
}

/**
 * Starts the Workers one after the other and tells their workerd processes apart: wrangler's proxy
 * owns the public port, the rest runs the Worker. Startup is measured twice: the CPU the Worker's
 * workerd process spent from launch until it had answered its first request and gone quiet (its
 * D1/R2 simulators and the bundle's evaluation included), and that first request's latency.
 * Fills `workers` as they come up, so a caller can stop those already running when one fails.
 */
export async function startWorkers(specs, persistOf, quietDir, workers = {}) {
	const known = new Set(workerdChildren().map((p) => p.pid));
	for (const [id, spec] of Object.entries(specs)) {
		const { handle, url } = await startWorkerInProcess({
			config: spec.config,
			vars: spec.vars,
			secrets: spec.secrets,
			persist: persistOf(id),
			quietDir,
			build: spec.build,
			logLevel: LOG_LEVEL,
		});
		const firstStarted = performance.now();
		await call(url, "GET", spec.ready, { expect: 200 });
		const firstRequestMs = performance.now() - firstStarted;
		const fresh = (await settledWorkerd()).filter((pid) => !known.has(pid));
		for (const pid of fresh) known.add(pid);
		const processes = splitProcesses(fresh, url);
		workers[id] = {
			id,
			label: spec.label,
			handle,
			url,
			...processes,
			startup: {
				cpu_ms: processes.workerPids.reduce((sum, pid) => sum + ticksToMs(ticksOf(pid)), 0),
				first_request_ms: firstRequestMs,
			},
		};
	}
	for (const worker of Object.values(workers)) worker.others = Object.values(workers).filter((w) => w !== worker);
	return workers;
}

/** workerd children of this process once the set has stayed the same for three seconds. */
async function settledWorkerd() {
	let last = "";
	let stable = 0;
	for (let i = 0; i < 60 && stable < 3; i++) {
		await sleep(1000);
		const now = workerdChildren()
			.map((p) => p.pid)
			.sort()
			.join(",");
		stable = now === last ? stable + 1 : 0;
		last = now;
	}
	return last ? last.split(",").map(Number) : [];
}

/** Of the workerd processes one startWorker made, the proxy owns the public port; the rest run the Worker. */
function splitProcesses(pids, url) {
	const proxy = listenerPid(Number(url.port), pids);
	const worker = pids.filter((pid) => pid !== proxy);
	if (proxy === null || worker.length === 0) {
		throw new Error(`could not tell wrangler's proxy from the Worker among workerd pids ${pids.join(", ")}`);
	}
	return { proxyPid: proxy, workerPids: worker };
}

/**
 * The Worker's workerd pids, checked before each run: should wrangler have restarted the runtime,
 * the new process is the one that belongs to no other Worker and no proxy.
 */
export function currentWorkerPids(worker, note) {
	const alive = new Set(workerdChildren().map((p) => p.pid));
	if (worker.workerPids.every((pid) => alive.has(pid))) return worker.workerPids;
	const taken = new Set([worker.proxyPid, ...worker.others.flatMap((w) => [w.proxyPid, ...w.workerPids])]);
	worker.workerPids = [...alive].filter((pid) => !taken.has(pid));
	note(`     note: the ${worker.label} runtime was restarted; now measuring workerd ${worker.workerPids.join(",")}`);
	return worker.workerPids;
}

/** What `wrangler deploy --dry-run` would upload for a config: raw and gzip bytes per module. */
export function measureBundle(outdir, config = path.join(root, "wrangler.toml")) {
	const output = runWrangler(["deploy", "--dry-run", "--outdir", outdir, "--config", config]);
	const files = [];
	const walk = (dir) => {
		for (const name of readdirSync(dir)) {
			const full = path.join(dir, name);
			if (statSync(full).isDirectory()) walk(full);
			else if (!name.endsWith(".map") && !name.endsWith(".json")) files.push(full);
		}
	};
	mkdirSync(outdir, { recursive: true });
	walk(outdir);
	let raw = 0;
	let gzip = 0;
	const modules = [];
	for (const file of files) {
		const content = readFileSync(file);
		const zipped = gzipSync(content).length;
		raw += content.length;
		gzip += zipped;
		modules.push({ file: path.relative(outdir, file), bytes: content.length, gzip_bytes: zipped });
	}
	const reported = /Total Upload:\s*([\d.]+ KiB)\s*\/\s*gzip:\s*([\d.]+ KiB)/.exec(output);
	return {
		bytes: raw,
		gzip_bytes: gzip,
		modules,
		wrangler_reported: reported ? { total: reported[1], gzip: reported[2] } : null,
		// Issue 23's target; Cloudflare's own limit on the free plan is 3 MiB.
		target_gzip_bytes: 350 * KIB,
	};
}
