import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
	appliedNames,
	columnNames,
	dropEverything,
	rollbackAll,
	rollbackStep,
	rowsOf,
	schemaState,
	seedEveryTable,
	tableNames,
} from "./database";

// These tests run against the real local D1 of the Workers pool, with the same SQL files that
// `wrangler d1 migrations apply` and `npm run db:rollback` run. test/setup.ts has applied every up
// migration before the first test; the first test undoes that with the down migrations, and every
// later test starts from an empty database of its own making (storage is shared within this file).
const db = env.DB;
const ups = env.TEST_MIGRATIONS;
const downs = env.TEST_DOWN_MIGRATIONS;
const downOf = (name: string) => {
	const down = downs.find((migration) => migration.name === name);
	if (!down) throw new Error(`No down migration for ${name}`);
	return down;
};

/** An empty database with exactly the first `count` up migrations applied. */
async function databaseAt(count: number): Promise<void> {
	await dropEverything(db);
	await applyD1Migrations(db, ups.slice(0, count));
}

const pick = (row: Record<string, unknown>, columns: string[]) =>
	Object.fromEntries(columns.map((column) => [column, row[column]]));
const sortRows = (rows: Record<string, unknown>[]) =>
	[...rows].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

describe("happy path", () => {
	it("rolls the fully migrated database down to empty, newest migration first", async () => {
		expect(await appliedNames(db)).toEqual(ups.map((migration) => migration.name));

		const rolledBack = await rollbackAll(db, downs);

		expect(rolledBack).toEqual(ups.map((migration) => migration.name).reverse());
		expect(await appliedNames(db)).toEqual([]);
		expect(await schemaState(db)).toEqual([]);
	});

	it("pairs every up migration with a down migration of the same name, and nothing else", () => {
		expect(ups.length).toBeGreaterThan(1);
		expect(downs.map((migration) => migration.name)).toEqual(ups.map((migration) => migration.name));
		for (const down of downs) expect(down.queries.length).toBeGreaterThan(0);
	});

	it("goes from empty to the newest version, back to empty, and up again", async () => {
		await databaseAt(0);

		await applyD1Migrations(db, ups);
		const head = await schemaState(db);
		await rollbackAll(db, downs);
		const empty = await schemaState(db);
		await applyD1Migrations(db, ups);

		expect(tableNames(head)).toEqual(expect.arrayContaining(["users", "sessions", "refresh_tokens"]));
		expect(empty).toEqual([]);
		expect(await schemaState(db)).toEqual(head);
		expect(await appliedNames(db)).toEqual(ups.map((migration) => migration.name));
	});

	it.each(ups.map((migration, index) => ({ index, name: migration.name })))(
		"$name: up then down gives exactly the schema before it",
		async ({ index, name }) => {
			await databaseAt(index);
			const before = await schemaState(db);

			await applyD1Migrations(db, [ups[index]!]);
			const after = await schemaState(db);
			await rollbackStep(db, name, downOf(name).queries);

			// Every migration so far changes the schema; the comparison below would not notice a no-op down.
			expect(after).not.toEqual(before);
			expect(await schemaState(db)).toEqual(before);
			expect(await appliedNames(db)).toEqual(ups.slice(0, index).map((migration) => migration.name));
		},
	);

	// 0000 creates every table, so its down keeps none; from 0001 on a down keeps tables with rows in them.
	it.each(ups.map((migration, index) => ({ index, name: migration.name })).filter(({ index }) => index > 0))(
		"$name: rows in the tables its down keeps survive down and up",
		async ({ index, name }) => {
			await databaseAt(index + 1);
			await seedEveryTable(db);
			const seeded = new Map<string, Record<string, unknown>[]>();
			for (const table of tableNames(await schemaState(db))) {
				seeded.set(table, await rowsOf(db, table, await columnNames(db, table)));
			}

			await rollbackStep(db, name, downOf(name).queries);
			const kept = tableNames(await schemaState(db)).filter((table) => seeded.has(table));
			const afterDown = new Map<string, { columns: string[]; rows: Record<string, unknown>[] }>();
			for (const table of kept) {
				const columns = await columnNames(db, table);
				afterDown.set(table, { columns, rows: await rowsOf(db, table, columns) });
			}
			await applyD1Migrations(db, [ups[index]!]);

			expect(kept.length).toBeGreaterThan(0);
			for (const table of kept) {
				const { columns, rows } = afterDown.get(table)!;
				const expected = sortRows(seeded.get(table)!.map((row) => pick(row, columns)));
				expect(expected.length, table).toBe(2);
				expect(sortRows(rows), `${table} after the down`).toEqual(expected);
				const afterUp = await rowsOf(db, table, columns);
				expect(sortRows(afterUp), `${table} after the up again`).toEqual(expected);
			}
		},
	);
});

describe("errors", () => {
	it("leaves d1_migrations, the schema and the rows unchanged when a down migration fails", async () => {
		await databaseAt(ups.length);
		await seedEveryTable(db);
		const head = ups.at(-1)!.name;
		const schemaBefore = await schemaState(db);
		const usersBefore = await rowsOf(db, "users", await columnNames(db, "users"));
		const broken = [...downOf(head).queries, "INSERT INTO `table_that_does_not_exist` VALUES (1)"];

		await expect(rollbackStep(db, head, broken)).rejects.toThrow(/no such table/);

		expect(await appliedNames(db)).toEqual(ups.map((migration) => migration.name));
		expect(await schemaState(db)).toEqual(schemaBefore);
		expect(await rowsOf(db, "users", await columnNames(db, "users"))).toEqual(usersBefore);
	});

	it("does not rely on PRAGMA foreign_keys, which D1 ignores inside a migration's transaction", () => {
		for (const migration of [...ups, ...downs]) {
			for (const query of migration.queries) expect(query, migration.name).not.toMatch(/PRAGMA\s+foreign_keys\s*=/i);
		}
	});
});
