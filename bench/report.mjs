#!/usr/bin/env node
// Turns bench/results.json into BENCHMARKS.md and bench/chart.svg. bench/run.mjs calls it after a
// run; `node bench/report.mjs` redoes both from the last results without running anything.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const KIB = 1024;

/** Derived figures and the issue's targets, from the raw measurements. */
export function summarize(report) {
	const byId = Object.fromEntries(report.endpoints.map((e) => [e.id, e]));
	const cpu = (id) => byId[id]?.cpu_ms_per_request ?? null;
	const floor = cpu("baseline-json") ?? 0;
	const hashMs = cpu("baseline-scrypt") === null ? null : cpu("baseline-scrypt") - floor;
	const d1TripMs = cpu("baseline-d1") === null ? null : cpu("baseline-d1") - floor;
	// What Workers would bill: the process's CPU less the local D1 simulator's share (one
	// `select 1` round trip each; writes cost the simulator more, so this still overstates).
	const workerOnly = (e) => e.cpu_ms_per_request - (e.d1_round_trips ?? 0) * (d1TripMs ?? 0);
	const ratios = {};
	for (const e of report.endpoints) {
		const base = e.baseline && byId[e.baseline];
		if (base) ratios[e.id] = e.rps / base.rps;
	}
	const me = byId.me;
	const login = byId.login;
	const content = byId["content-100k"];
	const notModified = byId["content-304"];
	const targets = [];
	const add = (target) => targets.push(target);
	if (me) {
		add({
			name: "GET /v1/me throughput",
			goal: ">= 35 % of the JSON baseline",
			measured: pct(ratios.me),
			met: ratios.me >= 0.35,
		});
		const alone = workerOnly(me);
		add({
			name: "GET /v1/me CPU",
			goal: "<= 1 ms per request",
			measured: `${ms(me.cpu_ms_per_request)} (Worker alone ~${ms(alone)})`,
			met: me.cpu_ms_per_request <= 1,
			met_worker_only: alone <= 1,
			note: "whole workerd process, i.e. runtime + app + the local D1 simulator; the Worker-alone figure takes off one measured D1 round trip per statement",
		});
		add({
			name: "GET /v1/me D1 round trips",
			goal: "<= 1",
			measured: String(me.d1_round_trips),
			met: me.d1_round_trips !== null && me.d1_round_trips <= 1,
		});
	}
	if (content) {
		add({
			name: "GET /v1/images/:id/content (100 KiB) throughput",
			goal: ">= 70 % of the R2 baseline",
			measured: pct(ratios["content-100k"]),
			met: ratios["content-100k"] >= 0.7,
		});
	}
	if (content && notModified) {
		const speedup = notModified.rps / content.rps;
		const r2Speedup =
			byId["baseline-r2-304"] && byId["baseline-r2-100k"]
				? byId["baseline-r2-304"].rps / byId["baseline-r2-100k"].rps
				: null;
		const meta = byId["image-meta"] ? byId["image-meta"].rps / content.rps : null;
		add({
			name: "304 revalidation",
			goal: ">= 2x the full 100 KiB download",
			measured: `${speedup.toFixed(2)}x`,
			met: speedup >= 2,
			note: `the bare R2 conditional get is ${r2Speedup === null ? "n/a" : `${r2Speedup.toFixed(2)}x`} its full download here${meta === null ? "" : `; GET /v1/images/:id (the same two D1 statements, no R2) runs at ${meta.toFixed(2)}x the full download`}`,
		});
	}
	if (login && hashMs !== null) {
		const rest = login.cpu_ms_per_request - hashMs;
		const restAlone = workerOnly(login) - hashMs;
		const scryptRounds = byId["baseline-scrypt"].sample_cpu_ms_per_request ?? [];
		const roundRests = (login.sample_cpu_ms_per_request ?? []).map((value, i) => value - (scryptRounds[i] - floor));
		add({
			name: "POST /v1/auth/login CPU",
			goal: "<= hash + 3 ms",
			measured: `${ms(login.cpu_ms_per_request)} = hash ${ms(hashMs)} + ${ms(rest)} (Worker alone: + ${ms(restAlone)})`,
			met: rest <= 3,
			met_worker_only: restAlone <= 3,
			rest_by_round_ms: roundRests,
			note: `hash = CPU of the baseline's one-scrypt route less its fixed-JSON route, measured in alternating rounds with login; the rest per round: ${roundRests.map((v) => v.toFixed(1)).join(", ")} ms; "Worker alone" takes off one measured D1 round trip per statement`,
		});
	}
	add({
		name: "Bundle size",
		goal: "< 1 MiB gzip",
		measured: `${(report.bundle.gzip_bytes / KIB).toFixed(1)} KiB gzip`,
		met: report.bundle.gzip_bytes < report.bundle.limit_gzip_bytes,
	});
	return { request_floor_cpu_ms: floor, scrypt_hash_cpu_ms: hashMs, d1_round_trip_cpu_ms: d1TripMs, ratios, targets };
}

function verdict(target) {
	if (target.met) return "yes";
	if (target.met_worker_only) return "no for the process; yes for the Worker alone";
	return "**no**";
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

/** Horizontal bars: each Atrium endpoint's requests/s as a share of its baseline's (the 100 % line). */
export function chartSvg(report, summary) {
	const byId = Object.fromEntries(report.endpoints.map((e) => [e.id, e]));
	const rows = report.endpoints.filter((e) => e.worker === "atrium" && e.baseline && byId[e.baseline]);
	const labelWidth = 300;
	const barWidth = 380;
	const maxRatio = Math.max(1.2, ...rows.map((e) => summary.ratios[e.id] ?? 0));
	const scale = barWidth / maxRatio;
	const rowHeight = 30;
	const top = 56;
	const width = labelWidth + barWidth + 260;
	const height = top + rows.length * rowHeight + 46;
	const parts = [];
	parts.push(
		`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="13">`,
		"<title>Atrium requests per second as a share of a bare Worker doing the same kind of work</title>",
		`<rect width="100%" height="100%" fill="#ffffff"/>`,
		`<text x="16" y="24" font-size="16" font-weight="600" fill="#111">Atrium requests/s as a share of a bare Worker doing the same kind of work</text>`,
		`<text x="16" y="43" fill="#555">${escapeXml(`${report.machine.cpu}, ${report.machine.cores} cores; ${report.method.load}`)}</text>`,
	);
	rows.forEach((e, i) => {
		const y = top + i * rowHeight;
		const ratio = summary.ratios[e.id] ?? 0;
		const base = byId[e.baseline];
		const goal = e.targets?.ratio;
		const met = goal === undefined ? null : ratio >= goal;
		const colour = met === false ? "#d9534f" : "#2b7bb9";
		parts.push(
			`<text x="${labelWidth - 10}" y="${y + 19}" text-anchor="end" fill="#111">${escapeXml(e.label)}</text>`,
			`<rect x="${labelWidth}" y="${y + 6}" width="${(barWidth).toFixed(1)}" height="18" fill="#f1f3f5"/>`,
			`<rect x="${labelWidth}" y="${y + 6}" width="${(ratio * scale).toFixed(1)}" height="18" fill="${colour}"/>`,
			`<text x="${labelWidth + barWidth + 8}" y="${y + 19}" fill="#111">${pct(ratio)} <tspan fill="#666">(${e.rps.toFixed(0)} vs ${base.rps.toFixed(0)} req/s, ${escapeXml(base.short ?? base.label)})</tspan></text>`,
		);
		if (goal !== undefined) {
			const gx = labelWidth + goal * scale;
			parts.push(
				`<line x1="${gx.toFixed(1)}" y1="${y + 3}" x2="${gx.toFixed(1)}" y2="${y + 27}" stroke="#111" stroke-width="2" stroke-dasharray="3 2"/>`,
			);
		}
	});
	const hundred = labelWidth + scale;
	const bottom = top + rows.length * rowHeight;
	parts.push(
		`<line x1="${hundred.toFixed(1)}" y1="${top}" x2="${hundred.toFixed(1)}" y2="${bottom}" stroke="#888" stroke-width="1"/>`,
		`<text x="${hundred.toFixed(1)}" y="${bottom + 16}" text-anchor="middle" fill="#555">100 % = baseline</text>`,
		`<text x="16" y="${bottom + 36}" fill="#555">Dashed tick: the issue's target. Baselines: fixed JSON for JSON routes, R2 stream/put for image bytes, one scrypt for login.</text>`,
		"</svg>",
	);
	return `${parts.join("\n")}\n`;
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
		"![Atrium requests/s as a share of the baseline Worker](bench/chart.svg)",
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
		`Bundle (\`wrangler deploy --dry-run\`): ${(report.bundle.bytes / KIB).toFixed(1)} KiB, **${(report.bundle.gzip_bytes / KIB).toFixed(1)} KiB gzip** (limit ${(report.bundle.limit_gzip_bytes / KIB).toFixed(0)} KiB)${report.bundle.wrangler_reported ? `; wrangler reported ${report.bundle.wrangler_reported.total} / gzip ${report.bundle.wrangler_reported.gzip}` : ""}.`,
		"",
		"## How it is measured",
		"",
		`- Runtime: ${report.method.runtime}. \`wrangler dev\` always attaches the DevTools inspector, which roughly halves the throughput of D1-heavy routes, so the bench starts both Workers itself with the inspector off.`,
		`- Load: ${report.method.load}; the same for Atrium and the baseline, each endpoint in turn, autocannon in the bench's own Node process.`,
		`- Baseline Worker (bench/baseline/worker.ts, same compatibility date and flags): a fixed JSON body shaped like \`GET /v1/me\`, one \`select 1\` on D1, an R2 object streamed with no auth (If-None-Match passed to R2 as it is), an R2 put, and one scrypt with Atrium's parameters.`,
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
		"Re-run with `npm run bench` (about 4–5 minutes); `node bench/report.mjs` redraws this page and the chart from bench/results.json.",
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
