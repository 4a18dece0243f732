#!/usr/bin/env node
// `npm run bench:enumeration`: does answering take measurably longer for an email that has an
// account than for one that does not? For register, login, resend, forgot-password, magic-link and
// email change (a new address another account uses vs a free one) it sends
// interleaved pairs of requests (known address, unknown address) to a local `wrangler dev` and
// compares the median response times; a difference above the tolerance is an account-enumeration
// oracle. Standalone: it starts its own wrangler dev (own port, own state) and stops it.
//
// Requests are sent one at a time with a pause between them (ENUM_GAP_MS), so what is measured is
// each request's own time: resend and forgot mail a known address after the response (waitUntil),
// and without the pause that work would land on whichever request comes next.
//
// Knobs (environment): ENUM_SAMPLES (pairs per endpoint, default 200), ENUM_WARMUP (pairs,
// default 10), ENUM_GAP_MS (pause between requests, default 100), ENUM_TOLERANCE (relative
// difference of medians, default 0.10), ENUM_ONLY (comma-separated endpoint names). Exits 1 when
// an endpoint is over the tolerance.
import { randomBytes } from "node:crypto";
import { startWranglerDev, waitForOutput } from "../scripts/lib/wrangler-dev.mjs";

process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false";
const SAMPLES = Number(process.env.ENUM_SAMPLES ?? 200);
const WARMUP = Number(process.env.ENUM_WARMUP ?? 10);
const TOLERANCE = Number(process.env.ENUM_TOLERANCE ?? 0.1);
const GAP_MS = Number(process.env.ENUM_GAP_MS ?? 100);
const ONLY = process.env.ENUM_ONLY ? new Set(process.env.ENUM_ONLY.split(",")) : null;
const PASSWORD = "timing bench passphrase 1";
const LIFTED = "100000000/60";

const fresh = (tag) => `${tag}-${randomBytes(6).toString("hex")}@example.com`;

async function post(base, path, body, headers = {}) {
	const started = performance.now();
	const res = await fetch(`${base}${path}`, {
		method: "POST",
		headers: { "Content-Type": "application/json", ...headers },
		body: JSON.stringify(body),
	});
	await res.arrayBuffer();
	return { ms: performance.now() - started, status: res.status };
}

function quantile(values, q) {
	const sorted = [...values].sort((a, b) => a - b);
	const position = (sorted.length - 1) * q;
	const low = Math.floor(position);
	const high = Math.ceil(position);
	return sorted[low] + (sorted[high] - sorted[low]) * (position - low);
}

const server = await startWranglerDev({
	REQUEST_LOG: "off",
	// Hundreds of requests for one address from one client: every limit out of the way.
	RATE_LIMIT_LOGIN_ACCOUNT: LIFTED,
	RATE_LIMIT_LOGIN_IP: LIFTED,
	RATE_LIMIT_REGISTER_IP: LIFTED,
	RATE_LIMIT_MAIL_EMAIL: LIFTED,
	RATE_LIMIT_MAIL_IP: LIFTED,
	// The email-change samples share one login's access token: it must stay fresh throughout.
	FRESH_TOKEN_SECONDS: "86400",
	ACCESS_TOKEN_SECONDS: "86400",
});
const results = [];
try {
	const base = server.url;
	// A confirmed account (register, then the link the console transport prints) and an unconfirmed one.
	const confirmed = fresh("known");
	await post(base, "/v1/auth/register", { email: confirmed, password: PASSWORD });
	const [, token] = await waitForOutput(
		server,
		new RegExp(`To: ${confirmed}[\\s\\S]*?/v1/auth/confirm\\?token=([\\w-]+)`),
	);
	if ((await post(base, "/v1/auth/confirm", { token })).status !== 200)
		throw new Error("could not confirm the known account");
	const unconfirmed = fresh("pending");
	await post(base, "/v1/auth/register", { email: unconfirmed, password: PASSWORD });

	// One unknown address throughout where asking creates nothing (login, resend, forgot), so both
	// sides update their per-email rate-limit counter alike; register needs a new one each time.
	const nobody = fresh("nobody");
	// A second confirmed account asks to move to the known (taken) address or to a free one.
	const mover = fresh("mover");
	await post(base, "/v1/auth/register", { email: mover, password: PASSWORD });
	const [, moverToken] = await waitForOutput(
		server,
		new RegExp(`To: ${mover}[\\s\\S]*?/v1/auth/confirm\\?token=([\\w-]+)`),
	);
	if ((await post(base, "/v1/auth/confirm", { token: moverToken })).status !== 200)
		throw new Error("could not confirm the moving account");
	const signIn = await fetch(`${base}/v1/auth/login`, {
		method: "POST",
		headers: { "Content-Type": "application/json" },
		body: JSON.stringify({ email: mover, password: PASSWORD }),
	});
	const { access_token: moverAccess } = await signIn.json();
	const bearer = { Authorization: `Bearer ${moverAccess}` };
	const freeAddress = fresh("free");
	const endpoints = [
		{
			name: "register",
			path: "/v1/auth/register",
			known: () => ({ email: confirmed, password: PASSWORD }),
			unknown: () => ({ email: fresh("new"), password: PASSWORD }),
		},
		{
			name: "login",
			path: "/v1/auth/login",
			known: () => ({ email: confirmed, password: "not the password 1" }),
			unknown: () => ({ email: nobody, password: "not the password 1" }),
		},
		{
			name: "resend",
			path: "/v1/auth/confirm/resend",
			known: () => ({ email: unconfirmed }),
			unknown: () => ({ email: nobody }),
		},
		{
			name: "forgot",
			path: "/v1/auth/password/forgot",
			known: () => ({ email: confirmed }),
			unknown: () => ({ email: nobody }),
		},
		{
			// An unknown address gets a sign-up link (MAGIC_LINK_SIGNUP=on), a known one a sign-in link.
			name: "magic-link",
			path: "/v1/auth/magic-link",
			known: () => ({ email: confirmed }),
			unknown: () => ({ email: nobody }),
		},
		{
			name: "email-change",
			path: "/v1/me/email",
			headers: bearer,
			known: () => ({ new_email: confirmed }),
			unknown: () => ({ new_email: freeAddress }),
		},
	].filter((endpoint) => !ONLY || ONLY.has(endpoint.name));

	for (const endpoint of endpoints) {
		const known = [];
		const unknown = [];
		const statuses = new Set();
		for (let i = 0; i < WARMUP + SAMPLES; i++) {
			// Alternate which goes first, so drift and caching favour neither side.
			const order = i % 2 === 0 ? ["known", "unknown"] : ["unknown", "known"];
			for (const side of order) {
				await new Promise((resolve) => setTimeout(resolve, GAP_MS));
				const { ms, status } = await post(base, endpoint.path, endpoint[side](), endpoint.headers);
				statuses.add(`${side}:${status}`);
				if (i >= WARMUP) (side === "known" ? known : unknown).push(ms);
			}
		}
		const medians = { known: quantile(known, 0.5), unknown: quantile(unknown, 0.5) };
		const difference = Math.abs(medians.known - medians.unknown) / Math.min(medians.known, medians.unknown);
		results.push({
			endpoint: endpoint.name,
			samples: SAMPLES,
			statuses: [...statuses].sort().join(" "),
			known: { median: medians.known, p25: quantile(known, 0.25), p75: quantile(known, 0.75) },
			unknown: { median: medians.unknown, p25: quantile(unknown, 0.25), p75: quantile(unknown, 0.75) },
			difference,
			ok: difference <= TOLERANCE,
		});
		const last = results.at(-1);
		console.log(
			`${last.endpoint.padEnd(12)} known median ${last.known.median.toFixed(1).padStart(7)} ms ` +
				`(p25 ${last.known.p25.toFixed(1)}, p75 ${last.known.p75.toFixed(1)})  ` +
				`unknown median ${last.unknown.median.toFixed(1).padStart(7)} ms ` +
				`(p25 ${last.unknown.p25.toFixed(1)}, p75 ${last.unknown.p75.toFixed(1)})  ` +
				`difference ${(difference * 100).toFixed(1)}% ${last.ok ? "ok" : `OVER ${TOLERANCE * 100}%`}  [${last.statuses}]`,
		);
	}
} finally {
	await server.stop();
}
const failed = results.filter((result) => !result.ok);
console.log(
	failed.length === 0
		? `all ${results.length} endpoints within ${TOLERANCE * 100}% (${SAMPLES} pairs each)`
		: `over the tolerance: ${failed.map((result) => result.endpoint).join(", ")}`,
);
process.exit(failed.length === 0 ? 0 : 1);
