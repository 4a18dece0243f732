import { env } from "cloudflare:workers";
import { vi } from "vitest";

/** Which D1 handle prepared a statement: the binding itself, or a `withSession` handle (a replica may answer). */
export type D1Handle = "primary" | "session";

export type RecordedStatement = { sql: string; handle: D1Handle };

export type D1Recorder = {
	/** Every statement prepared since the recorder started (or was last cleared), in order. */
	readonly statements: RecordedStatement[];
	clear(): void;
	restore(): void;
};

/**
 * Records every SQL statement prepared in this isolate on the D1 binding or on any of its
 * sessions. The Worker under test runs in the test's own isolate, so wrapping the runtime's
 * `prepare` methods sees each statement the app sends, whichever code path built it, without
 * the app knowing. Batches consist of prepared statements, so they are covered too.
 */
export function recordD1(): D1Recorder {
	const statements: RecordedStatement[] = [];
	const databaseProto: Pick<D1Database, "prepare"> = Object.getPrototypeOf(env.DB);
	const sessionProto: Pick<D1DatabaseSession, "prepare"> = Object.getPrototypeOf(env.DB.withSession());
	const prepareOnDatabase = databaseProto.prepare;
	const prepareOnSession = sessionProto.prepare;
	const spies = [
		vi.spyOn(databaseProto, "prepare").mockImplementation(function (this: D1Database, query: string) {
			statements.push({ sql: query, handle: "primary" });
			return prepareOnDatabase.call(this, query);
		}),
		vi.spyOn(sessionProto, "prepare").mockImplementation(function (this: D1DatabaseSession, query: string) {
			statements.push({ sql: query, handle: "session" });
			return prepareOnSession.call(this, query);
		}),
	];
	return {
		statements,
		clear: () => {
			statements.length = 0;
		},
		restore: () => {
			for (const spy of spies) spy.mockRestore();
		},
	};
}

/** What a test puts in place of `prepare`: gets the query and the original `prepare` of the handle used. */
export type PrepareInterceptor = (
	query: string,
	prepare: (query: string) => D1PreparedStatement,
) => D1PreparedStatement;

/**
 * Replaces `prepare` on the D1 binding and on every D1 session with `intercept`, for fault
 * injection: the app sends its writes and stale-tolerant reads through a per-request session
 * (src/db/client.ts), so spying on `env.DB.prepare` alone would miss them. Returns the restore
 * function; `vi.restoreAllMocks()` restores it as well.
 */
export function interceptPrepare(intercept: PrepareInterceptor): () => void {
	const sessionProto: Pick<D1DatabaseSession, "prepare"> = Object.getPrototypeOf(env.DB.withSession());
	// A second interceptor replaces the first instead of wrapping it.
	for (const method of [env.DB.prepare, sessionProto.prepare]) if (vi.isMockFunction(method)) method.mockRestore();
	const prepareOnSession = sessionProto.prepare;
	const prepareOnDatabase = env.DB.prepare.bind(env.DB);
	const spies = [
		vi.spyOn(env.DB, "prepare").mockImplementation((query: string) => intercept(query, prepareOnDatabase)),
		vi.spyOn(sessionProto, "prepare").mockImplementation(function (this: D1DatabaseSession, query: string) {
			return intercept(query, (sql) => prepareOnSession.call(this, sql));
		}),
	];
	return () => {
		for (const spy of spies) spy.mockRestore();
	};
}

/**
 * Makes the next D1 batch, on the binding or on any session, reject with `error` as an outage
 * would, before it takes effect. `vi.restoreAllMocks()` undoes it.
 */
export function failNextBatch(error: Error): void {
	const sessionProto: Pick<D1DatabaseSession, "batch"> = Object.getPrototypeOf(env.DB.withSession());
	// A second call replaces the first one's spies instead of wrapping them.
	for (const method of [env.DB.batch, sessionProto.batch]) if (vi.isMockFunction(method)) method.mockRestore();
	const batchOnSession = sessionProto.batch;
	const batchOnDatabase = env.DB.batch.bind(env.DB);
	let failed = false;
	const failOnce = <T>(batch: () => Promise<D1Result<T>[]>): Promise<D1Result<T>[]> => {
		if (failed) return batch();
		failed = true;
		return Promise.reject(error);
	};
	vi.spyOn(env.DB, "batch").mockImplementation((statements) => failOnce(() => batchOnDatabase(statements)));
	vi.spyOn(sessionProto, "batch").mockImplementation(function (this: D1DatabaseSession, statements) {
		return failOnce(() => batchOnSession.call(this, statements));
	});
}
