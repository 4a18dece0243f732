import { env } from "cloudflare:workers";
import { vi } from "vitest";

/** Which D1 handle prepared a statement: the binding itself, or a `withSession` handle (a replica may answer). */
export type D1Handle = "primary" | "session";

/** `batch`: the number of the `batch()` call that sent the statement (counted from 1), if one did. */
export type RecordedStatement = { sql: string; handle: D1Handle; batch?: number };

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
	const statementProto: Pick<D1PreparedStatement, "bind"> = Object.getPrototypeOf(env.DB.prepare("select 1"));
	const databaseBatchProto: Pick<D1Database, "batch"> = databaseProto as unknown as Pick<D1Database, "batch">;
	const sessionBatchProto: Pick<D1DatabaseSession, "batch"> = sessionProto as unknown as Pick<
		D1DatabaseSession,
		"batch"
	>;
	const prepareOnDatabase = databaseProto.prepare;
	const prepareOnSession = sessionProto.prepare;
	const bindStatement = statementProto.bind;
	const batchOnDatabase = databaseBatchProto.batch;
	const batchOnSession = sessionBatchProto.batch;
	// Which recorded statement a prepared (and bound) statement object came from, to mark batches.
	const origin = new WeakMap<object, RecordedStatement>();
	let batches = 0;
	const record = (statement: D1PreparedStatement, recorded: RecordedStatement) => {
		statements.push(recorded);
		origin.set(statement, recorded);
		return statement;
	};
	const markBatch = (batch: D1PreparedStatement[]) => {
		batches += 1;
		for (const statement of batch) {
			const recorded = origin.get(statement);
			if (recorded) recorded.batch = batches;
		}
	};
	const spies = [
		vi.spyOn(databaseProto, "prepare").mockImplementation(function (this: D1Database, query: string) {
			return record(prepareOnDatabase.call(this, query), { sql: query, handle: "primary" });
		}),
		vi.spyOn(sessionProto, "prepare").mockImplementation(function (this: D1DatabaseSession, query: string) {
			return record(prepareOnSession.call(this, query), { sql: query, handle: "session" });
		}),
		vi.spyOn(statementProto, "bind").mockImplementation(function (this: D1PreparedStatement, ...values: unknown[]) {
			const bound = bindStatement.apply(this, values);
			const recorded = origin.get(this);
			if (recorded) origin.set(bound, recorded);
			return bound;
		}),
		vi.spyOn(databaseBatchProto, "batch").mockImplementation(function (this: D1Database, batch: D1PreparedStatement[]) {
			markBatch(batch);
			return batchOnDatabase.call(this, batch);
		}),
		vi.spyOn(sessionBatchProto, "batch").mockImplementation(function (
			this: D1DatabaseSession,
			batch: D1PreparedStatement[],
		) {
			markBatch(batch);
			return batchOnSession.call(this, batch);
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
