// Where the migrations live and how to reach the database: wrangler.toml, the drizzle folder, and
// `wrangler d1 ...` child processes (local state in .wrangler/state, the same one `wrangler dev` uses).
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository that holds these scripts; its node_modules provides wrangler and drizzle-kit. */
export const toolRoot = path.resolve(here, "../..");
const wranglerBin = path.join(toolRoot, "node_modules/wrangler/bin/wrangler.js");
const drizzleKitBin = path.join(toolRoot, "node_modules/drizzle-kit/bin.cjs");

/**
 * The `[[d1_databases]]` entries of a wrangler.toml. Only the flat string keys wrangler uses for D1
 * are read, which keeps this free of a TOML dependency (and of loading wrangler itself, ~2 s).
 * @param {string} configPath
 */
export function readD1Databases(configPath) {
	const databases = [];
	let current = null;
	for (const raw of readFileSync(configPath, "utf8").split(/\r?\n/)) {
		const line = raw.trim();
		if (/^\[\[\s*d1_databases\s*\]\]\s*(#.*)?$/.test(line)) {
			current = {};
			databases.push(current);
		} else if (line.startsWith("[")) {
			current = null;
		} else if (current) {
			const match = line.match(/^([A-Za-z_]+)\s*=\s*"([^"]*)"\s*(#.*)?$/);
			if (match) current[match[1]] = match[2];
		}
	}
	return databases;
}

/**
 * Resolves the database and its migration folders from the command-line options.
 * @param {{ config?: string, database?: string, local?: boolean, remote?: boolean, "persist-to"?: string }} options
 */
export function loadProject(options) {
	const configPath = path.resolve(options.config ?? "wrangler.toml");
	if (!existsSync(configPath)) throw new UsageError(`No wrangler config at ${configPath}`);
	const databases = readD1Databases(configPath);
	const wanted = options.database;
	const database = wanted
		? databases.find((db) => db.database_name === wanted || db.binding === wanted)
		: databases.length === 1
			? databases[0]
			: databases.find((db) => db.binding === "DB");
	if (!database) {
		throw new UsageError(
			wanted ? `No [[d1_databases]] named or bound as ${wanted} in ${configPath}` : `Pick a database with --database`,
		);
	}
	if (options.remote && options["persist-to"]) throw new UsageError("--persist-to only applies to the local database");
	const root = path.dirname(configPath);
	const migrationsDir = path.resolve(root, database.migrations_dir ?? "migrations");
	return {
		configPath,
		name: database.database_name,
		migrationsDir,
		downDir: path.join(migrationsDir, "down"),
		migrationsTable: database.migrations_table ?? "d1_migrations",
		remote: Boolean(options.remote),
		persistTo: options["persist-to"] ? path.resolve(options["persist-to"]) : undefined,
	};
}

/** An error in how the command was called: printed without a stack trace. */
export class UsageError extends Error {}

/** Names of the up migrations, sorted the way `wrangler d1 migrations apply` sorts them. */
export function upMigrationNames(project) {
	if (!existsSync(project.migrationsDir)) return [];
	return readdirSync(project.migrationsDir, { withFileTypes: true })
		.filter((entry) => entry.isFile() && entry.name.endsWith(".sql"))
		.map((entry) => entry.name)
		.sort();
}

/** Names of the down migrations (same file names as their up migrations). */
export function downMigrationNames(project) {
	if (!existsSync(project.downDir)) return [];
	return readdirSync(project.downDir)
		.filter((name) => name.endsWith(".sql"))
		.sort();
}

/** drizzle-kit's journal: one entry per migration with its tag and generation time. */
export function readJournal(migrationsDir) {
	const file = path.join(migrationsDir, "meta/_journal.json");
	if (!existsSync(file)) return { entries: [] };
	return JSON.parse(readFileSync(file, "utf8"));
}

/** The drizzle-kit snapshot written with a journal entry (the schema after that migration). */
export function readSnapshot(migrationsDir, tag) {
	const file = path.join(migrationsDir, "meta", `${tag.split("_")[0]}_snapshot.json`);
	return JSON.parse(readFileSync(file, "utf8"));
}

/** The numeric prefix of a migration name: 0001_add_x.sql -> 1. */
export const migrationNumber = (name) => Number.parseInt(name.split("_")[0], 10);

/** Flags that select the database for any `wrangler d1` command. */
function targetFlags(project) {
	const flags = ["--config", project.configPath];
	if (project.remote) flags.push("--remote");
	else flags.push("--local");
	if (project.persistTo) flags.push("--persist-to", project.persistTo);
	return flags;
}

const childEnv = () => ({ ...process.env, WRANGLER_SEND_METRICS: "false" });

/**
 * Runs `wrangler` with the given arguments; output goes to the terminal unless `capture`.
 * @returns {{ status: number, stdout: string, stderr: string }}
 */
export function wrangler(args, { capture = false } = {}) {
	const result = spawnSync(process.execPath, [wranglerBin, ...args], {
		env: childEnv(),
		encoding: "utf8",
		stdio: capture ? ["ignore", "pipe", "pipe"] : "inherit",
		maxBuffer: 64 * 1024 * 1024,
	});
	if (result.error) throw result.error;
	return { status: result.status ?? 1, stdout: result.stdout ?? "", stderr: result.stderr ?? "" };
}

/** Runs drizzle-kit with the given arguments, attached to the terminal (it may ask about renames). */
export function drizzleKit(args, { capture = false } = {}) {
	const result = spawnSync(process.execPath, [drizzleKitBin, ...args], {
		env: childEnv(),
		encoding: "utf8",
		stdio: capture ? ["ignore", "pipe", "pipe"] : "inherit",
	});
	if (result.error) throw result.error;
	return { status: result.status ?? 1, stdout: result.stdout ?? "", stderr: result.stderr ?? "" };
}

/** `wrangler d1 migrations apply` on the selected database; returns wrangler's exit status. */
export function applyMigrations(project) {
	// wrangler asks before applying when it has a terminal; CI (no TTY) is never asked.
	return wrangler(["d1", "migrations", "apply", project.name, ...targetFlags(project)]).status;
}

/**
 * Runs one SQL file as a single D1 batch (local: one transaction; remote: D1's import, which rolls the
 * whole file back on failure).
 */
export function executeFile(project, file, { yes = false } = {}) {
	const args = ["d1", "execute", project.name, ...targetFlags(project), "--file", file];
	if (yes) args.push("--yes");
	return wrangler(args, { capture: true });
}

/**
 * The rows of the migrations table, oldest first; empty when the table does not exist yet.
 * @returns {{ id: number, name: string, applied_at: string }[]}
 */
export function appliedMigrations(project) {
	const sql = `SELECT id, name, applied_at FROM ${project.migrationsTable} ORDER BY id`;
	const result = wrangler(["d1", "execute", project.name, ...targetFlags(project), "--json", "--command", sql], {
		capture: true,
	});
	const output = parseJson(result.stdout);
	if (result.status !== 0) {
		const message = output?.error?.text ?? (result.stderr || result.stdout);
		if (/no such table/i.test(message)) return [];
		throw new Error(`Could not read ${project.migrationsTable}: ${message.trim()}`);
	}
	return output?.[0]?.results ?? [];
}

/**
 * The remote database's current Time Travel bookmark, or undefined when it cannot be read; restoring it
 * (`wrangler d1 time-travel restore <db> --bookmark <it>`) undoes whatever runs after this call.
 */
export function currentBookmark(project) {
	const result = wrangler(["d1", "time-travel", "info", project.name, "--config", project.configPath, "--json"], {
		capture: true,
	});
	return result.status === 0 ? parseJson(result.stdout)?.bookmark : undefined;
}

function parseJson(text) {
	try {
		return JSON.parse(text);
	} catch {
		return undefined;
	}
}

/** Where the local state lives, for messages. */
export function describeTarget(project) {
	if (project.remote) return `remote D1 database ${project.name}`;
	const state = project.persistTo ?? path.join(path.dirname(project.configPath), ".wrangler/state");
	const relative = path.relative(process.cwd(), state);
	return `local D1 database ${project.name} (${relative && !relative.startsWith("..") ? relative : state})`;
}
