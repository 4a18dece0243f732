// Plain HTTP helpers of the bench (Node's fetch), outside the measured runs.

/** One request; throws when `expect` is given and the status differs. */
export async function call(base, method, pathname, { headers = {}, body, expect } = {}) {
	const res = await fetch(new URL(pathname, base), { method, headers, body });
	const buffer = Buffer.from(await res.arrayBuffer());
	if (expect !== undefined && res.status !== expect) {
		throw new Error(`${method} ${pathname}: expected ${expect}, got ${res.status}: ${buffer.toString("utf8", 0, 500)}`);
	}
	return { status: res.status, headers: res.headers, buffer, json: () => JSON.parse(buffer.toString("utf8")) };
}

/** D1 round trips a response reports (`Server-Timing: d1;desc="N round trips"`), or null. */
export function roundTrips(headers) {
	const match = /d1;desc="(\d+) round trips?"/.exec(headers.get("server-timing") ?? "");
	return match ? Number(match[1]) : null;
}

/** Runs `task` over `items`, at most `limit` at a time. */
export async function inParallel(items, limit, task) {
	const results = new Array(items.length);
	let next = 0;
	const lane = async () => {
		while (next < items.length) {
			const i = next++;
			results[i] = await task(items[i], i);
		}
	};
	await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
	return results;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
