#!/usr/bin/env node
// `npm run load:login-burst`: bursts of 50, 100 and 200 parallel logins (known and unknown emails,
// right and wrong passwords) against a local `wrangler dev`, reporting for each burst: the answers
// by status, the peak resident memory of the workerd process, GET /health latency measured during
// the burst (p50/p99/max), and the isolate's password-hash counters (GET /__dev/hashes: how many
// hashes were ever in flight or waiting at once, how many requests were turned away).
//
// Knobs (environment): BURSTS (default "50,100,200"), BURST_KNOWN_USERS (default 4). Per-client
// and per-account login limits are lifted, so every 429 comes from the hash queue bound. Exits 1 on
// any 5xx, network error or restarted worker. Only loopback is ever contacted.
import { readFileSync, readdirSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { startWranglerDev, waitForOutput } from "./lib/wrangler-dev.mjs";

process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false";
const BURSTS = (process.env.BURSTS ?? "50,100,200").split(",").map(Number);
const KNOWN = Number(process.env.BURST_KNOWN_USERS ?? 4);
const PASSWORD = "login burst passphrase 2024";
const LIFTED = "1000000/60";

// ------------------------------------------------------------------ workerd memory (Linux /proc)

function childrenOf(pid) {
	const out = [];
	for (const entry of readdirSync("/proc")) {
		if (!/^\d+$/.test(entry)) continue;
		try {
			const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
			// Field 4 (after the parenthesised command) is the parent pid.
			const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
			if (ppid === pid) out.push(Number(entry));
		} catch {}
	}
	return out;
}

/** Pids of every workerd process below `root`. */
function workerdPids(root) {
	const found = [];
	const queue = [root];
	while (queue.length > 0) {
		const pid = queue.shift();
		for (const child of childrenOf(pid)) {
			queue.push(child);
			try {
				if (readFileSync(`/proc/${child}/comm`, "utf8").trim().startsWith("workerd")) found.push(child);
			} catch {}
		}
	}
	return found;
}

function rssMiB(pids) {
	let kib = 0;
	for (const pid of pids) {
		try {
			const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
			kib += Number(match?.[1] ?? 0);
		} catch {}
	}
	return kib / 1024;
}

// ------------------------------------------------------------------ helpers

async function post(base, path, body) {
	try {
		const res = await fetch(`${base}${path}`, {
			method: "POST",
			headers: { "Content-Type": "application/json" },
			body: JSON.stringify(body),
			signal: AbortSignal.timeout(120_000),
		});
		const text = await res.text();
		return { status: res.status, text };
	} catch (error) {
		return { status: 0, text: String(error) };
	}
}

function percentile(values, p) {
	if (values.length === 0) return 0;
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function hashStats(base) {
	try {
		const res = await fetch(`${base}/__dev/hashes`);
		return res.ok ? await res.json() : null;
	} catch {
		return null;
	}
}

// ------------------------------------------------------------------ the run

const server = await startWranglerDev({
	REQUEST_LOG: "off",
	RATE_LIMIT_LOGIN_IP: LIFTED,
	RATE_LIMIT_LOGIN_ACCOUNT: LIFTED,
	RATE_LIMIT_REGISTER_IP: LIFTED,
	RATE_LIMIT_MAIL_IP: LIFTED,
});
let failed = false;
const lines = [];
try {
	const pids = workerdPids(server.pid);
	console.log(`wrangler dev at ${server.url}; workerd pid(s): ${pids.join(", ") || "not found"}`);
	const known = [];
	for (let i = 0; i < KNOWN; i++) {
		const email = `burst-${i}-${randomBytes(4).toString("hex")}@example.com`;
		const registered = await post(server.url, "/v1/auth/register", { email, password: PASSWORD });
		if (registered.status !== 202) throw new Error(`register ${email}: ${registered.status}`);
		const escaped = email.replace(/[.+]/g, "\\$&");
		const [, token] = await waitForOutput(
			server,
			new RegExp(`To: ${escaped}[\\s\\S]*?/v1/auth/confirm\\?token=([A-Za-z0-9_-]+)`),
			0,
			30_000,
		);
		const confirmed = await post(server.url, "/v1/auth/confirm", { token });
		if (confirmed.status !== 200) throw new Error(`confirm ${email}: ${confirmed.status}`);
		known.push(email);
	}

	for (const size of BURSTS) {
		const outputBefore = server.output().length;
		const rssBefore = rssMiB(pids);
		let peakRss = rssBefore;
		let bursting = true;
		const sampler = setInterval(() => {
			peakRss = Math.max(peakRss, rssMiB(pids));
		}, 20);
		const health = [];
		const healthStatuses = {};
		const healthLoop = (async () => {
			while (bursting) {
				const started = performance.now();
				try {
					const res = await fetch(`${server.url}/health`, { signal: AbortSignal.timeout(20_000) });
					await res.text();
					healthStatuses[res.status] = (healthStatuses[res.status] ?? 0) + 1;
				} catch {
					healthStatuses["timeout or network error"] = (healthStatuses["timeout or network error"] ?? 0) + 1;
				}
				health.push(performance.now() - started);
				await new Promise((resolve) => setTimeout(resolve, 25));
			}
		})();
		const kinds = { "known/right": [], "known/wrong": [], "unknown/right": [], "unknown/wrong": [] };
		const started = performance.now();
		const requests = Array.from({ length: size }, (_, i) => {
			const kind = Object.keys(kinds)[i % 4];
			const email = kind.startsWith("known")
				? known[i % known.length]
				: `nobody-${i}-${randomBytes(3).toString("hex")}@example.com`;
			const password = kind.endsWith("right") ? PASSWORD : `wrong passphrase ${i}`;
			return post(server.url, "/v1/auth/login", { email, password }).then((res) => {
				kinds[kind].push(res.status);
				return res;
			});
		});
		const results = await Promise.all(requests);
		const seconds = (performance.now() - started) / 1000;
		bursting = false;
		await healthLoop;
		clearInterval(sampler);
		const byStatus = {};
		for (const res of results) byStatus[res.status] = (byStatus[res.status] ?? 0) + 1;
		const restarted = /restart|Worker exceeded|memory limit/i.test(server.output().slice(outputBefore));
		const bad = results.filter((res) => res.status === 0 || res.status >= 500).length;
		const wrongAnswers = Object.entries(kinds).flatMap(([kind, statuses]) =>
			statuses.filter((status) => status !== 429 && status !== (kind === "known/right" ? 200 : 401)),
		);
		if (bad > 0 || restarted || wrongAnswers.length > 0) {
			failed = true;
			const errors = server
				.output()
				.slice(outputBefore)
				.split("\n")
				.filter((line) => /"level":"error"|hung|canceled/.test(line));
			for (const line of errors.slice(0, 5)) console.log(`  worker error: ${line.slice(0, 400)}`);
			const sample = results.find((res) => res.status === 0 || res.status >= 500);
			if (sample) console.log(`  first failed answer: ${sample.status} ${sample.text.slice(0, 300)}`);
		}
		const stats = await hashStats(server.url);
		lines.push(
			[
				`burst of ${size} parallel logins: ${seconds.toFixed(1)} s`,
				`  answers: ${Object.entries(byStatus)
					.map(([status, n]) => `${status === "0" ? "network error" : status}: ${n}`)
					.join(", ")}; per kind: ${Object.entries(kinds)
					.map(([kind, statuses]) => `${kind} ${statuses.filter((s) => s !== 429).length}/${statuses.length} answered`)
					.join(", ")}`,
				`  workerd RSS: ${rssBefore.toFixed(0)} MiB before, peak ${peakRss.toFixed(0)} MiB (+${(peakRss - rssBefore).toFixed(0)})`,
				`  GET /health during the burst: ${health.length} requests (${Object.entries(healthStatuses)
					.map(([s, n]) => `${s}: ${n}`)
					.join(
						", ",
					)}), p50 ${percentile(health, 50).toFixed(0)} ms, p99 ${percentile(health, 99).toFixed(0)} ms, max ${Math.max(...health).toFixed(0)} ms`,
				stats
					? `  password hashes (isolate since start): peak in flight ${stats.peak_in_flight}, peak waiting ${stats.peak_queued}, refused ${stats.refused}, completed ${stats.completed}`
					: "  password hashes: GET /__dev/hashes not available (no counter in this build)",
				`  restarts or memory errors in the wrangler output: ${restarted ? "YES" : "none"}; unexpected answers: ${wrongAnswers.length}`,
			].join("\n"),
		);
		console.log(lines.at(-1));
	}
} finally {
	await server.stop();
}
console.log(failed ? "login burst: FAILED (5xx, network errors, restarts or unexpected answers)" : "login burst: OK");
process.exit(failed ? 1 : 0);
