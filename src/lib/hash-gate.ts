/** What a gate is doing right now, and since the isolate started. */
export type GateStats = {
	running: number;
	queued: number;
	peakRunning: number;
	peakQueued: number;
	completed: number;
	rejected: number;
};

/** Thrown by {@link Gate.run} when the queue is full; the caller answers "try again shortly". */
export class GateFullError extends Error {
	override name = "GateFullError";
}

/**
 * A per-isolate semaphore with a bounded queue: at most `maxRunning` tasks run at once, at most
 * `maxQueued` wait (first come, first served), and anything past that is refused at once rather
 * than piling up. Memory-heavy work (scrypt holds 16 MiB per hash) goes through one, so a burst
 * cannot take the isolate past its memory limit.
 */
export class Gate {
	readonly #maxRunning: number;
	readonly #maxQueued: number;
	#running = 0;
	readonly #waiting: (() => void)[] = [];
	readonly #stats: GateStats = { running: 0, queued: 0, peakRunning: 0, peakQueued: 0, completed: 0, rejected: 0 };

	constructor(maxRunning: number, maxQueued: number) {
		this.#maxRunning = maxRunning;
		this.#maxQueued = maxQueued;
	}

	/** Runs `task` when a slot is free; rejects with GateFullError when the queue is full. */
	async run<T>(task: () => Promise<T>): Promise<T> {
		if (this.#running >= this.#maxRunning) {
			if (this.#waiting.length >= this.#maxQueued) {
				this.#stats.rejected++;
				throw new GateFullError("too many tasks waiting");
			}
			await new Promise<void>((resolve) => {
				this.#waiting.push(resolve);
				this.#stats.peakQueued = Math.max(this.#stats.peakQueued, this.#waiting.length);
			});
		} else {
			this.#running++;
		}
		this.#stats.peakRunning = Math.max(this.#stats.peakRunning, this.#running);
		try {
			return await task();
		} finally {
			this.#stats.completed++;
			const next = this.#waiting.shift();
			// The slot passes straight to the next waiter, so `running` never dips while work is queued.
			if (next) next();
			else this.#running--;
		}
	}

	/** A snapshot of the counters. */
	stats(): GateStats {
		return { ...this.#stats, running: this.#running, queued: this.#waiting.length };
	}
}
