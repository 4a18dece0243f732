// Turns drizzle-kit's SQLite statements into SQL that is safe to run as one D1 batch, and derives
// the down migration from two drizzle-kit snapshots. Pure functions: no files, no processes.
import { generateSQLiteMigration } from "drizzle-kit/api";

/** What a `down/*.sql` file says until someone writes it by hand; `db:check` fails while it is there. */
export const DOWN_TODO_MARKER = "TODO(down)";

const BREAKPOINT = "--> statement-breakpoint";

/** The snapshot before the first migration: drizzle-kit diffs the initial schema against it. */
export const EMPTY_SNAPSHOT = Object.freeze({
	version: "6",
	dialect: "sqlite",
	id: "00000000-0000-0000-0000-000000000000",
	prevId: "",
	tables: {},
	views: {},
	enums: {},
	_meta: { schemas: {}, tables: {}, columns: {} },
	internal: { indexes: {} },
});

/**
 * Splits SQL into statements on top-level semicolons, keeping quoted text and trigger bodies
 * (BEGIN ... END) whole. Comments are dropped: drizzle-kit's breakpoint markers are comments too.
 * @param {string} sql
 * @returns {string[]} statements without their trailing semicolon
 */
export function splitStatements(sql) {
	const statements = [];
	let current = "";
	let depth = 0;
	for (let i = 0; i < sql.length; i++) {
		const char = sql[i];
		if (char === "-" && sql[i + 1] === "-") {
			const end = sql.indexOf("\n", i);
			i = end === -1 ? sql.length : end;
			current += "\n";
			continue;
		}
		if (char === "/" && sql[i + 1] === "*") {
			const end = sql.indexOf("*/", i + 2);
			i = end === -1 ? sql.length : end + 1;
			continue;
		}
		if (char === "'" || char === '"' || char === "`" || char === "[") {
			const close = char === "[" ? "]" : char;
			let j = i + 1;
			while (j < sql.length && !(sql[j] === close && sql[j + 1] !== close)) j += sql[j] === close ? 2 : 1;
			current += sql.slice(i, j + 1);
			i = j;
			continue;
		}
		if (char === ";" && depth === 0) {
			if (current.trim()) statements.push(current.trim());
			current = "";
			continue;
		}
		current += char;
		if (/\s(BEGIN|CASE)\s$/i.test(current)) depth++;
		else if (depth > 0 && /\sEND$/i.test(current) && !/\w/.test(sql[i + 1] ?? "")) depth--;
	}
	if (current.trim()) statements.push(current.trim());
	return statements;
}

/**
 * Tables whose rows point at `table` through foreign keys, directly or through other such tables,
 * ordered parents first. Only tables that exist before and after the migration count: a table created
 * by the migration is empty, and one it drops loses its rows anyway.
 * @param {string} table
 * @param {object} from snapshot before the migration
 * @param {object} to snapshot after the migration
 */
export function dependentTables(table, from, to) {
	const kept = Object.keys(from.tables).filter((name) => name in to.tables);
	const children = new Map(kept.map((name) => [name, new Set()]));
	for (const snapshot of [from, to]) {
		for (const name of kept) {
			for (const fk of Object.values(snapshot.tables[name].foreignKeys ?? {})) {
				if (fk.tableTo !== name && children.has(fk.tableTo)) children.get(fk.tableTo).add(name);
			}
		}
	}
	const ordered = [];
	const seen = new Set([table]);
	// Breadth first gives parents before their children for the restore; a table reached twice
	// stays at its first (shallowest) place, which is still after one of its parents.
	const queue = [table];
	while (queue.length > 0) {
		const parent = queue.shift();
		for (const child of children.get(parent) ?? []) {
			if (seen.has(child)) continue;
			seen.add(child);
			ordered.push(child);
			queue.push(child);
		}
	}
	return topologicalOrder(ordered, from, to);
}

/** Orders `tables` so that a table comes after every table of the list it references. */
function topologicalOrder(tables, from, to) {
	const set = new Set(tables);
	const parentsOf = (name) => {
		const parents = new Set();
		for (const snapshot of [from, to]) {
			for (const fk of Object.values(snapshot.tables[name]?.foreignKeys ?? {})) {
				if (fk.tableTo !== name && set.has(fk.tableTo)) parents.add(fk.tableTo);
			}
		}
		return parents;
	};
	const ordered = [];
	const visiting = new Set();
	const done = new Set();
	const visit = (name) => {
		if (done.has(name) || visiting.has(name)) return; // a cycle is broken where it is found
		visiting.add(name);
		for (const parent of parentsOf(name)) visit(parent);
		visiting.delete(name);
		done.add(name);
		ordered.push(name);
	};
	for (const name of [...tables].sort()) visit(name);
	return ordered;
}

/** Columns that can be copied out and back: present before and after, and not generated. */
function copyableColumns(table, from, to) {
	const before = from.tables[table]?.columns ?? {};
	const after = to.tables[table]?.columns ?? {};
	return Object.keys(before).filter((name) => name in after && !before[name].generated && !after[name].generated);
}

const quote = (name) => `\`${name.replaceAll("`", "``")}\``;

/**
 * Rewrites drizzle-kit statements for D1, where every migration is one transaction:
 * - `PRAGMA foreign_keys=OFF/ON` is a no-op inside a transaction, so it goes; `PRAGMA defer_foreign_keys`
 *   (the D1-documented replacement) brackets the migration instead.
 * - Deferring checks does not stop ON DELETE CASCADE: the `DROP TABLE x` of a table rebuild would empty
 *   every table that references x. Those tables are copied aside and emptied before the rebuild and
 *   refilled after it, so their rows survive.
 * - Plain `DROP TABLE`s move to the end, children before parents, so no drop cascades into a table that
 *   the migration keeps or has not finished with.
 * @param {string[]} input drizzle-kit statements (one entry may hold several)
 * @param {object} from snapshot before the migration
 * @param {object} to snapshot after the migration
 * @returns {{ statements: string[], rebuilt: string[] }}
 */
export function makeD1Safe(input, from, to) {
	const statements = input.flatMap((entry) => splitStatements(entry));
	const rebuilt = [];
	const out = [];
	const drops = [];
	const backups = new Map();
	for (const statement of statements) {
		if (/^PRAGMA\s+foreign_keys\s*=\s*(ON|OFF|0|1|true|false)$/i.test(statement)) continue;
		const newTable = statement.match(/^CREATE TABLE `__new_([^`]+)`/);
		const renamed = statement.match(/^ALTER TABLE `__new_([^`]+)` RENAME TO `([^`]+)`$/);
		const dropped = statement.match(/^DROP TABLE `([^`]+)`$/);
		if (newTable) {
			const table = newTable[1];
			const dependents = dependentTables(table, from, to);
			backups.set(table, dependents);
			rebuilt.push(table);
			if (dependents.length > 0) {
				out.push(`-- Rebuilding ${table}: its DROP would cascade, so ${dependents.join(", ")} step aside`);
				for (const dependent of dependents) {
					const columns = copyableColumns(dependent, from, to).map(quote).join(", ");
					out.push(`CREATE TABLE ${quote(`__keep_${dependent}`)} AS SELECT ${columns} FROM ${quote(dependent)};`);
				}
				for (const dependent of [...dependents].reverse()) out.push(`DELETE FROM ${quote(dependent)};`);
			}
			out.push(`${statement};`);
		} else if (renamed) {
			out.push(`${statement};`);
			for (const dependent of backups.get(renamed[1]) ?? []) {
				const columns = copyableColumns(dependent, from, to).map(quote).join(", ");
				out.push(
					`INSERT INTO ${quote(dependent)} (${columns}) SELECT ${columns} FROM ${quote(`__keep_${dependent}`)};`,
				);
			}
			for (const dependent of backups.get(renamed[1]) ?? []) out.push(`DROP TABLE ${quote(`__keep_${dependent}`)};`);
		} else if (dropped && !backups.has(dropped[1])) {
			drops.push(dropped[1]);
		} else {
			out.push(`${statement};`);
		}
	}
	// Children first: dropping a parent first would cascade into them (harmless but slow) or fail on RESTRICT.
	const dropOrder = topologicalOrder(drops, from, from).reverse();
	out.push(...dropOrder.map((table) => `DROP TABLE ${quote(table)};`));
	if (rebuilt.length > 0) {
		out.unshift("PRAGMA defer_foreign_keys = on;");
		out.push("PRAGMA defer_foreign_keys = off;");
	}
	return { statements: out, rebuilt };
}

/** Joins statements the way drizzle-kit writes migration files. */
export function formatStatements(statements) {
	const lines = [];
	for (const statement of statements) {
		if (statement.startsWith("--")) lines.push(statement);
		else lines.push(statement, BREAKPOINT);
	}
	if (lines.at(-1) === BREAKPOINT) lines.pop();
	return `${lines.join("\n")}\n`;
}

/**
 * The up SQL drizzle-kit wrote, made safe for D1 (see makeD1Safe). Unchanged text comes back as is.
 * @param {string} sql contents of drizzle/NNNN_name.sql
 * @returns {{ sql: string, changed: boolean, rebuilt: string[] }}
 */
export function d1SafeUp(sql, from, to) {
	const chunks = sql.split(BREAKPOINT).filter((chunk) => chunk.trim());
	const needsRewrite = chunks.some((chunk) =>
		/PRAGMA\s+foreign_keys|CREATE TABLE `__new_|^\s*DROP TABLE/im.test(chunk),
	);
	if (!needsRewrite) return { sql, changed: false, rebuilt: [] };
	const { statements, rebuilt } = makeD1Safe(chunks, from, to);
	const text = formatStatements(statements);
	return { sql: text, changed: text !== sql, rebuilt };
}

/**
 * The down migration that takes the database from snapshot `to` back to snapshot `from`, as file text.
 * drizzle-kit asks on the terminal when it cannot tell a rename from a drop plus an add; answer the
 * reverse of what you answered for the up migration.
 * @param {string} name migration file name, e.g. 0001_add_last_login_at.sql
 * @param {object} from snapshot before the up migration
 * @param {object} to snapshot after the up migration
 */
export async function downMigration(name, from, to) {
	const diff = await generateSQLiteMigration(to, from);
	const header = [
		`-- Down migration for ${name}: returns the schema to the snapshot before it.`,
		"-- Derived from the drizzle-kit snapshots by scripts/db.mjs; review it like the up SQL.",
		"-- `npm run db:rollback` runs it and deletes the d1_migrations row in one D1 batch.",
	];
	if (diff.length === 0) {
		return {
			sql: `${[...header, `-- ${DOWN_TODO_MARKER}: the snapshots do not differ (a custom migration?); write the SQL that undoes ${name}, then delete this line.`].join("\n")}\n`,
			rebuilt: [],
			todo: true,
		};
	}
	const { statements, rebuilt } = makeD1Safe(diff, to, from);
	return { sql: `${header.join("\n")}\n${formatStatements(statements)}`, rebuilt, todo: false };
}

/** Snapshot content that matters for the schema (ids, prevIds and rename bookkeeping do not). */
export function schemaOf(snapshot) {
	return canonical({ tables: snapshot.tables, views: snapshot.views ?? {}, enums: snapshot.enums ?? {} });
}

function canonical(value) {
	if (Array.isArray(value)) return value.map(canonical);
	if (value && typeof value === "object") {
		return Object.fromEntries(
			Object.keys(value)
				.sort()
				.map((key) => [key, canonical(value[key])]),
		);
	}
	return value;
}

const DRIFT_PARTS = [
	["columns", "column"],
	["indexes", "index"],
	["foreignKeys", "foreign key"],
	["compositePrimaryKeys", "primary key"],
	["uniqueConstraints", "unique constraint"],
	["checkConstraints", "check constraint"],
];

/**
 * Human-readable differences between two snapshots, table by table (for the drift check).
 * @returns {string[]} empty when the schemas agree
 */
export function describeDrift(expected, actual) {
	const a = schemaOf(expected).tables;
	const b = schemaOf(actual).tables;
	const lines = [];
	for (const table of new Set([...Object.keys(a), ...Object.keys(b)])) {
		if (!(table in a)) lines.push(`table ${table} is in the schema but in no migration`);
		else if (!(table in b)) lines.push(`table ${table} is in the migrations but not in the schema`);
		else {
			for (const [part, label] of DRIFT_PARTS) {
				const left = a[table][part] ?? {};
				const right = b[table][part] ?? {};
				for (const key of new Set([...Object.keys(left), ...Object.keys(right)])) {
					if (JSON.stringify(left[key]) !== JSON.stringify(right[key])) {
						const state = !(key in left) ? "added" : !(key in right) ? "removed" : "changed";
						lines.push(`${table}: ${label} ${key} ${state}`);
					}
				}
			}
		}
	}
	if (lines.length === 0 && JSON.stringify(schemaOf(expected)) !== JSON.stringify(schemaOf(actual))) {
		lines.push("views or enums differ");
	}
	return lines;
}
