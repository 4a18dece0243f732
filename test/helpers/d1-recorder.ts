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
