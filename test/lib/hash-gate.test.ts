import { describe, expect, it } from "vitest";
import { Gate, GateFullError } from "../../src/lib/hash-gate";

function deferred() {
	let resolve: () => void = () => {};
	const promise = new Promise<void>((r) => {
		resolve = r;
	});
	return { promise, resolve };
}

describe("Gate (per-isolate semaphore with a bounded queue)", () => {
	it("happy: runs at most maxRunning tasks at once, then the waiting ones", async () => {
		const gate = new Gate(2, 10, 1);
		const order: number[] = [];
		let running = 0;
		let peak = 0;
		const blockers = Array.from({ length: 6 }, () => deferred());
		const tasks = blockers.map((blocker, i) =>
			gate.run(async () => {
				running++;
				peak = Math.max(peak, running);
				order.push(i);
				await blocker.promise;
				running--;
				return i;
			}),
		);
		await Promise.resolve();
		expect(gate.stats()).toMatchObject({ running: 2, queued: 4 });
		for (const blocker of blockers) {
			blocker.resolve();
			await new Promise((r) => setTimeout(r, 5));
		}
		expect(await Promise.all(tasks)).toEqual([0, 1, 2, 3, 4, 5]);
		expect([...order].sort()).toEqual([0, 1, 2, 3, 4, 5]);
		expect(order.slice(0, 2)).toEqual([0, 1]);
		expect(peak).toBe(2);
		expect(gate.stats()).toMatchObject({ running: 0, queued: 0, peakRunning: 2, completed: 6, rejected: 0 });
	});

	it("error: past the queue bound a task is refused at once, and a failing task frees its slot", async () => {
		const gate = new Gate(1, 1, 1);
		const hold = deferred();
		const first = gate.run(() => hold.promise);
		const second = gate.run(async () => "second");
		await expect(gate.run(async () => "third")).rejects.toBeInstanceOf(GateFullError);
		expect(gate.stats().rejected).toBe(1);
		hold.resolve();
		await first;
		expect(await second).toBe("second");
		await expect(gate.run(() => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
		expect(await gate.run(async () => "after")).toBe("after");
		expect(gate.stats()).toMatchObject({ running: 0, queued: 0 });
	});
});
