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
 * `maxQueued` wait, and anything past that is refused at once rather than piling up. Memory-heavy
 * work (scrypt holds 16 MiB per hash) goes through one, so a burst cannot take the isolate past its
 * memory limit or hold its other requests behind every queued hash.
 *
 * Waiters poll (every `pollMs`) instead of being woken by the task that frees a slot: in workerd a
 * promise resolved from another request's context does not wake its waiter once that request has
 * finished (the runtime cancels the waiter as hung), so each request only ever waits on its own
 * timers. Order among waiters is therefore not strictly first come, first served.
 */
export class Gate {
	readonly #maxRunning: number;
	readonly #maxQueued: number;
	readonly #pollMs: number;
	#running = 0;
	#waiting = 0;
	readonly #stats: GateStats = { running: 0, queued: 0, peakRunning: 0, peakQueued: 0, completed: 0, rejected: 0 };

	constructor(maxRunning: number, maxQueued: number, pollMs = 10) {
		this.#maxRunning = maxRunning;
		this.#maxQueued = maxQueued;
		this.#pollMs = pollMs;
	}

	/** Runs `task` when a slot is free; rejects with GateFullError when the queue is full. */
	async run<T>(task: () => Promise<T>): Promise<T> {
		if (this.#running >= this.#maxRunning) {
			if (this.#waiting >= this.#maxQueued) {
				this.#stats.rejected++;
				throw new GateFullError("too many tasks waiting");
			}
			this.#waiting++;
			this.#stats.peakQueued = Math.max(this.#stats.peakQueued, this.#waiting);
			try {
				while (this.#running >= this.#maxRunning) {
					await new Promise((resolve) => setTimeout(resolve, this.#pollMs));
				}
			} finally {
				this.#waiting--;
			}
		}
		this.#running++;
		this.#stats.peakRunning = Math.max(this.#stats.peakRunning, this.#running);
		try {
			return await task();
		} finally {
			this.#running--;
			this.#stats.completed++;
		}
	}

	/** A snapshot of the counters. */
	stats(): GateStats {
		return { ...this.#stats, running: this.#running, queued: this.#waiting };
	}
}
