import { AsyncLocalStorage } from "node:async_hooks";
import { drizzle } from "drizzle-orm/d1";
import * as schema from "./schema";

/** Counts D1 round trips of one request: every statement sent on its own, and every batch as one. */
export type QueryCounter = { roundTrips: number };

// drizzle() walks the whole schema to build its relational config: about a tenth of the CPU of a
// `GET /v1/me` when done per request. One instance per binding is built once per isolate instead.
const plain = new WeakMap<D1Database, Database>();
const counting = new WeakMap<D1Database, Database>();
const currentCounter = new AsyncLocalStorage<QueryCounter>();

/** Drizzle over the D1 binding, built once per binding and isolate. */
export function createDb(d1: D1Database): Database {
	let db = plain.get(d1);
	if (!db) {
		db = drizzle(d1, { schema });
		plain.set(d1, db);
	}
	return db;
}

export type Database = ReturnType<typeof drizzle<typeof schema, D1Database>>;

/**
 * Local development only (see `serverTiming`): like `createDb`, but every round trip made while
 * `countRoundTrips` runs is added to its counter. Production never builds this wrapper.
 */
export function createCountingDb(d1: D1Database): Database {
	let db = counting.get(d1);
	if (!db) {
		db = drizzle(new CountingD1(d1), { schema });
		counting.set(d1, db);
	}
	return db;
}

/** Runs `fn` with D1 round trips made through `createCountingDb` (and its async continuations) counted. */
export function countRoundTrips<T>(counter: QueryCounter, fn: () => T): T {
	return currentCounter.run(counter, fn);
}

function countOne(): void {
	const counter = currentCounter.getStore();
	if (counter) counter.roundTrips++;
}

class CountingD1 implements D1Database {
	constructor(private readonly inner: D1Database) {}

	prepare(query: string): D1PreparedStatement {
		return new CountingStatement(this.inner.prepare(query));
	}

	batch<T = unknown>(statements: D1PreparedStatement[]): Promise<D1Result<T>[]> {
		countOne();
		// The binding only accepts its own statements.
		const own = statements.map((statement) => (statement instanceof CountingStatement ? statement.inner : statement));
		return this.inner.batch<T>(own);
	}

	exec(query: string): Promise<D1ExecResult> {
		countOne();
		return this.inner.exec(query);
	}

	withSession(constraintOrBookmark?: D1SessionBookmark | D1SessionConstraint): D1DatabaseSession {
		return this.inner.withSession(constraintOrBookmark);
	}

	dump(): Promise<ArrayBuffer> {
		return this.inner.dump();
	}
}

class CountingStatement implements D1PreparedStatement {
	constructor(readonly inner: D1PreparedStatement) {}

	bind(...values: unknown[]): D1PreparedStatement {
		return new CountingStatement(this.inner.bind(...values));
	}

	first<T = unknown>(colName: string): Promise<T | null>;
	first<T = Record<string, unknown>>(): Promise<T | null>;
	first<T>(colName?: string): Promise<T | null> {
		countOne();
		return colName === undefined ? this.inner.first<T>() : this.inner.first<T>(colName);
	}

	run<T = Record<string, unknown>>(): Promise<D1Result<T>> {
		countOne();
		return this.inner.run<T>();
	}

	all<T = Record<string, unknown>>(): Promise<D1Result<T>> {
		countOne();
		return this.inner.all<T>();
	}

	raw<T = unknown[]>(options: { columnNames: true }): Promise<[string[], ...T[]]>;
	raw<T = unknown[]>(options?: { columnNames?: false }): Promise<T[]>;
	raw<T = unknown[]>(options?: { columnNames?: boolean }): Promise<[string[], ...T[]] | T[]> {
		countOne();
		return options?.columnNames ? this.inner.raw<T>({ columnNames: true }) : this.inner.raw<T>();
	}
}
