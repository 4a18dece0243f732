#!/usr/bin/env node
// `npm run bench`: Atrium against a bare baseline Worker and against Better Auth (the peer users
// pick instead), on the same local runtime, in one run.
//
// The Workers run on workerd through wrangler's `unstable_startWorker` with the DevTools inspector
// off (scripts/lib/wrangler-dev.mjs startWorkerInProcess); bundling, the D1/R2 simulators and
// wrangler's local proxy Worker are the same as `wrangler dev`. autocannon drives every endpoint
// with the same connections and duration, without pipelining, after a warm-up, in rounds
// alternating with the baseline and peer it is compared with. CPU time is read from /proc for the
// workerd process that runs each Worker (Linux only), D1 round trips from the `Server-Timing`
// header Atrium adds in local development (and the peer adds when asked), and the bundle is what
// `wrangler deploy --dry-run` would upload. Writes bench/results.json, BENCHMARKS.md and
// bench/chart.svg (bench/report.mjs; bench/notes.md is appended to BENCHMARKS.md).
//
// The parts: bench/lib/settings.mjs (knobs, read it for BENCH_* variables), launch.mjs (Workers,
// processes, bundle), seed.mjs (users, images, sessions), endpoints.mjs (what is measured, in which
// groups), load.mjs (autocannon and CPU), cpu.mjs (/proc), http.mjs.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { root } from "../scripts/lib/wrangler-dev.mjs";
import { GROUPS, endpoints } from "./lib/endpoints.mjs";
import { currentWorkerPids, measureBundle, migrate, startWorkers, workerSpecs } from "./lib/launch.mjs";
import { measureGroup, probe } from "./lib/load.mjs";
import { betterAuthSession, login, seedAtriumUsers, seedBetterAuth, seedImages } from "./lib/seed.mjs";
import {
	BETTER_AUTH_SCRYPT,
	CONNECTIONS,
	DURATION,
	EXTRA_VARS,
	HEAVY_AMOUNT,
	HEAVY_ROUNDS,
	KIB,
	MFA_AMOUNT,
	MFA_USERS,
	MFA_USES_PER_USER,
	ONLY,
	PASSKEY_AMOUNT,
	PASSKEY_REQUESTS,
	ROUNDS,
	WARMUP,
} from "./lib/settings.mjs";
import { summarize, writeReport } from "./report.mjs";

const require = createRequire(import.meta.url);
const started = Date.now();

function step(message) {
	console.log(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${message}`);
}

function packageVersion(name) {
	// From node_modules directly: not every package exports its package.json.
	return JSON.parse(readFileSync(path.join(root, "node_modules", name, "package.json"), "utf8")).version;
}

function machine() {
	const cpus = os.cpus();
	let workerdVersion = packageVersion("workerd");
	try {
		const bin = path.join(path.dirname(require.resolve("workerd/package.json")), "bin", "workerd");
		workerdVersion = execFileSync(bin, ["--version"])
			.toString()
			.trim()
			.replace(/^workerd\s+/, "");
	} catch {
		// The package version is close enough when the binary cannot be asked.
	}
	return {
		cpu: cpus[0]?.model.trim() ?? "unknown",
		cores: cpus.length,
		memory_gib: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
		os: `${os.type()} ${os.release()} ${os.arch()}`,
		versions: {
			node: process.version,
			wrangler: packageVersion("wrangler"),
			workerd: workerdVersion,
			miniflare: packageVersion("miniflare"),
			autocannon: packageVersion("autocannon"),
			"better-auth": packageVersion("better-auth"),
		},
	};
}

async function main() {
	const tmp = mkdtempSync(path.join(os.tmpdir(), "atrium-bench-"));
	const persistOf = (id) => path.join(tmp, `state-${id}`);
	const quietDir = path.join(tmp, "unwatched");
	mkdirSync(quietDir);
	let workers;
	// Interrupted: leave no gigabyte of uploaded test images behind in the temp folder.
	for (const signal of ["SIGINT", "SIGTERM"]) {
		process.on(signal, () => {
			rmSync(tmp, { recursive: true, force: true });
			process.exit(130);
		});
	}
	try {
		const info = machine();
		step(`machine: ${info.cpu}, ${info.cores} cores, ${info.memory_gib} GiB; node ${info.versions.node}`);
		const loadBefore = os.loadavg();

		step("bundle: wrangler deploy --dry-run (Atrium, and the Better Auth peer)");
		const bundle = measureBundle(path.join(tmp, "dist"));
		const peerBundle = measureBundle(
			path.join(tmp, "dist-peer"),
			path.join(root, "bench/peers/better-auth/wrangler.toml"),
		);
		step(
			`bundle: Atrium ${(bundle.gzip_bytes / KIB).toFixed(1)} KiB gzip (wrangler: ${bundle.wrangler_reported?.gzip}), Better Auth peer ${(peerBundle.gzip_bytes / KIB).toFixed(1)} KiB gzip`,
		);

		const specs = workerSpecs();
		step("databases: migrations; confirmed users (Atrium's scrypt, and Better Auth's for the second Atrium)");
		for (const [id, spec] of Object.entries(specs)) migrate(spec, persistOf(id));
		await seedAtriumUsers(persistOf("atrium"), { mfaUsers: true });
		await seedAtriumUsers(persistOf("atriumEq"), { params: BETTER_AUTH_SCRYPT });

		step("workers: starting Atrium, Atrium with Better Auth's scrypt, the baseline and Better Auth (inspector off)");
		workers = {};
		await startWorkers(specs, persistOf, quietDir, workers);
		for (const w of Object.values(workers)) {
			step(
				`workers: ${w.label} ${w.url.host} (workerd ${w.workerPids.join(",")}); startup ${w.startup.cpu_ms.toFixed(0)} ms CPU, first request ${w.startup.first_request_ms.toFixed(0)} ms`,
			);
		}

		const tokens = await login(workers.atrium.url);
		await login(workers.atriumEq.url);
		await seedBetterAuth(workers.betterAuth.url);
		step("seed: 50 images through POST /v1/images");
		const images = await seedImages(workers.atrium.url, workers.baseline.url, tokens.access_token);
		// One chain per connection, plus the probe's token and spares for chains cut when a run stops.
		const refreshPool = [];
		for (let batch = 0; batch < 3; batch++) {
			const logins = Array.from({ length: CONNECTIONS }, () => login(workers.atrium.url));
			for (const body of await Promise.all(logins)) refreshPool.push(body.refresh_token);
		}

		const all = endpoints({
			token: tokens.access_token,
			...images,
			refreshPool,
			workers,
			betterAuth: { session: (variant) => betterAuthSession(workers.betterAuth.url, variant) },
		});
		// BENCH_ONLY keeps the chosen endpoints and the baselines and peers they are compared with.
		const chosen = all.filter((e) => !ONLY || ONLY.has(e.id));
		const list = all.filter(
			(e) => chosen.includes(e) || chosen.some((c) => c.baseline === e.id || c.peers?.includes(e.id)),
		);

		const results = [];
		const record = (endpoint, d1, measured) => {
			const {
				chain: _chain,
				draw: _draw,
				prepare: _prepare,
				fresh: _fresh,
				seedNote: _seedNote,
				body: _body,
				headers: _headers,
				unexpectedBody,
				...describe
			} = endpoint;
			results.push({
				...describe,
				d1_round_trips: d1,
				...measured,
				...(unexpectedBody ? { unexpected_body: unexpectedBody } : {}),
			});
			const unexpected = measured.unexpected_status
				? `, ${measured.unexpected_status} unexpected statuses ${JSON.stringify(measured.status_codes)}`
				: "";
			step(
				`     ${endpoint.id}: ${measured.rps.toFixed(1)} req/s, p50 ${measured.latency_ms.p50.toFixed(1)} ms, p99 ${measured.latency_ms.p99} ms, ${measured.cpu_ms_per_request?.toFixed(2)} CPU ms/req${d1 === null ? "" : `, ${d1} D1`}${unexpected}`,
			);
		};
		for (const ids of GROUPS) {
			const group = ids.map((id) => list.find((e) => e.id === id)).filter(Boolean);
			if (group.length === 0) continue;
			for (const endpoint of group.filter((e) => e.prepare)) {
				step(`seed: ${endpoint.seedNote}`);
				await endpoint.prepare();
			}
			const d1s = [];
			for (const endpoint of group) {
				d1s.push(endpoint.worker === "baseline" ? null : await probe(endpoint, workers[endpoint.worker]));
			}
			step(`run: ${group.map((e) => e.id).join(", ")}`);
			const measured = await measureGroup(
				group.map((endpoint) => ({ endpoint, worker: workers[endpoint.worker] })),
				step,
			);
			for (const [i, endpoint] of group.entries()) record(endpoint, d1s[i], measured[i]);
		}
		// Table order: as listed.
		results.sort((a, b) => list.findIndex((e) => e.id === a.id) - list.findIndex((e) => e.id === b.id));
		for (const w of Object.values(workers)) currentWorkerPids(w, step);

		const report = {
			generated_at: new Date().toISOString(),
			method: {
				runtime:
					"workerd via wrangler unstable_startWorker (dev.inspector: false); same bundling, D1/R2 simulators and local proxy Worker as wrangler dev",
				load: `autocannon, ${CONNECTIONS} connections, no pipelining, ${WARMUP} s warm-up then ${DURATION} s per endpoint in ${ROUNDS} rounds alternating with its baseline and peers`,
				heavy: `${HEAVY_ROUNDS} alternating rounds of ${HEAVY_AMOUNT} requests each for the baseline scrypt, the logins, sign-ups and sign-ins, after a ${CONNECTIONS}-request warm-up`,
				cpu: "utime+stime of the workerd process running the Worker (its D1/R2 simulators included; wrangler's proxy Worker excluded and reported apart), divided by requests",
				d1: "Server-Timing d1 round trips, added by Atrium in local development (src/middleware/server-timing.ts) and by the Better Auth peer when the probe asks (x-count-d1; it wraps the D1 binding)",
				seed: "confirmed users inserted with wrangler d1 execute (scrypt hash computed in Node with the Worker's parameters); images uploaded through POST /v1/images; the Better Auth account signed up through its own POST sign-up/email",
				refresh:
					"a shared pool of live refresh tokens (30 sessions made by logins before the run): each request takes one (autocannon setupRequest), each answer puts its successor back (onResponse)",
				signup:
					"every request a new address (autocannon setupRequest); Atrium answers 202 and queues a confirmation mail (RESEND_API_KEY empty: the console transport); Better Auth (autoSignIn, its default) creates the user, the credential account and a session",
				peer: `Better Auth ${info.versions["better-auth"]} on Hono + D1 (bench/peers/better-auth): emailAndPassword, the bearer plugin, defaults otherwise; one Worker serving both variants, /bearer/ (defaults: get-session reads D1) and /cookie-cache/ (session.cookieCache on, 5-minute signed cookie); its schema from the Better Auth CLI`,
				passkey: `discoverable sign-in with an ES256 passkey, in ${HEAVY_ROUNDS} rounds of ${PASSKEY_AMOUNT} requests alternating with the baseline scrypt and the password logins, after a ${CONNECTIONS}-request warm-up; the passkey was registered through POST /v1/me/passkeys and ${PASSKEY_REQUESTS} challenges (POST /v1/auth/passkey/options) were signed in Node right before the run (bench/passkey.mjs, a counterless software authenticator), one per request; per-IP sign-in limits raised for the bench`,
				mfa: `the TOTP-code path: ${HEAVY_ROUNDS} rounds of ${MFA_AMOUNT} requests after a ${CONNECTIONS}-request warm-up; ${MFA_USERS} users turned TOTP on (POST /v1/me/mfa/totp and /verify) and were each logged in ${MFA_USES_PER_USER} times for mfa_tokens right before the run; every request takes an idle user's mfa_token and the code (computed in Node) of the next unused 30-second step (autocannon setupRequest), one request per user at a time, no code replayed; per-account and per-IP MFA limits raised for the bench`,
				startup:
					"CPU of the Worker's workerd process from launch until it answered its first request and went quiet (runtime and simulators start, bundle compiled and its global scope run, one request), and that first request's latency",
				extra_vars: EXTRA_VARS,
			},
			machine: info,
			load_average: { before: loadBefore, after: os.loadavg() },
			bundle,
			peer_bundle: peerBundle,
			workers: Object.fromEntries(Object.values(workers).map((w) => [w.id, { label: w.label, startup: w.startup }])),
			endpoints: results,
			duration_s: Math.round((Date.now() - started) / 1000),
		};
		report.summary = summarize(report);
		for (const target of report.summary.targets) {
			const verdict = target.met === null ? "reported" : target.met ? "met" : "MISSED";
			step(`target: ${target.name}: ${target.measured} (${target.goal}) ${verdict}`);
		}
		writeFileSync(path.join(root, "bench/results.json"), `${JSON.stringify(report, null, "\t")}\n`);
		writeReport(report, root);
		step("wrote bench/results.json, BENCHMARKS.md and bench/chart.svg");
	} finally {
		for (const w of Object.values(workers ?? {})) await w.handle.dispose().catch(() => {});
		rmSync(tmp, { recursive: true, force: true });
	}
}

await main();
// wrangler leaves file watchers and timers behind.
process.exit(0);
