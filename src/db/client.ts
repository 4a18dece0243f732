import { AsyncLocalStorage } from "node:async_hooks";
import { drizzle } from "drizzle-orm/d1";
import * as schema from "./schema";

export type Database = ReturnType<typeof drizzle<typeof schema, D1Database>>;

/**
 * D1 use of one request: round trips (every statement sent on its own, and every batch as one),
 * and with `rows` present also the rows D1 reports read and written (its billing units).
 */
export type QueryCounter = { roundTrips: number; rows?: { read: number; written: number } };

/** The D1 session of the request being served, for the binding it was opened on. */
type RequestSession = { d1: D1Database; session: D1DatabaseSession };

// drizzle() walks the whole schema to build its relational config: about a tenth of the CPU of a
// `GET /v1/me` when done per request. So each instance is built once per binding and isolate, and
// the request's D1 session is found through AsyncLocalStorage rather than baked into an instance.
const primaryDbs = new WeakMap<D1Database, Database>();
const readDbs = new WeakMap<D1Database, Database>();
const countingPrimaryDbs = new WeakMap<D1Database, Database>();
const countingReadDbs = new WeakMap<D1Database, Database>();
const currentSession = new AsyncLocalStorage<RequestSession>();
const currentCounter = new AsyncLocalStorage<QueryCounter>();

function cached(cache: WeakMap<D1Database, Database>, d1: D1Database, client: () => D1Database): Database {
	let db = cache.get(d1);
	if (!db) {
		db = drizzle(client(), { schema });
		cache.set(d1, db);
	}
	return db;
}

/**
 * Drizzle for reads that must be current and for every write: reads always go to the primary
 * (authentication, revocation, read-then-write). Inside `withD1Session`, writes are sent through
 * the request's session (D1 forwards them to the primary as well) so the session's bookmark covers
 * them, and a client sending that bookmark back reads its own writes from any replica.
 */
export function createDb(d1: D1Database): Database {
	return cached(primaryDbs, d1, () => new PrimaryD1(d1));
}

/**
 * Drizzle for reads that may be slightly stale (lists, metadata): inside `withD1Session` they go
 * through the request's session, which D1 may serve from a read replica at least as fresh as the
 * session's bookmark. Outside one (cron, scripts) it is the primary.
 */
export function createReadDb(d1: D1Database): Database {
	return cached(readDbs, d1, () => new SessionD1(d1));
}

/** Runs `fn` (and its async continuations) with `session` as the D1 session of `d1`'s databases. */
export function withD1Session<T>(d1: D1Database, session: D1DatabaseSession, fn: () => T): T {
	return currentSession.run({ d1, session }, fn);
}

// The shape D1 gives its bookmarks (local D1 included): three 8-digit hex groups and a 32-digit one.
const BOOKMARK = /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}$/i;

/**
 * Where a request's session starts: the client's bookmark when it is one, else anywhere
 * (`first-unconstrained`). Anything else a client sends is ignored rather than handed to D1.
 */
export function sessionStart(header: string | undefined): D1SessionBookmark | D1SessionConstraint {
	const bookmark = header?.trim();
	return bookmark && BOOKMARK.test(bookmark) ? bookmark : "first-unconstrained";
}

function sessionOf(d1: D1Database): D1DatabaseSession | null {
	const store = currentSession.getStore();
	return store?.d1 === d1 ? store.session : null;
}

// Statements that change the database; anything else is treated as a read. An unrecognized write
// would only be sent straight to the primary (correct, just not reflected in the bookmark).
const WRITE = /^\s*(?:insert|update|delete|replace)\b/i;

/** Every statement through the request's session when there is one, otherwise the binding. */
class SessionD1 implements D1Database {
	constructor(private readonly d1: D1Database) {}

	private handle(): D1Database | D1DatabaseSession {
		return sessionOf(this.d1) ?? this.d1;
	}

	prepare(query: string): D1PreparedStatement {
		return this.handle().prepare(query);
	}

	batch<T = unknown>(statements: D1PreparedStatement[]): Promise<D1Result<T>[]> {
		return this.handle().batch<T>(statements);
	}

	exec(query: string): Promise<D1ExecResult> {
		return this.d1.exec(query);
	}

	withSession(constraintOrBookmark?: D1SessionBookmark | D1SessionConstraint): D1DatabaseSession {
		return this.d1.withSession(constraintOrBookmark);
	}

	dump(): Promise<ArrayBuffer> {
		return this.d1.dump();
	}
}

/**
 * Reads on the binding (always the primary), writes through the request's session when there is
 * one. Which handle runs a statement is decided when it runs, from its SQL, so a batch goes to
 * the session exactly when one of its statements writes (D1 then runs all of it on the primary).
 */
class PrimaryD1 implements D1Database {
	constructor(private readonly d1: D1Database) {}

	handleFor(writes: boolean): D1Database | D1DatabaseSession {
		return (writes && sessionOf(this.d1)) || this.d1;
	}

	prepare(query: string): D1PreparedStatement {
		return new RoutedStatement(this, query, WRITE.test(query), []);
	}

	batch<T = unknown>(statements: D1PreparedStatement[]): Promise<D1Result<T>[]> {
		const routed = statements.map((statement) => {
			if (!(statement instanceof RoutedStatement)) throw new TypeError("batch() takes statements from this database");
			return statement;
		});
		const handle = this.handleFor(routed.some((statement) => statement.writes));
		return handle.batch<T>(routed.map((statement) => statement.on(handle)));
	}

	exec(query: string): Promise<D1ExecResult> {
		return this.d1.exec(query);
	}

	withSession(constraintOrBookmark?: D1SessionBookmark | D1SessionConstraint): D1DatabaseSession {
		return this.d1.withSession(constraintOrBookmark);
	}

	dump(): Promise<ArrayBuffer> {
		return this.d1.dump();
	}
}

/** A statement of `PrimaryD1`: SQL and parameters, prepared on the right handle when it runs. */
class RoutedStatement implements D1PreparedStatement {
	constructor(
		private readonly db: PrimaryD1,
		private readonly query: string,
		readonly writes: boolean,
		private readonly values: unknown[],
	) {}

	/** This statement prepared and bound on `handle`. */
	on(handle: D1Database | D1DatabaseSession): D1PreparedStatement {
		const statement = handle.prepare(this.query);
		return this.values.length > 0 ? statement.bind(...this.values) : statement;
	}

	private prepared(): D1PreparedStatement {
		return this.on(this.db.handleFor(this.writes));
	}

	bind(...values: unknown[]): D1PreparedStatement {
		return new RoutedStatement(this.db, this.query, this.writes, values);
	}

	first<T = unknown>(colName: string): Promise<T | null>;
	first<T = Record<string, unknown>>(): Promise<T | null>;
	first<T>(colName?: string): Promise<T | null> {
		const statement = this.prepared();
		return colName === undefined ? statement.first<T>() : statement.first<T>(colName);
	}

	run<T = Record<string, unknown>>(): Promise<D1Result<T>> {
		return this.prepared().run<T>();
	}

	all<T = Record<string, unknown>>(): Promise<D1Result<T>> {
		return this.prepared().all<T>();
	}

	raw<T = unknown[]>(options: { columnNames: true }): Promise<[string[], ...T[]]>;
	raw<T = unknown[]>(options?: { columnNames?: false }): Promise<T[]>;
	raw<T = unknown[]>(options?: { columnNames?: boolean }): Promise<[string[], ...T[]] | T[]> {
		const statement = this.prepared();
		return options?.columnNames ? statement.raw<T>({ columnNames: true }) : statement.raw<T>();
	}
}

/**
 * Local development only (see `serverTiming`): like `createDb`, but the D1 use of statements made
 * while `countRoundTrips` runs is added to its counter. Production never builds this wrapper.
 */
export function createCountingDb(d1: D1Database): Database {
	return cached(countingPrimaryDbs, d1, () => new CountingD1(new PrimaryD1(d1)));
}

/** Local development only: `createReadDb` with the counting of `createCountingDb`. */
export function createCountingReadDb(d1: D1Database): Database {
	return cached(countingReadDbs, d1, () => new CountingD1(new SessionD1(d1)));
}

/** Runs `fn` with D1 use through the counting databases (and its async continuations) counted. */
export function countRoundTrips<T>(counter: QueryCounter, fn: () => T): T {
	return currentCounter.run(counter, fn);
}

function countOne(): QueryCounter | undefined {
	const counter = currentCounter.getStore();
	if (counter) counter.roundTrips++;
	return counter;
}

function addRows(counter: QueryCounter | undefined, ...results: D1Result<unknown>[]): void {
	if (!counter?.rows) return;
	for (const { meta } of results) {
		counter.rows.read += meta.rows_read;
		counter.rows.written += meta.rows_written;
	}
}

class CountingD1 implements D1Database {
	constructor(private readonly inner: D1Database) {}

	prepare(query: string): D1PreparedStatement {
		return new CountingStatement(this.inner.prepare(query), query);
	}

	async batch<T = unknown>(statements: D1PreparedStatement[]): Promise<D1Result<T>[]> {
		const counter = countOne();
		// The binding only accepts its own statements.
		const own = statements.map((statement) => (statement instanceof CountingStatement ? statement.inner : statement));
		const results = await this.inner.batch<T>(own);
		addRows(counter, ...results);
		return results;
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

/**
 * Counts like D1 bills. `first()` and `raw()` do not return D1's `meta`, so when rows are metered
 * `first()` runs as `all()` (D1 reads the same rows either way), a write's `raw()` runs as `all()`
 * with its one-table RETURNING columns put back in order, and a read's `raw()` also runs once as
 * `all()` for the figures (a join's columns may share names, which `all()` would merge).
 */
class CountingStatement implements D1PreparedStatement {
	constructor(
		readonly inner: D1PreparedStatement,
		private readonly query: string,
	) {}

	bind(...values: unknown[]): D1PreparedStatement {
		return new CountingStatement(this.inner.bind(...values), this.query);
	}

	first<T = unknown>(colName: string): Promise<T | null>;
	first<T = Record<string, unknown>>(): Promise<T | null>;
	async first<T>(colName?: string): Promise<T | null> {
		const counter = countOne();
		if (!counter?.rows) return colName === undefined ? this.inner.first<T>() : this.inner.first<T>(colName);
		const result = await this.inner.all<Record<string, T>>();
		addRows(counter, result);
		const row = result.results[0];
		if (!row) return null;
		return colName === undefined ? (row as T) : (row[colName] ?? null);
	}

	async run<T = Record<string, unknown>>(): Promise<D1Result<T>> {
		const counter = countOne();
		const result = await this.inner.run<T>();
		addRows(counter, result);
		return result;
	}

	async all<T = Record<string, unknown>>(): Promise<D1Result<T>> {
		const counter = countOne();
		const result = await this.inner.all<T>();
		addRows(counter, result);
		return result;
	}

	raw<T = unknown[]>(options: { columnNames: true }): Promise<[string[], ...T[]]>;
	raw<T = unknown[]>(options?: { columnNames?: false }): Promise<T[]>;
	async raw<T = unknown[]>(options?: { columnNames?: boolean }): Promise<[string[], ...T[]] | T[]> {
		const counter = countOne();
		if (counter?.rows && WRITE.test(this.query) && !options?.columnNames) {
			const result = await this.inner.all<Record<string, unknown>>();
			addRows(counter, result);
			return result.results.map((row) => Object.values(row) as T);
		}
		if (counter?.rows) addRows(counter, await this.inner.all());
		return options?.columnNames ? this.inner.raw<T>({ columnNames: true }) : this.inner.raw<T>();
	}
}
