#!/usr/bin/env node
// `npm run load`: N concurrent users against a local `wrangler dev` (its own port and state): each
// registers, confirms through the link the console mail transport prints, logs in, then uploads
// and deletes images for a bounded time. Afterwards wrangler is stopped and its D1 and R2 state is
// opened with getPlatformProxy to check that every object has its row and every row its object,
// and that what is stored matches what the clients saw acknowledged.
//
// The hardening classes are exercised too: each user refreshes one token twice in parallel (both
// must succeed), works under a small byte quota, and ends with parallel replacements of its images
// (stored bytes must never exceed the quota, and every row must describe its object's size); the
// outbox must hold no readable body.
//
// Knobs (environment): LOAD_USERS (default 8), LOAD_SECONDS (default 20), LOAD_TIMEOUT_MS (per
// request, default 15000). Exits 1 when the state is inconsistent. Only loopback is ever contacted.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { fillWithIdat, pngHead } from "./lib/png.mjs";
import { root, startWranglerDev, waitForOutput } from "./lib/wrangler-dev.mjs";

process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false";
const USERS = Number(process.env.LOAD_USERS ?? 8);
const SECONDS = Number(process.env.LOAD_SECONDS ?? 20);
const TIMEOUT_MS = Number(process.env.LOAD_TIMEOUT_MS ?? 15_000);
const PASSWORD = "load test passphrase 2024";
// Every request comes from 127.0.0.1, so the per-client limits would stop the run: lift them.
const LIFTED = "1000000/60";
// Small enough that every user reaches it during the run, so the quota paths are under load.
const QUOTA_BYTES = 256 * 1024;

// ------------------------------------------------------------------ a small PNG of random content

/** PNG signature and IHDR, then one IDAT chunk of random bytes (never decoded): unique per call. */
function randomPng(size = 2048) {
	const head = pngHead(16, 16);
	const bytes = new Uint8Array(size);
	bytes.set(randomBytes(size));
	bytes.set(head);
	return fillWithIdat(bytes);
}

// ------------------------------------------------------------------ client side bookkeeping

const stats = { requests: 0, byStatus: {}, networkErrors: 0, latencies: [] };

async function call(base, method, path, { body, token, type } = {}) {
	const headers = {};
	if (token) headers.Authorization = `Bearer ${token}`;
	if (body !== undefined) headers["Content-Type"] = type ?? "application/json";
	const started = performance.now();
	stats.requests++;
	try {
		const res = await fetch(`${base}${path}`, {
			method,
			headers,
			body: body === undefined || type ? body : JSON.stringify(body),
			signal: AbortSignal.timeout(TIMEOUT_MS),
		});
		const text = await res.text();
		stats.latencies.push(performance.now() - started);
		stats.byStatus[res.status] = (stats.byStatus[res.status] ?? 0) + 1;
		return {
			status: res.status,
			json: text && res.headers.get("Content-Type")?.includes("json") ? JSON.parse(text) : null,
		};
	} catch (error) {
		stats.networkErrors++;
		return { status: 0, error };
	}
}

function percentile(values, p) {
	if (values.length === 0) return 0;
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** One simulated person: sign-up through the printed mail, then an upload/delete loop. */
async function runUser(server, index, deadline) {
	const email = `load-${index}-${randomBytes(4).toString("hex")}@example.com`;
	const user = { email, userId: null, live: new Set(), uploaded: 0, deleted: 0, ambiguous: 0, refused: 0 };
	const registered = await call(server.url, "POST", "/v1/auth/register", { body: { email, password: PASSWORD } });
	if (registered.status !== 202) throw new Error(`register ${email}: ${registered.status}`);
	const escaped = email.replace(/[.+]/g, "\\$&");
	const [, token] = await waitForOutput(
		server,
		new RegExp(`To: ${escaped}[\\s\\S]*?/v1/auth/confirm\\?token=([A-Za-z0-9_-]+)`),
		0,
		30_000,
	);
	const confirmed = await call(server.url, "POST", "/v1/auth/confirm", { body: { token } });
	if (confirmed.status !== 200) throw new Error(`confirm ${email}: ${confirmed.status}`);
	const login = await call(server.url, "POST", "/v1/auth/login", { body: { email, password: PASSWORD } });
	if (login.status !== 200) throw new Error(`login ${email}: ${login.status}`);
	const access = login.json.access_token;
	user.userId = login.json.user.id;
	// Two tabs refreshing the same token at once: both must get a working pair (reuse interval).
	const refreshes = await Promise.all(
		[0, 1].map(() =>
			call(server.url, "POST", "/v1/auth/refresh", { body: { refresh_token: login.json.refresh_token } }),
		),
	);
	user.parallelRefreshFailures = refreshes.filter((res) => res.status !== 200).length;

	while (Date.now() < deadline) {
		const deleting = user.live.size > 0 && Math.random() < 0.45;
		if (deleting) {
			const ids = [...user.live];
			const id = ids[Math.floor(Math.random() * ids.length)];
			const res = await call(server.url, "DELETE", `/v1/images/${id}`, { token: access });
			if (res.status === 204) {
				user.live.delete(id);
				user.deleted++;
			} else if (res.status === 0 || res.status >= 500) {
				// Unknown outcome: the row may or may not be gone.
				user.live.delete(id);
				user.ambiguous++;
			}
		} else {
			const res = await call(server.url, "POST", "/v1/images?filename=load.png", {
				token: access,
				body: randomPng(1024 + Math.floor(Math.random() * 4096)),
				type: "image/png",
			});
			if (res.status === 201) {
				user.live.add(res.json.id);
				user.uploaded++;
			} else if (res.status === 0 || res.status >= 500) {
				user.ambiguous++;
			} else {
				user.refused++;
			}
		}
	}
	// Parallel replacements near the quota: none may push the stored bytes past it.
	const targets = [...user.live].slice(0, 5);
	const replaced = await Promise.all(
		targets.map((id) =>
			call(server.url, "PUT", `/v1/images/${id}/content`, {
				token: access,
				body: randomPng(64 * 1024),
				type: "image/png",
			}),
		),
	);
	for (const res of replaced) {
		if (res.status === 0 || res.status >= 500) user.ambiguous++;
		else if (res.status !== 200) user.refused++;
	}
	user.replaced = replaced.filter((res) => res.status === 200).length;
	return user;
}

// ------------------------------------------------------------------ the run

const server = await startWranglerDev({
	REQUEST_LOG: "off",
	RATE_LIMIT_LOGIN_IP: LIFTED,
	RATE_LIMIT_REGISTER_IP: LIFTED,
	RATE_LIMIT_MAIL_IP: LIFTED,
	RATE_LIMIT_UPLOAD_USER: LIFTED,
	QUOTA_IMAGES: "100000",
	QUOTA_BYTES: String(QUOTA_BYTES),
});
let users;
let runSeconds;
try {
	console.log(`wrangler dev at ${server.url}; ${USERS} users, ${SECONDS} s of uploads and deletes`);
	const started = Date.now();
	const deadline = started + SECONDS * 1000;
	// Sign-up is part of the window: the clock starts before the first registration.
	users = await Promise.all(Array.from({ length: USERS }, (_, i) => runUser(server, i, deadline)));
	runSeconds = (Date.now() - started) / 1000;
} finally {
	await server.stop({ keepState: true });
}

// ------------------------------------------------------------------ consistency check

const { getPlatformProxy } = await import("wrangler");
const proxy = await getPlatformProxy({
	configPath: join(root, "wrangler.toml"),
	persist: { path: join(server.state, "v3") },
	envFiles: [],
});
let problems = 0;
const report = [];
try {
	const { DB, IMAGES } = proxy.env;
	const objects = new Set();
	const objectSizes = new Map();
	let cursor;
	do {
		const page = await IMAGES.list({ prefix: "users/", cursor, limit: 1000 });
		for (const object of page.objects) {
			objects.add(object.key);
			objectSizes.set(object.key, object.size);
		}
		cursor = page.truncated ? page.cursor : undefined;
	} while (cursor);
	const { results: rows } = await DB.prepare("select id, user_id, size, reserved_bytes from images").all();
	const sizeMismatches = rows.filter((row) => {
		const size = objectSizes.get(`users/${row.user_id}/images/${row.id}`);
		return size !== undefined && size !== row.size;
	}).length;
	const leftReservations = rows.filter((row) => row.reserved_bytes !== 0).length;
	const bytesByUser = new Map();
	for (const row of rows) bytesByUser.set(row.user_id, (bytesByUser.get(row.user_id) ?? 0) + row.size);
	const overQuota = [...bytesByUser.values()].filter((bytes) => bytes > QUOTA_BYTES).length;
	if (sizeMismatches || leftReservations || overQuota) problems++;
	report.push(
		`quota ${QUOTA_BYTES} bytes: users over it ${overQuota}, largest ${Math.max(0, ...bytesByUser.values())}; rows whose size differs from their object: ${sizeMismatches}; reservations left: ${leftReservations}`,
	);
	const refreshFailures = users.reduce((n, u) => n + u.parallelRefreshFailures, 0);
	if (refreshFailures) problems++;
	report.push(`parallel refreshes of one token that failed: ${refreshFailures} (of ${users.length * 2})`);
	const rowKeys = new Set(rows.map((row) => `users/${row.user_id}/images/${row.id}`));
	const objectsWithoutRow = [...objects].filter((key) => key.includes("/images/") && !rowKeys.has(key));
	const rowsWithoutObject = [...rowKeys].filter((key) => !objects.has(key));
	if (objectsWithoutRow.length || rowsWithoutObject.length) problems++;
	report.push(
		`objects: ${objects.size}, rows: ${rows.length}, objects without a row: ${objectsWithoutRow.length}, rows without an object: ${rowsWithoutObject.length}`,
	);
	for (const user of users) {
		const stored = new Set(rows.filter((row) => row.user_id === user.userId).map((row) => row.id));
		const expected = user.live;
		const missing = [...expected].filter((id) => !stored.has(id));
		const extra = [...stored].filter((id) => !expected.has(id));
		// With no ambiguous outcome, what is stored must be exactly what was acknowledged.
		const consistent =
			missing.length === 0 && (user.ambiguous > 0 ? extra.length <= user.ambiguous : extra.length === 0);
		if (!consistent) problems++;
		report.push(
			`${user.email.padEnd(34)} uploaded ${String(user.uploaded).padStart(4)}, deleted ${String(user.deleted).padStart(4)}, ` +
				`acknowledged live ${String(expected.size).padStart(3)}, stored ${String(stored.size).padStart(3)}, ` +
				`ambiguous ${user.ambiguous}, refused ${user.refused}${consistent ? "" : "  <-- MISMATCH"}`,
		);
	}
	const outbox = await DB.prepare("select status, count(*) as n from outbox group by status").all();
	const readable = await DB.prepare(
		"select count(*) as n from outbox where (html <> '' and html not like 'v1.%') or (text <> '' and text not like 'v1.%')",
	).first();
	if (readable.n) problems++;
	report.push(`outbox bodies readable at rest: ${readable.n}`);
	const unconfirmed = await DB.prepare("select count(*) as n from users where email_confirmed_at is null").first();
	report.push(
		`outbox: ${outbox.results.map((r) => `${r.status} ${r.n}`).join(", ")}; unconfirmed users: ${unconfirmed.n}`,
	);
} finally {
	await proxy.dispose();
	const { rmSync } = await import("node:fs");
	rmSync(server.state, { recursive: true, force: true });
}

const uploads = users.reduce((n, u) => n + u.uploaded, 0);
const deletes = users.reduce((n, u) => n + u.deleted, 0);
console.log(
	[
		`requests: ${stats.requests} in ${runSeconds.toFixed(1)} s (${(stats.requests / runSeconds).toFixed(1)}/s), network errors: ${stats.networkErrors}`,
		`statuses: ${Object.entries(stats.byStatus)
			.map(([status, n]) => `${status}: ${n}`)
			.join(", ")}`,
		`latency ms: p50 ${percentile(stats.latencies, 50).toFixed(1)}, p95 ${percentile(stats.latencies, 95).toFixed(1)}, p99 ${percentile(stats.latencies, 99).toFixed(1)}, max ${Math.max(...stats.latencies).toFixed(1)}`,
		`acknowledged uploads: ${uploads}, acknowledged deletes: ${deletes}, replacements: ${users.reduce((n, u) => n + u.replaced, 0)}`,
		...report,
		problems === 0 ? "consistency: OK" : `consistency: ${problems} problem(s)`,
	].join("\n"),
);
process.exit(problems === 0 ? 0 : 1);
