#!/usr/bin/env node
// `npm run scale`: D1 cost per request on an empty database, on one holding a tenth of the seed,
// and on one holding 100,000 users and 1,000,000 image rows (plus a session, a refresh token,
// three audit events, a rate-limit window and a sent mail per user). Each run starts `wrangler
// dev` on its own throwaway --persist-to state, seeded with recursive-CTE inserts through
// `wrangler d1 execute --local` before the server starts. A probe user then signs up through the
// API and uploads PROBE_IMAGES images, and every measured request is sent REPEAT times with
// `X-D1-Meter: 1`, which makes the development build answer with D1's own `meta.rows_read` /
// `meta.rows_written` summed over the request and its waitUntil work
// (src/middleware/server-timing.ts). Rows are what D1 bills, and unlike time they do not depend
// on how busy the machine is.
//
// Prints a Markdown table (docs/scaling.md holds a copy) and exits 1 when a figure on the full
// seed differs from the one on a tenth of it: a cost that grows with the tables would show there.
// (Empty differs from seeded by at most one row per index range: on a seeded index a range scan
// steps onto the next user's first entry to find its end.) Knobs (environment): SCALE_USERS
// (default 100000), SCALE_IMAGES (default 1000000). Only loopback is ever contacted.
import { randomBytes } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { pngHead } from "./lib/png.mjs";
import { runWrangler, startWranglerDev, waitForOutput } from "./lib/wrangler-dev.mjs";

process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false";
const USERS = Number(process.env.SCALE_USERS ?? 100_000);
const IMAGES = Number(process.env.SCALE_IMAGES ?? 1_000_000);
const PROBE_IMAGES = 30;
const REPEAT = 3;
const PASSWORD = "scale probe passphrase 2024";
// Every request comes from 127.0.0.1: lift the per-client limits so none of them gets in the way.
const LIFTED = "1000000/60";
const VARS = {
	RATE_LIMIT_LOGIN_ACCOUNT: LIFTED,
	RATE_LIMIT_LOGIN_IP: LIFTED,
	RATE_LIMIT_REGISTER_IP: LIFTED,
	RATE_LIMIT_MAIL_IP: LIFTED,
	RATE_LIMIT_UPLOAD_USER: LIFTED,
	QUOTA_IMAGES: "1000",
	REQUEST_LOG: "off",
};

/** Seeding statements. Ids are shorter than real ones (17 against 24 characters) and sort apart from them. */
function seedStatements(users, images) {
	const n = (count) => `with recursive n(i) as (select 1 union all select i + 1 from n where i < ${count})`;
	const user = "printf('seed-user-%07d', i)";
	const far = Date.UTC(2100, 0, 1);
	// Values as long as real ones (etags, hashes, password hashes), so the database size is telling.
	const hex = (bytes) => `lower(hex(randomblob(${bytes})))`;
	const hash = `'scrypt$16384$8$5$' || ${hex(16)} || '$' || ${hex(32)}`;
	return [
		`insert into users (id, email, locale, password_hash, email_confirmed_at, updated_at)
		 ${n(users)} select ${user}, printf('seed-%07d@seed.test', i), 'en', ${hash}, 0, 0 from n`,
		`insert into sessions (id, user_id, expires_at) ${n(users)} select printf('seed-session-%07d', i), ${user}, ${far} from n`,
		`insert into refresh_tokens (token_hash, session_id)
		 ${n(users)} select ${hex(32)}, printf('seed-session-%07d', i) from n`,
		`insert into audit_events (id, user_id, type)
		 ${n(users * 3)} select printf('seed-event-%08d', i), printf('seed-user-%07d', (i - 1) / 3 + 1), 'login' from n`,
		`insert into rate_limits (key, count, reset_at) ${n(users)} select printf('seed:%07d', i), 1, ${far} from n`,
		`insert into outbox (id, to_address, subject, html, text, status, next_attempt_at)
		 ${n(users)} select printf('seed-mail-%07d', i), printf('seed-%07d@seed.test', i), 's', 'h', 't', 'sent', 0 from n`,
		`insert into images (id, user_id, filename, content_type, size, width, height, etag, sha256, updated_at)
		 ${n(images)} select printf('seed-image-%08d', i), printf('seed-user-%07d', (i - 1) % ${users} + 1),
		 printf('IMG_%08d.jpg', i), 'image/jpeg', 2048, 16, 16, ${hex(16)}, ${hex(32)}, 0 from n`,
	];
}

function seed(state, size) {
	const started = performance.now();
	for (const sql of seedStatements(size.users, size.images)) {
		runWrangler(["d1", "execute", "atrium", "--local", "--persist-to", state, "--command", sql]);
	}
	const counted = runWrangler([
		"d1",
		"execute",
		"atrium",
		"--local",
		"--persist-to",
		state,
		"--json",
		"--command",
		"select (select count(*) from users) as users, (select count(*) from images) as images",
	]);
	const [{ results }] = JSON.parse(counted);
	const seconds = ((performance.now() - started) / 1000).toFixed(1);
	const megabytes = (sqliteBytes(state) / 1024 / 1024).toFixed(1);
	sizes.push(`${results[0].users} users and ${results[0].images} images: ${megabytes} MB of SQLite`);
	console.error(`seeded ${results[0].users} users and ${results[0].images} images in ${seconds} s (${megabytes} MB)`);
}

/** Database sizes seen after seeding, for the report. */
const sizes = [];

/** Bytes of the SQLite files (D1's local storage) under a state folder. */
function sqliteBytes(dir) {
	let total = 0;
	for (const entry of readdirSync(dir, { withFileTypes: true })) {
		const path = join(dir, entry.name);
		if (entry.isDirectory()) total += sqliteBytes(path);
		else if (/\.sqlite(-wal)?$/.test(entry.name)) total += statSync(path).size;
	}
	return total;
}

function png() {
	const bytes = new Uint8Array(2048);
	bytes.set(randomBytes(bytes.length));
	bytes.set(pngHead(16, 16));
	return bytes;
}

async function call(server, method, path, { body, token, type, headers = {} } = {}) {
	const all = { ...headers };
	if (token) all.Authorization = `Bearer ${token}`;
	if (body !== undefined) all["Content-Type"] = type ?? "application/json";
	const res = await fetch(`${server.url}${path}`, {
		method,
		headers: all,
		body: body === undefined || type ? body : JSON.stringify(body),
	});
	const text = await res.text();
	const json = text && res.headers.get("Content-Type")?.includes("json") ? JSON.parse(text) : null;
	return { res, json };
}

/** Signs up through the API (the console mail transport prints the link), logs in, uploads. */
async function probeUser(server) {
	const email = `probe-${randomBytes(4).toString("hex")}@example.com`;
	const registered = await call(server, "POST", "/v1/auth/register", { body: { email, password: PASSWORD } });
	if (registered.res.status !== 202) throw new Error(`register: ${registered.res.status}`);
	const escaped = email.replace(/[.+]/g, "\\$&");
	const pattern = new RegExp(`To: ${escaped}[\\s\\S]*?/v1/auth/confirm\\?token=([A-Za-z0-9_-]+)`);
	const [, confirmToken] = await waitForOutput(server, pattern, 0, 30_000);
	const confirmed = await call(server, "POST", "/v1/auth/confirm", { body: { token: confirmToken } });
	if (confirmed.res.status !== 200) throw new Error(`confirm: ${confirmed.res.status}`);
	const login = await call(server, "POST", "/v1/auth/login", { body: { email, password: PASSWORD } });
	if (login.res.status !== 200) throw new Error(`login: ${login.res.status}`);
	const token = login.json.access_token;
	let refreshToken = login.json.refresh_token;
	const images = [];
	for (let i = 0; i < PROBE_IMAGES; i++) {
		const up = await call(server, "POST", "/v1/images?filename=probe.png", { token, body: png(), type: "image/png" });
		if (up.res.status !== 201) throw new Error(`upload: ${up.res.status}`);
		images.push(up.json);
	}
	const firstPage = await call(server, "GET", "/v1/images", { token });
	const etag = (
		await fetch(`${server.url}/v1/images/${images[0].id}/content`, { headers: { Authorization: `Bearer ${token}` } })
	).headers.get("ETag");
	return {
		email,
		token,
		image: images[0],
		etag,
		cursor: firstPage.json.next_cursor,
		nextRefresh: () => refreshToken,
		setRefresh: (value) => {
			refreshToken = value;
		},
	};
}

/** The measured requests: what a signed-in client does most, and sign-in itself. */
function requests(probe) {
	return [
		{ name: "GET /v1/me", send: (s) => call(s, "GET", "/v1/me", metered(probe.token)) },
		{
			name: "POST /v1/auth/login",
			send: (s) =>
				call(s, "POST", "/v1/auth/login", { ...metered(), body: { email: probe.email, password: PASSWORD } }),
		},
		{
			name: "POST /v1/auth/refresh",
			send: async (s) => {
				const out = await call(s, "POST", "/v1/auth/refresh", {
					...metered(),
					body: { refresh_token: probe.nextRefresh() },
				});
				probe.setRefresh(out.json?.refresh_token);
				return out;
			},
		},
		{ name: "GET /v1/images (first page of 20)", send: (s) => call(s, "GET", "/v1/images", metered(probe.token)) },
		{
			name: "GET /v1/images?cursor= (next page)",
			send: (s) => call(s, "GET", `/v1/images?cursor=${probe.cursor}`, metered(probe.token)),
		},
		{ name: "GET /v1/images/:id", send: (s) => call(s, "GET", `/v1/images/${probe.image.id}`, metered(probe.token)) },
		{
			name: "GET /v1/images/:id/content (download)",
			send: (s) => call(s, "GET", `/v1/images/${probe.image.id}/content`, metered(probe.token)),
		},
		{
			name: "GET /v1/images/:id/content (304)",
			send: (s) =>
				call(s, "GET", `/v1/images/${probe.image.id}/content`, {
					...metered(probe.token),
					headers: { ...metered().headers, "If-None-Match": probe.etag },
				}),
		},
		{
			name: "POST /v1/images (upload)",
			send: (s) =>
				call(s, "POST", "/v1/images?filename=more.png", { ...metered(probe.token), body: png(), type: "image/png" }),
		},
		{ name: "GET /v1/me/activity", send: (s) => call(s, "GET", "/v1/me/activity", metered(probe.token)) },
	];
}

function metered(token) {
	return { token, headers: { "X-D1-Meter": "1" } };
}

/**
 * Runs every measured request REPEAT times on a fresh server, seeded with `size` when given;
 * returns name -> { read, written, trips, status }, each the set of values seen.
 */
async function measure(label, size) {
	console.error(`${label}: starting wrangler dev${size ? " (seeding first)" : ""}`);
	const server = await startWranglerDev(VARS, size ? { beforeStart: (state) => seed(state, size) } : {});
	try {
		const probe = await probeUser(server);
		const figures = new Map();
		for (const request of requests(probe)) {
			const seen = { read: new Set(), written: new Set(), trips: new Set(), status: new Set() };
			for (let i = 0; i < REPEAT; i++) {
				const { res } = await request.send(server);
				const read = res.headers.get("X-D1-Rows-Read");
				if (read === null) throw new Error(`${request.name}: no X-D1-Rows-Read (status ${res.status})`);
				seen.read.add(Number(read));
				seen.written.add(Number(res.headers.get("X-D1-Rows-Written")));
				seen.trips.add(Number(/d1;desc="(\d+)/.exec(res.headers.get("Server-Timing") ?? "")?.[1]));
				seen.status.add(res.status);
			}
			figures.set(request.name, seen);
		}
		return figures;
	} finally {
		await server.stop();
	}
}

/** A set of numbers as "n" or "min-max". */
const show = (values) => {
	const sorted = [...values].sort((a, b) => a - b);
	return sorted.length === 1 ? String(sorted[0]) : `${sorted[0]}-${sorted.at(-1)}`;
};

const tenth = { users: Math.round(USERS / 10), images: Math.round(IMAGES / 10) };
const runs = [
	{ label: "empty", figures: await measure("empty database", null) },
	{ label: `${tenth.users} users`, figures: await measure("a tenth of the seed", tenth) },
	{ label: `${USERS} users`, figures: await measure("the full seed", { users: USERS, images: IMAGES }) },
];

const [empty, small, full] = runs.map((run) => run.figures);
const lines = [
	`| request (status) | round trips | rows read: ${runs.map((run) => run.label).join(" / ")} | rows written: ${runs.map((run) => run.label).join(" / ")} |`,
	"|---|---|---|---|",
];
let grew = 0;
for (const name of empty.keys()) {
	const all = [empty, small, full].map((figures) => figures.get(name));
	const same = (key) => show(all[1][key]) === show(all[2][key]);
	const flat = same("read") && same("written");
	if (!flat) grew++;
	const row = (key) => all.map((seen) => show(seen[key])).join(" / ");
	lines.push(
		`| ${name} (${show(all[2].status)}) | ${show(all[2].trips)} | ${row("read")} | ${row("written")} |${flat ? "" : " **grew**"}`,
	);
}
console.log(`\nD1 rows per request (${REPEAT} runs each; a range means the runs differed)\n`);
console.log(lines.join("\n"));
console.log(
	grew === 0
		? `\nflat: every figure is the same with ${tenth.users} and ${USERS} users (${tenth.images} and ${IMAGES} images)`
		: `\n${grew} request(s) grew between ${tenth.users} and ${USERS} users`,
);
console.log(`\nDatabase size after seeding (local D1, before the probe): ${sizes.join("; ")}`);
process.exitCode = grew === 0 ? 0 : 1;
