import type { D1Migration } from "cloudflare:test";

/** wrangler's default migrations table, which the CLI (scripts/db.mjs) and applyD1Migrations share. */
export const MIGRATIONS_TABLE = "d1_migrations";

const quote = (name: string) => `\`${name.replaceAll("`", "``")}\``;

/**
 * What `npm run db:rollback` sends for one step: the down SQL, then the delete of the migration's
 * row, as one batch (one transaction), so a failing down leaves the version where it was.
 */
export async function rollbackStep(db: D1Database, name: string, downQueries: string[]): Promise<void> {
	await db.batch([
		...downQueries.map((query) => db.prepare(query)),
		db.prepare(`DELETE FROM ${MIGRATIONS_TABLE} WHERE name = ?`).bind(name),
	]);
}

/** Names in the migrations table, in the order they were applied. */
export async function appliedNames(db: D1Database): Promise<string[]> {
	const exists = await db
		.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")
		.bind(MIGRATIONS_TABLE)
		.first();
	if (!exists) return [];
	const { results } = await db.prepare(`SELECT name FROM ${MIGRATIONS_TABLE} ORDER BY id`).all<{ name: string }>();
	return results.map((row) => row.name);
}

/** Rolls back every applied migration, newest first, with the paired down migrations. */
export async function rollbackAll(db: D1Database, downs: D1Migration[]): Promise<string[]> {
	const rolledBack: string[] = [];
	for (const name of (await appliedNames(db)).reverse()) {
		const down = downs.find((migration) => migration.name === name);
		if (!down) throw new Error(`No down migration for ${name}`);
		await rollbackStep(db, name, down.queries);
		rolledBack.push(name);
	}
	return rolledBack;
}

/** Drops every table, view and trigger, migrations table included: an empty database, whatever came before. */
export async function dropEverything(db: D1Database): Promise<void> {
	const { results } = await db
		.prepare(
			"SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view', 'trigger') AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'",
		)
		.all<{ type: string; name: string }>();
	if (results.length === 0) return;
	await db.batch(results.map((row) => db.prepare(`DROP ${row.type.toUpperCase()} IF EXISTS ${quote(row.name)}`)));
}

type ObjectState = {
	type: string;
	name: string;
	table: string;
	sql: string | null;
	columns?: unknown[];
	indexes?: unknown[];
	foreignKeys?: unknown[];
	indexColumns?: unknown[];
};

/** CREATE statements compared without quoting style or whitespace, which a table rename rewrites. */
const normalizeSql = (sql: string | null) =>
	sql === null
		? null
		: sql
				.replace(/[`"[\]]/g, "")
				.replace(/\s+/g, " ")
				.replace(/\s*([(),])\s*/g, "$1")
				.trim();

/**
 * The schema as SQLite sees it: sqlite_master plus table_info, index_list and foreign_key_list per
 * table and index_xinfo per index, sorted, without D1's own tables and the migrations table.
 */
export async function schemaState(db: D1Database): Promise<ObjectState[]> {
	const { results } = await db
		.prepare(
			"SELECT type, name, tbl_name AS tableName, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND tbl_name <> ? ORDER BY type, name",
		)
		.bind(MIGRATIONS_TABLE)
		.all<{ type: string; name: string; tableName: string; sql: string | null }>();
	const state: ObjectState[] = [];
	for (const row of results) {
		const object: ObjectState = { type: row.type, name: row.name, table: row.tableName, sql: normalizeSql(row.sql) };
		if (row.type === "table") {
			object.columns = (await db.prepare(`PRAGMA table_info(${quote(row.name)})`).all()).results;
			object.indexes = sortBy((await db.prepare(`PRAGMA index_list(${quote(row.name)})`).all()).results, "name");
			object.foreignKeys = (await db.prepare(`PRAGMA foreign_key_list(${quote(row.name)})`).all()).results;
		} else if (row.type === "index") {
			object.indexColumns = (await db.prepare(`PRAGMA index_xinfo(${quote(row.name)})`).all()).results;
		}
		state.push(object);
	}
	return state;
}

function sortBy<T>(rows: T[], key: keyof T): T[] {
	return [...rows].sort((a, b) => String(a[key]).localeCompare(String(b[key])));
}

/** Table names in the schema, for "which tables does a down migration keep". */
export function tableNames(state: ObjectState[]): string[] {
	return state.filter((object) => object.type === "table").map((object) => object.name);
}

type Column = { name: string; type: string; notnull: number; pk: number };
type ForeignKey = { table: string; from: string; to: string };

/**
 * Inserts `rowsPerTable` rows into every table, parents before children, with a value in every
 * column (nullable ones too, so a lost column shows), foreign keys pointing at the parents' rows.
 * Works from the live schema, so it keeps working as migrations are added.
 */
export async function seedEveryTable(db: D1Database, rowsPerTable = 2): Promise<void> {
	const tables = tableNames(await schemaState(db));
	const info = new Map<string, { columns: Column[]; foreignKeys: ForeignKey[] }>();
	for (const table of tables) {
		const columns = (await db.prepare(`PRAGMA table_info(${quote(table)})`).all<Column>()).results;
		const foreignKeys = (await db.prepare(`PRAGMA foreign_key_list(${quote(table)})`).all<ForeignKey>()).results;
		info.set(table, { columns, foreignKeys });
	}
	const rows = new Map<string, Record<string, unknown>[]>();
	const valueFor = (table: string, column: Column, index: number): unknown => {
		const type = column.type.toUpperCase();
		if (type.includes("INT")) return 1_700_000_000_000 + index * 1000 + column.name.length;
		if (type.includes("REAL") || type.includes("FLOA") || type.includes("DOUB")) return index + 0.5;
		return `${table}.${column.name}.${index}`;
	};
	const insert = async (table: string) => {
		if (rows.has(table)) return;
		rows.set(table, []); // guards self-references and cycles
		const { columns, foreignKeys } = info.get(table)!;
		for (const fk of foreignKeys) if (fk.table !== table) await insert(fk.table);
		const inserted: Record<string, unknown>[] = [];
		for (let index = 0; index < rowsPerTable; index++) {
			const row: Record<string, unknown> = {};
			for (const column of columns) {
				const fk = foreignKeys.find((key) => key.from === column.name && key.table !== table);
				row[column.name] = fk ? rows.get(fk.table)?.[index]?.[fk.to] : valueFor(table, column, index);
			}
			inserted.push(row);
		}
		const names = columns.map((column) => column.name);
		const sql = `INSERT INTO ${quote(table)} (${names.map(quote).join(", ")}) VALUES (${names.map(() => "?").join(", ")})`;
		await db.batch(inserted.map((row) => db.prepare(sql).bind(...names.map((name) => row[name] ?? null))));
		rows.set(table, inserted);
	};
	for (const table of tables) await insert(table);
}

/** Every row of `table`, only `columns`, in a stable order. */
export async function rowsOf(db: D1Database, table: string, columns: string[]): Promise<Record<string, unknown>[]> {
	const list = columns.map(quote).join(", ");
	return (await db.prepare(`SELECT ${list} FROM ${quote(table)} ORDER BY ${list}`).all<Record<string, unknown>>())
		.results;
}

/** Column names of `table` in the live schema. */
export async function columnNames(db: D1Database, table: string): Promise<string[]> {
	return (await db.prepare(`PRAGMA table_info(${quote(table)})`).all<Column>()).results.map((column) => column.name);
}
