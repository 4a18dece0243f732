// The load and its measurement: autocannon runs with the Worker's CPU sampled around each, in
// alternating rounds per group of endpoints.
import os from "node:os";
import autocannon from "autocannon";
import { cpuMsOf, machineTicks, ticksOf, treeTicks } from "./cpu.mjs";
import { call, roundTrips, sleep } from "./http.mjs";
import { currentWorkerPids } from "./launch.mjs";
import { CONNECTIONS, DURATION, HEAVY_AMOUNT, HEAVY_ROUNDS, MIB, ROUNDS, WARMUP } from "./settings.mjs";

/** Keeps the first unexpected answer's body, to say what went wrong. */
function noteUnexpected(endpoint, status, body) {
	if (status !== endpoint.status) endpoint.unexpectedBody ??= `${status}: ${String(body).slice(0, 300)}`;
}

/**
 * autocannon options for one run: `{ duration }` in seconds or `{ amount }` requests in all.
 * Endpoints whose requests cannot repeat take a fresh body per request (autocannon setupRequest):
 * `fresh` (a unique sign-up), `draw` (an mfa_token or passkey assertion from a pool) or `chain` (a
 * rotating refresh token).
 */
export function cannonOptions(endpoint, url, length) {
	const options = {
		url: new URL(endpoint.path, url).href,
		connections: CONNECTIONS,
		pipelining: 1,
		...length,
		method: endpoint.method,
		headers: endpoint.headers,
		body: endpoint.body,
	};
	const request = { method: endpoint.method, path: endpoint.path, headers: endpoint.headers };
	if (endpoint.fresh) {
		return {
			...options,
			body: undefined,
			requests: [
				{
					...request,
					setupRequest: (req) => ({ ...req, body: endpoint.fresh() }),
					onResponse: (status, body) => noteUnexpected(endpoint, status, body),
				},
			],
		};
	}
	if (endpoint.heavy) {
		// Few and slow: keep the first unexpected answer's body.
		return {
			...options,
			requests: [
				{ ...request, body: endpoint.body, onResponse: (status, body) => noteUnexpected(endpoint, status, body) },
			],
		};
	}
	if (endpoint.draw) {
		const pool = endpoint.draw;
		return {
			...options,
			body: undefined,
			requests: [
				{
					...request,
					setupRequest(req, context) {
						const drawn = pool.take();
						// None left: a request that cannot work, counted as an unexpected status.
						if (!drawn) return { ...req, body: JSON.stringify({ mfa_token: "pool-ran-dry", code: "000000" }) };
						context.user = drawn.user;
						return { ...req, body: drawn.body };
					},
					onResponse(status, body, context) {
						noteUnexpected(endpoint, status, body);
						if (context.user) pool.give(context.user);
					},
				},
			],
		};
	}
	if (!endpoint.chain) return options;
	// autocannon resets a connection's context after every request, so the chains share one pool of
	// live tokens instead: each request takes one, each answer puts its successor back. With at
	// least one token per connection the pool never runs dry; a failed rotation drops its chain.
	const pool = endpoint.chain;
	return {
		...options,
		body: undefined,
		requests: [
			{
				...request,
				setupRequest(req) {
					// An empty pool sends a token that cannot work: counted as unexpected statuses, not a crash.
					const token = pool.shift() ?? "pool-ran-dry";
					return { ...req, body: JSON.stringify({ refresh_token: token }) };
				},
				onResponse(status, body) {
					if (status === 200) pool.push(JSON.parse(body).refresh_token);
				},
			},
		],
	};
}

function cannon(options) {
	return new Promise((resolve, reject) => {
		autocannon(options, (error, result) => (error ? reject(error) : resolve(result)));
	});
}

/** Waits until the processes stop burning CPU (requests left over from the warm-up are done). */
async function waitIdle(pids) {
	const total = () => pids.reduce((sum, pid) => sum + ticksOf(pid), 0);
	let last = total();
	for (let i = 0; i < 100; i++) {
		await sleep(200);
		const now = total();
		if (now - last <= 1) return;
		last = now;
	}
}

/** One autocannon run with CPU sampled around it. */
async function sample(endpoint, worker, run, note) {
	const pids = currentWorkerPids(worker, note);
	await waitIdle([...pids, worker.proxyPid]);
	const machineBefore = machineTicks();
	const treeBefore = treeTicks();
	const workerBefore = pids.reduce((sum, pid) => sum + ticksOf(pid), 0);
	const proxyBefore = ticksOf(worker.proxyPid);
	const startedAt = performance.now();
	const result = await cannon(cannonOptions(endpoint, worker.url, run));
	// autocannon reports whole seconds: 10 requests in 1.4 s or 1.6 s would both read "1 s" or "2 s".
	const seconds = (performance.now() - startedAt) / 1000;
	const workerTicks = pids.reduce((sum, pid) => sum + ticksOf(pid), 0) - workerBefore;
	const proxyTicks = ticksOf(worker.proxyPid) - proxyBefore;
	const treeDelta = treeTicks() - treeBefore;
	const machineAfter = machineTicks();
	return {
		result,
		seconds,
		workerTicks,
		proxyTicks,
		otherTicks: Math.max(0, machineAfter.busy - machineBefore.busy - treeDelta),
		machineTicks: machineAfter.total - machineBefore.total,
	};
}

/** The figures of one endpoint from one or more samples (summed; latency: mean of the p50s, worst p99). */
function combine(endpoint, samples) {
	const sum = (pick) => samples.reduce((total, s) => total + pick(s), 0);
	const requests = sum((s) => s.result.requests.total);
	const duration = sum((s) => s.seconds);
	const statusCodes = {};
	for (const s of samples) {
		for (const [code, stat] of Object.entries(s.result.statusCodeStats)) {
			statusCodes[code] = (statusCodes[code] ?? 0) + stat.count;
		}
	}
	const cpuMs = (ticks) => cpuMsOf(ticks, requests);
	return {
		requests,
		rps: requests / duration,
		latency_ms: {
			p50: sum((s) => s.result.latency.p50) / samples.length,
			p99: Math.max(...samples.map((s) => s.result.latency.p99)),
		},
		throughput_mib_s: sum((s) => s.result.throughput.total) / duration / MIB,
		unexpected_status: requests - (statusCodes[String(endpoint.status)] ?? 0),
		errors: sum((s) => s.result.errors),
		timeouts: sum((s) => s.result.timeouts),
		status_codes: statusCodes,
		cpu_ms_per_request: cpuMs(sum((s) => s.workerTicks)),
		proxy_cpu_ms_per_request: cpuMs(sum((s) => s.proxyTicks)),
		// Everything else that ran on the machine meanwhile (other engineers' tests): noise indicator.
		other_load_cores: (sum((s) => s.otherTicks) / sum((s) => s.machineTicks)) * os.cpus().length,
		duration_s: duration,
		samples: samples.length,
		retries: sum((s) => s.retries ?? 0),
		sample_cpu_ms_per_request: samples.map((s) => cpuMsOf(s.workerTicks, s.result.requests.total)),
		sample_rps: samples.map((s) => s.result.requests.total / s.seconds),
	};
}

/**
 * A sample in which every answer had the expected status. wrangler's proxy answers 503 when the
 * runtime restarts under it (it should not, but the machine is shared), and such a run is retried
 * up to twice; a run that still fails is kept and shows its unexpected statuses in the report.
 */
async function cleanSample(endpoint, worker, run, note) {
	let taken;
	for (let attempt = 0; attempt < 3; attempt++) {
		taken = await sample(endpoint, worker, run, note);
		taken.retries = attempt;
		const expected = taken.result.statusCodeStats[String(endpoint.status)]?.count ?? 0;
		if (expected === taken.result.requests.total) break;
		const why = endpoint.unexpectedBody ? ` (${endpoint.unexpectedBody})` : "";
		note(
			`     ${endpoint.id}: unexpected statuses ${JSON.stringify(taken.result.statusCodeStats)}${why}, running it again`,
		);
	}
	return taken;
}

/**
 * One group of endpoints: a warm-up for each, then alternating rounds. Timed rounds split DURATION;
 * the password-hashing endpoints take a good part of a second each, so they run a fixed number of
 * requests per round, all of them finished, and no request cut off at the end of a timed run skews
 * their CPU per request.
 */
export async function measureGroup(members, note) {
	const heavy = members.some(({ endpoint }) => endpoint.heavy || endpoint.amount);
	const warmup = heavy ? { amount: CONNECTIONS } : WARMUP > 0 ? { duration: WARMUP } : null;
	const rounds = heavy ? HEAVY_ROUNDS : ROUNDS;
	const run = (endpoint) => (heavy ? { amount: endpoint.amount ?? HEAVY_AMOUNT } : { duration: DURATION / ROUNDS });
	if (warmup) {
		for (const { endpoint, worker } of members) await cannon(cannonOptions(endpoint, worker.url, warmup));
	}
	const samples = members.map(() => []);
	for (let round = 0; round < rounds; round++) {
		for (const [i, { endpoint, worker }] of members.entries()) {
			samples[i].push(await cleanSample(endpoint, worker, run(endpoint), note));
		}
	}
	return members.map(({ endpoint }, i) => combine(endpoint, samples[i]));
}

/**
 * One request before the run: checks the status and reads the D1 round trips it reports (Atrium in
 * local development; the Better Auth peer when asked with x-count-d1). The bare baseline reports none.
 */
export async function probe(endpoint, worker) {
	let body = endpoint.body;
	if (endpoint.chain) body = JSON.stringify({ refresh_token: endpoint.chain.shift() });
	const drawn = endpoint.draw?.take();
	if (endpoint.draw) body = drawn?.body;
	if (endpoint.fresh) body = endpoint.fresh();
	const res = await call(worker.url, endpoint.method, endpoint.path, {
		headers: { ...endpoint.headers, "x-count-d1": "1" },
		body,
		expect: endpoint.status,
	});
	if (endpoint.chain) endpoint.chain.push(res.json().refresh_token);
	if (drawn) endpoint.draw.give(drawn.user);
	return roundTrips(res.headers);
}
