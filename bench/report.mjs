#!/usr/bin/env node
// Turns bench/results.json into BENCHMARKS.md and bench/chart.svg. bench/run.mjs calls it after a
// run; `node bench/report.mjs` redoes both from the last results without running anything.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const KIB = 1024;

/** Ratio a/b, or null when either side is missing. */
function ratioOf(a, b) {
	return a === null || a === undefined || !b ? null : a / b;
}

/** Derived figures, the Atrium / Better Auth comparisons and issue 23's targets, from the raw measurements. */
export function summarize(report) {
	const byId = Object.fromEntries(report.endpoints.map((e) => [e.id, e]));
	const cpu = (id) => byId[id]?.cpu_ms_per_request ?? null;
	const floor = cpu("baseline-json") ?? 0;
	const hashMs = cpu("baseline-scrypt") === null ? null : cpu("baseline-scrypt") - floor;
	const d1TripMs = cpu("baseline-d1") === null ? null : cpu("baseline-d1") - floor;
	const ratios = {};
	for (const e of report.endpoints) {
		const base = e.baseline && byId[e.baseline];
		if (base) ratios[e.id] = e.rps / base.rps;
	}
	// Atrium against the Better Auth route a user would call instead, measured in the same rounds.
	const peers = [];
	for (const e of report.endpoints) {
		for (const peerId of e.peers ?? []) {
			const peer = byId[peerId];
			if (!peer) continue;
			peers.push({
				atrium: e.id,
				peer: peerId,
				rps_ratio: ratioOf(e.rps, peer.rps),
				cpu_ratio: ratioOf(e.cpu_ms_per_request, peer.cpu_ms_per_request),
			});
		}
	}
	const peerRatio = (a, b) => peers.find((p) => p.atrium === a && p.peer === b) ?? null;
	const targets = [];
	const add = (target) => targets.push(target);
	const me = byId.me;
	if (me && byId["ba-session-bearer"]) {
		const r = peerRatio("me", "ba-session-bearer").rps_ratio;
		add({
			name: "GET /v1/me req/s vs Better Auth get-session (bearer)",
			goal: ">= 2x",
			measured: `${times(r)} (${me.rps.toFixed(0)} vs ${byId["ba-session-bearer"].rps.toFixed(0)} req/s)`,
			met: r >= 2,
		});
	}
	if (me && byId["ba-session-cookie"]) {
		const peer = byId["ba-session-cookie"];
		add({
			name: "GET /v1/me CPU vs Better Auth get-session (cookie cache)",
			goal: "<= cookie cache's CPU",
			measured: `${ms(me.cpu_ms_per_request)} vs ${ms(peer.cpu_ms_per_request)} (${times(ratioOf(me.cpu_ms_per_request, peer.cpu_ms_per_request))})`,
			met: me.cpu_ms_per_request <= peer.cpu_ms_per_request,
		});
	}
	if (me) roundTripTarget(add, "GET /v1/me D1 round trips", me, 1);
	if (byId.locales && byId["baseline-json"]) {
		const overhead = byId.locales.cpu_ms_per_request - floor;
		const meOverD1 = me && byId["baseline-d1"] ? me.cpu_ms_per_request - cpu("baseline-d1") : null;
		add({
			name: "Middleware CPU over the bare Worker",
			goal: "<= 0.2 ms per request",
			measured: `${ms(overhead)} (GET /v1/locales ${ms(byId.locales.cpu_ms_per_request)} - fixed JSON ${ms(floor)})`,
			met: overhead <= 0.2,
			note: `GET /v1/locales runs every cross-cutting middleware (request id, log line, secure headers, language, CORS, config, Server-Timing) and a handler that answers a constant list without D1, so the difference to the baseline's fixed JSON is the middleware plus routing${meOverD1 === null ? "" : `; GET /v1/me costs ${ms(meOverD1)} more than the baseline's one-D1-statement route (middleware, JWT check, session lookup, serialization)`}`,
		});
	}
	const login = byId.login;
	if (login) roundTripTarget(add, "POST /v1/auth/login D1 round trips", login, 3);
	if (login && hashMs !== null) {
		const rest = login.cpu_ms_per_request - hashMs;
		const scryptRounds = byId["baseline-scrypt"].sample_cpu_ms_per_request ?? [];
		const roundRests = (login.sample_cpu_ms_per_request ?? []).map((value, i) => value - (scryptRounds[i] - floor));
		add({
			name: "POST /v1/auth/login CPU",
			goal: "<= hash + 3 ms",
			measured: `${ms(login.cpu_ms_per_request)} = hash ${ms(hashMs)} + ${ms(rest)}`,
			met: rest <= 3,
			rest_by_round_ms: roundRests,
			note: `hash = CPU of the baseline's one-scrypt route less its fixed-JSON route, measured in alternating rounds with login; the rest per round: ${roundRests.map((v) => v.toFixed(1)).join(", ")} ms (one scrypt varies by several ms between rounds on this shared machine)`,
		});
	}
	if (byId["login-eq"] && byId["ba-sign-in"]) {
		const r = peerRatio("login-eq", "ba-sign-in").rps_ratio;
		add({
			name: "Login at Better Auth's scrypt parameters vs Better Auth sign-in",
			goal: ">= 1x req/s",
			measured: `${times(r)} (${byId["login-eq"].rps.toFixed(1)} vs ${byId["ba-sign-in"].rps.toFixed(1)} req/s; CPU ${ms(byId["login-eq"].cpu_ms_per_request)} vs ${ms(byId["ba-sign-in"].cpu_ms_per_request)})`,
			met: r >= 1,
		});
	}
	if (byId.refresh) roundTripTarget(add, "POST /v1/auth/refresh D1 round trips", byId.refresh, 2);
	if (byId["content-100k"]) {
		add({
			name: "GET /v1/images/:id/content (100 KiB) throughput",
			goal: ">= 80 % of the bare R2 Worker",
			measured: pct(ratios["content-100k"]),
			met: ratios["content-100k"] >= 0.8,
		});
	}
	const signed = byId["content-signed-100k"];
	if (signed) {
		add({
			name: "Signed-URL download (content_url, 100 KiB)",
			goal: ">= 90 % of the bare R2 Worker, 0 D1 round trips",
			measured: `${pct(ratios["content-signed-100k"])}, ${signed.d1_round_trips ?? "n/a"} D1 round trips`,
			met: ratios["content-signed-100k"] >= 0.9 && signed.d1_round_trips === 0,
		});
	}
	const wranglerGzip = parseKib(report.bundle.wrangler_reported?.gzip);
	const bundleGzip = wranglerGzip ?? report.bundle.gzip_bytes / KIB;
	add({
		name: "Bundle size",
		goal: "<= 350 KiB gzip",
		measured: `${bundleGzip.toFixed(1)} KiB gzip (wrangler deploy --dry-run)`,
		met: bundleGzip <= 350,
	});
	const startup = report.workers;
	if (startup?.atrium && startup?.baseline) {
		const atriumMs = startup.atrium.startup.cpu_ms;
		const baseMs = startup.baseline.startup.cpu_ms;
		const peerMs = startup.betterAuth?.startup.cpu_ms;
		add({
			name: "Worker startup",
			goal: "reported",
			measured: `${(atriumMs - baseMs).toFixed(0)} ms CPU over the bare Worker (${atriumMs.toFixed(0)} vs ${baseMs.toFixed(0)} ms${peerMs === undefined ? "" : `; Better Auth peer ${(peerMs - baseMs).toFixed(0)} ms over`}); first request ${startup.atrium.startup.first_request_ms.toFixed(0)} ms vs ${startup.baseline.startup.first_request_ms.toFixed(0)} ms`,
			met: null,
			note: "CPU of the Worker's workerd process from launch until it had answered one request and gone quiet, less the same for the bare baseline Worker (runtime and D1/R2 simulator start-up cancel out, leaving compiling and running the bundle's global scope and the first request's extra work); clock-tick resolution 10 ms, single sample",
		});
	}
	return {
		request_floor_cpu_ms: floor,
		scrypt_hash_cpu_ms: hashMs,
		d1_round_trip_cpu_ms: d1TripMs,
		ratios,
		peers,
		targets,
	};
}

function roundTripTarget(add, name, endpoint, limit) {
	add({
		name,
		goal: `<= ${limit}`,
		measured: String(endpoint.d1_round_trips),
		met: endpoint.d1_round_trips !== null && endpoint.d1_round_trips <= limit,
	});
}

function parseKib(text) {
	const match = /([\d.]+)\s*KiB/.exec(text ?? "");
	return match ? Number(match[1]) : null;
}

function times(ratio) {
	return ratio === null || ratio === undefined || Number.isNaN(ratio) ? "n/a" : `${ratio.toFixed(2)}x`;
}

function verdict(target) {
	if (target.met === null) return "(reported)";
	return target.met ? "yes" : "**no**";
}

function pct(ratio) {
	return ratio === undefined || Number.isNaN(ratio) ? "n/a" : `${(ratio * 100).toFixed(0)} %`;
}

function ms(value) {
	return value === null || value === undefined ? "n/a" : `${value.toFixed(2)} ms`;
}

function escapeXml(text) {
	return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");
}

/** Issue 23's throughput goals, drawn as ticks on the chart: vs the baseline, and vs the peer. */
const BASELINE_GOALS = { "content-100k": 0.8, "content-signed-100k": 0.9 };
const PEER_GOALS = { "me/ba-session-bearer": 2, "login-eq/ba-sign-in": 1 };

/**
 * One panel of horizontal bars from `top`: each row's ratio against the 1.0 line, a dashed tick at
 * its goal (red bar when missed). Returns the SVG parts and the panel's height.
 */
function barPanel({ title, rows, top, unitLabel, format }) {
	const labelWidth = 380;
	const barWidth = 340;
	const rowHeight = 28;
	const maxRatio = Math.max(1.2, ...rows.map((r) => r.ratio ?? 0), ...rows.map((r) => r.goal ?? 0));
	const scale = barWidth / maxRatio;
	const parts = [
		`<text x="16" y="${top + 18}" font-size="14" font-weight="600" fill="#111">${escapeXml(title)}</text>`,
	];
	const first = top + 28;
	rows.forEach((r, i) => {
		const y = first + i * rowHeight;
		const ratio = r.ratio ?? 0;
		const colour = r.goal !== undefined && ratio < r.goal ? "#d9534f" : "#2b7bb9";
		parts.push(
			`<text x="${labelWidth - 10}" y="${y + 18}" text-anchor="end" fill="#111">${escapeXml(r.label)}</text>`,
			`<rect x="${labelWidth}" y="${y + 5}" width="${barWidth}" height="18" fill="#f1f3f5"/>`,
			`<rect x="${labelWidth}" y="${y + 5}" width="${(ratio * scale).toFixed(1)}" height="18" fill="${colour}"/>`,
			`<text x="${labelWidth + barWidth + 8}" y="${y + 18}" fill="#111">${format(ratio)} <tspan fill="#666">${escapeXml(r.detail)}</tspan></text>`,
		);
		if (r.goal !== undefined) {
			const gx = labelWidth + r.goal * scale;
			parts.push(
				`<line x1="${gx.toFixed(1)}" y1="${y + 2}" x2="${gx.toFixed(1)}" y2="${y + 26}" stroke="#111" stroke-width="2" stroke-dasharray="3 2"/>`,
			);
		}
	});
	const one = labelWidth + scale;
	const bottom = first + rows.length * rowHeight;
	parts.push(
		`<line x1="${one.toFixed(1)}" y1="${first}" x2="${one.toFixed(1)}" y2="${bottom}" stroke="#888" stroke-width="1"/>`,
		`<text x="${one.toFixed(1)}" y="${bottom + 15}" text-anchor="middle" fill="#555">${escapeXml(unitLabel)}</text>`,
	);
	return { parts, height: bottom + 24 - top };
}

/**
 * Two panels: Atrium's requests/s over Better Auth's on the comparable routes (1x line), and each
 * Atrium endpoint's requests/s as a share of the bare baseline doing the same kind of work (100 %).
 */
export function chartSvg(report, summary) {
	const byId = Object.fromEntries(report.endpoints.map((e) => [e.id, e]));
	const peerRows = summary.peers.map((p) => {
		const a = byId[p.atrium];
		const b = byId[p.peer];
		return {
			label: `${a.label.replace(" (Better Auth's scrypt N=2^14, r=16, p=1)", " (BA's scrypt)")} / ${b.short ?? b.label}`,
			ratio: p.rps_ratio,
			goal: PEER_GOALS[`${p.atrium}/${p.peer}`],
			detail: `(${a.rps.toFixed(a.rps < 20 ? 1 : 0)} vs ${b.rps.toFixed(b.rps < 20 ? 1 : 0)} req/s; CPU ${num(a.cpu_ms_per_request, 2)} vs ${num(b.cpu_ms_per_request, 2)} ms)`,
		};
	});
	const baseRows = report.endpoints
		.filter((e) => e.worker?.startsWith("atrium") && e.baseline && byId[e.baseline])
		.map((e) => {
			const base = byId[e.baseline];
			return {
				label: e.label.replace(" (Better Auth's scrypt N=2^14, r=16, p=1)", " (BA's scrypt)"),
				ratio: summary.ratios[e.id],
				goal: BASELINE_GOALS[e.id],
				detail: `(${e.rps.toFixed(0)} vs ${base.rps.toFixed(0)} req/s, ${base.short ?? base.label})`,
			};
		});
	const width = 1100;
	const head = 50;
	const peerPanel = barPanel({
		title: "Atrium requests/s over Better Auth's on the same route (same rounds)",
		rows: peerRows,
		top: head,
		unitLabel: "1x = Better Auth",
		format: times,
	});
	const basePanel = barPanel({
		title: "Atrium requests/s as a share of a bare Worker doing the same kind of work",
		rows: baseRows,
		top: head + peerPanel.height + 10,
		unitLabel: "100 % = baseline",
		format: pct,
	});
	const bottom = head + peerPanel.height + 10 + basePanel.height;
	const height = bottom + 30;
	return `${[
		`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="13">`,
		"<title>Atrium against Better Auth and against a bare Worker</title>",
		`<rect width="100%" height="100%" fill="#ffffff"/>`,
		`<text x="16" y="22" font-size="16" font-weight="600" fill="#111">Atrium against Better Auth ${escapeXml(report.machine.versions["better-auth"] ?? "")} and a bare Worker, local workerd</text>`,
		`<text x="16" y="40" fill="#555">${escapeXml(`${report.machine.cpu}, ${report.machine.cores} cores; ${report.method.load}`)}</text>`,
		...peerPanel.parts,
		...basePanel.parts,
		`<text x="16" y="${bottom + 16}" fill="#555">Dashed tick: issue 23's target (red bar: missed). Baselines: fixed JSON for JSON routes, one D1 statement for /health, R2 stream/put for image bytes, one scrypt for password routes.</text>`,
		"</svg>",
	].join("\n")}\n`;
}

function row(cells) {
	return `| ${cells.join(" | ")} |`;
}

function num(value, digits = 0) {
	return value === null || value === undefined ? "–" : value.toFixed(digits);
}

/** BENCHMARKS.md: the table, the targets, the chart and how it was measured. */
export function markdown(report, summary) {
	const byId = Object.fromEntries(report.endpoints.map((e) => [e.id, e]));
	const m = report.machine;
	const lines = [];
	lines.push(
		"# Benchmarks",
		"",
		"<!-- Generated by `npm run bench` (bench/run.mjs + bench/report.mjs); do not edit by hand. -->",
		"",
		`Measured ${report.generated_at.slice(0, 16).replace("T", " ")} UTC on ${m.cpu}, ${m.cores} cores, ${m.memory_gib} GiB RAM (${m.os}); Node ${m.versions.node}, wrangler ${m.versions.wrangler}, workerd ${m.versions.workerd}, miniflare ${m.versions.miniflare}, autocannon ${m.versions.autocannon}. The whole run took ${report.duration_s} s.`,
		"",
		"![Atrium requests/s over Better Auth's and as a share of the baseline Worker](bench/chart.svg)",
		"",
		"## Targets",
		"",
		row(["what", "target", "measured", "met"]),
		row(["---", "---", "---", "---"]),
	);
	for (const t of summary.targets) lines.push(row([t.name, t.goal, t.measured, verdict(t)]));
	lines.push("");
	for (const t of summary.targets.filter((t) => t.note)) lines.push(`- ${t.name}: ${t.note}.`);
	lines.push(
		"",
		"## Atrium and Better Auth, route by route",
		"",
		`Better Auth ${m.versions["better-auth"] ?? ""} on Hono + D1 (bench/peers/better-auth), measured in the same alternating rounds as Atrium. Ratios are Atrium / Better Auth: above 1x Atrium serves more requests per second; below 1x it spends less CPU per request.`,
		"",
		row([
			"Atrium",
			"req/s",
			"CPU ms/req",
			"D1",
			"Better Auth",
			"req/s",
			"CPU ms/req",
			"D1",
			"req/s ratio",
			"CPU ratio",
		]),
		row(["---", "---:", "---:", "---:", "---", "---:", "---:", "---:", "---:", "---:"]),
	);
	for (const p of summary.peers) {
		const a = byId[p.atrium];
		const b = byId[p.peer];
		const digits = (e) => (e.rps < 20 ? 1 : 0);
		lines.push(
			row([
				a.label,
				num(a.rps, digits(a)),
				num(a.cpu_ms_per_request, 2),
				a.d1_round_trips === null ? "" : String(a.d1_round_trips),
				b.label.replace("Better Auth: ", ""),
				num(b.rps, digits(b)),
				num(b.cpu_ms_per_request, 2),
				b.d1_round_trips === null ? "" : String(b.d1_round_trips),
				times(p.rps_ratio),
				times(p.cpu_ratio),
			]),
		);
	}
	lines.push(
		"",
		"## Every endpoint",
		"",
		row([
			"endpoint",
			"req/s",
			"vs baseline",
			"p50 ms",
			"p99 ms",
			"CPU ms/req",
			"D1 round trips",
			"proxy CPU ms/req",
			"other load (cores)",
		]),
		row(["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]),
	);
	for (const e of report.endpoints) {
		const ratio = summary.ratios[e.id];
		const vs = ratio === undefined ? "" : `${pct(ratio)} of ${byId[e.baseline].label.replace("baseline: ", "")}`;
		const flagged = e.unexpected_status ? ` (${e.unexpected_status} unexpected statuses)` : "";
		lines.push(
			row([
				`${e.label}${flagged}`,
				num(e.rps),
				vs,
				num(e.latency_ms.p50),
				num(e.latency_ms.p99),
				num(e.cpu_ms_per_request, 2),
				e.d1_round_trips === null ? "" : String(e.d1_round_trips),
				num(e.proxy_cpu_ms_per_request, 2),
				num(e.other_load_cores, 2),
			]),
		);
	}
	lines.push(
		"",
		`Derived: request floor (baseline fixed JSON) ${ms(summary.request_floor_cpu_ms)} CPU; one scrypt hash ${ms(summary.scrypt_hash_cpu_ms)}; one D1 round trip through the local simulator ${ms(summary.d1_round_trip_cpu_ms)}.`,
		"",
		`Bundle (\`wrangler deploy --dry-run\`): ${(report.bundle.bytes / KIB).toFixed(1)} KiB, **${(report.bundle.gzip_bytes / KIB).toFixed(1)} KiB gzip** by the bench's own count${report.bundle.wrangler_reported ? `; wrangler reported ${report.bundle.wrangler_reported.total} / gzip ${report.bundle.wrangler_reported.gzip}` : ""}${report.peer_bundle?.wrangler_reported ? `. The Better Auth peer: ${report.peer_bundle.wrangler_reported.total} / gzip ${report.peer_bundle.wrangler_reported.gzip}` : ""}.`,
		...(report.workers
			? [
					"",
					`Startup (${report.method.startup}): ${Object.values(report.workers)
						.map(
							(w) =>
								`${w.label} ${w.startup.cpu_ms.toFixed(0)} ms CPU, first request ${w.startup.first_request_ms.toFixed(0)} ms`,
						)
						.join("; ")}.`,
				]
			: []),
		"",
		"## How it is measured",
		"",
		`- Runtime: ${report.method.runtime}. \`wrangler dev\` always attaches the DevTools inspector, which roughly halves the throughput of D1-heavy routes, so the bench starts its Workers itself with the inspector off.`,
		`- Load: ${report.method.load}; the same for Atrium and the baseline, each endpoint in turn, autocannon in the bench's own Node process.`,
		`- Baseline Worker (bench/baseline/worker.ts, same compatibility date and flags): a fixed JSON body shaped like \`GET /v1/me\`, one \`select 1\` on D1, an R2 object streamed with no auth (If-None-Match passed to R2 as it is), an R2 put, and one scrypt with Atrium's parameters.`,
		...(report.method.peer ? [`- Peer: ${report.method.peer}.`] : []),
		...(report.method.signup ? [`- Sign-up: ${report.method.signup}.`] : []),
		...(report.method.heavy ? [`- Password hashing: ${report.method.heavy}.`] : []),
		`- CPU: ${report.method.cpu}. Production bills only the Worker's own CPU; locally the D1 and R2 simulators run in the same process, so these figures are upper bounds.`,
		`- D1 round trips: ${report.method.d1}; a batch counts as one.`,
		`- Seed: ${report.method.seed}.`,
		`- Refresh: ${report.method.refresh}. A pool of pre-made sessions alone would spend each token once and run dry within a second.`,
		...(report.method.mfa
			? [
					`- MFA step (second sign-in step): ${report.method.mfa}. An mfa_token costs a password login (one scrypt), so a timed run would need thousands of them; its "vs baseline" is against the fixed JSON of the first group.`,
				]
			: []),
		...(report.method.passkey
			? [
					`- Passkey sign-in: ${report.method.passkey}. Each request spends a challenge, so it runs fixed-count rounds like the password login it is measured beside; its "vs baseline" is against the one-scrypt route, the cost a password sign-in pays and a passkey does not.`,
				]
			: []),
		"- Other load: cores' worth of CPU used during each run by processes outside the bench (the machine is shared); above ~0.3 the neighbouring rows are noisier.",
		`- Load average (1/5/15 min): ${report.load_average.before.map((v) => v.toFixed(2)).join(" / ")} before, ${report.load_average.after.map((v) => v.toFixed(2)).join(" / ")} after.`,
		"",
		"Re-run with `npm run bench` (about 8–10 minutes); `node bench/report.mjs` redraws this page and the chart from bench/results.json.",
		"",
	);
	return lines.join("\n");
}

/** Writes BENCHMARKS.md and bench/chart.svg under `root`. */
export function writeReport(report, root) {
	const summary = report.summary ?? summarize(report);
	writeFileSync(path.join(root, "bench/chart.svg"), chartSvg(report, summary));
	// Hand-written reading of the numbers (why a target is missed, what would fix it) survives regeneration.
	const notesPath = path.join(root, "bench/notes.md");
	const notes = existsSync(notesPath) ? `\n${readFileSync(notesPath, "utf8").trim()}\n` : "";
	writeFileSync(path.join(root, "BENCHMARKS.md"), markdown(report, summary) + notes);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
	const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
	const report = JSON.parse(readFileSync(path.join(root, "bench/results.json"), "utf8"));
	report.summary = summarize(report);
	writeFileSync(path.join(root, "bench/results.json"), `${JSON.stringify(report, null, "\t")}\n`);
	writeReport(report, root);
	console.log("wrote BENCHMARKS.md and bench/chart.svg");
}
