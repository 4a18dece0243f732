#!/usr/bin/env node
// Two-way D1 migrations on top of drizzle-kit and wrangler (Alembic's revision/upgrade/downgrade/current).
// Up migrations are drizzle-kit's drizzle/NNNN_name.sql, applied by `wrangler d1 migrations apply`;
// each has its down next to it in drizzle/down/NNNN_name.sql, which wrangler and readD1Migrations
// never see (both list only *.sql files directly in the migrations folder). See docs/migrations.md.
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline/promises";
import { parseArgs } from "node:util";
import {
	appliedMigrations,
	applyMigrations,
	currentBookmark,
	describeTarget,
	downMigrationNames,
	drizzleKit,
	executeFile,
	loadProject,
	migrationNumber,
	readJournal,
	readSnapshot,
	UsageError,
	upMigrationNames,
} from "./db/project.mjs";
import { d1SafeUp, DOWN_TODO_MARKER, describeDrift, downMigration, EMPTY_SNAPSHOT, schemaOf } from "./db/sql.mjs";

const USAGE = `Usage: node scripts/db.mjs <command> [options]

Commands
  generate --name <what> [--custom]  drizzle-kit generate, then write drizzle/down/NNNN_<what>.sql
  down <NNNN> [--force]              (re)write the down SQL of an existing migration from its snapshots
  migrate                            apply pending migrations (wrangler d1 migrations apply)
  rollback [--to <NNNN|base>]        undo the newest migration (or down to NNNN; base = all)
  status [--json]                    current version, applied and pending migrations
  check                              fail when schema.ts, the snapshots and the SQL files disagree

Database options (migrate, rollback, status)
  --remote             the Cloudflare database instead of the local one (.wrangler/state)
  --persist-to <dir>   local state directory (as for wrangler dev --persist-to)
  --database <name>    database name or binding (default: the only one, or binding DB)
  --config <file>      wrangler config (default: ./wrangler.toml)
  --yes                do not ask before a remote rollback
Generate/check options
  --drizzle-config <file>  drizzle-kit config (default: ./drizzle.config.ts)`;

const OPTIONS = {
	name: { type: "string" },
	custom: { type: "boolean" },
	to: { type: "string" },
	json: { type: "boolean" },
	local: { type: "boolean" },
	remote: { type: "boolean" },
	"persist-to": { type: "string" },
	database: { type: "string" },
	config: { type: "string" },
	"drizzle-config": { type: "string" },
	yes: { type: "boolean", short: "y" },
	force: { type: "boolean" },
	help: { type: "boolean", short: "h" },
};

const COMMANDS = { generate, down, migrate, rollback, status, check };

async function main() {
	const { values, positionals } = parseArgs({ options: OPTIONS, allowPositionals: true });
	const command = COMMANDS[positionals[0]];
	if (values.help || !command || positionals.length > (command === down ? 2 : 1)) {
		console.log(USAGE);
		return values.help ? 0 : 2;
	}
	return command(values, positionals.slice(1));
}

/** `db:generate`: drizzle-kit writes the up SQL and snapshot; this adds the down SQL for review. */
async function generate(options) {
	const project = loadProject(options);
	const before = new Set(readJournal(project.migrationsDir).entries.map((entry) => entry.tag));
	const args = ["generate", "--config", path.resolve(options["drizzle-config"] ?? "drizzle.config.ts")];
	if (options.name) args.push("--name", options.name);
	if (options.custom) args.push("--custom");
	const kit = drizzleKit(args);
	if (kit.status !== 0) return kit.status;
	const journal = readJournal(project.migrationsDir);
	const created = journal.entries.filter((entry) => !before.has(entry.tag));
	if (created.length === 0) {
		console.log("No new migration, so no down migration either.");
		return 0;
	}
	for (const entry of created) {
		const name = `${entry.tag}.sql`;
		const { from, to } = snapshotsAround(project, journal, entry);
		const upFile = path.join(project.migrationsDir, name);
		const up = d1SafeUp(readFileSync(upFile, "utf8"), from, to);
		if (up.changed) {
			writeFileSync(upFile, up.sql);
			console.log(`Rewrote ${rel(upFile)} for D1: PRAGMA defer_foreign_keys instead of foreign_keys=OFF`);
			if (up.rebuilt.length > 0)
				console.log(`  rebuilt tables keep the rows that reference them: ${up.rebuilt.join(", ")}`);
		}
		const down = await downMigration(name, from, to);
		const downFile = path.join(project.downDir, name);
		mkdirSync(project.downDir, { recursive: true });
		writeFileSync(downFile, down.sql);
		console.log(`\n[✓] Down migration ➜ ${rel(downFile)}${down.todo ? " (write it by hand: see the TODO)" : ""}`);
		console.log(`\nReview both before running npm run db:migrate:\n\n--- ${rel(upFile)}\n${up.sql.trimEnd()}\n`);
		console.log(`--- ${rel(downFile)}\n${down.sql}`);
	}
	return 0;
}

/** `db.mjs down NNNN`: writes the down SQL of a migration that has none (or, with --force, anew). */
async function down(options, [number]) {
	const project = loadProject(options);
	const journal = readJournal(project.migrationsDir);
	const entry = journal.entries.find((candidate) => number && migrationNumber(candidate.tag) === Number(number));
	if (!entry) throw new UsageError(`No migration numbered ${number ?? "(missing)"} in drizzle-kit's journal`);
	const name = `${entry.tag}.sql`;
	const downFile = path.join(project.downDir, name);
	if (existsSync(downFile) && !options.force) throw new UsageError(`${rel(downFile)} exists; --force rewrites it`);
	const { from, to } = snapshotsAround(project, journal, entry);
	const sql = (await downMigration(name, from, to)).sql;
	mkdirSync(project.downDir, { recursive: true });
	writeFileSync(downFile, sql);
	console.log(`[✓] ${rel(downFile)}\n${sql}`);
	return 0;
}

/** The snapshots before and after a journal entry. */
function snapshotsAround(project, journal, entry) {
	const previous = journal.entries.filter((other) => other.idx < entry.idx).at(-1);
	return {
		from: previous ? readSnapshot(project.migrationsDir, previous.tag) : EMPTY_SNAPSHOT,
		to: readSnapshot(project.migrationsDir, entry.tag),
	};
}

/** `db:migrate`: wrangler applies the pending up migrations, each in its own batch. */
async function migrate(options) {
	const project = loadProject(options);
	const missing = missingDowns(project);
	if (missing.length > 0) console.warn(`⚠ No down migration for ${missing.join(", ")}: db:rollback cannot undo it.`);
	const status = applyMigrations(project);
	if (status === 0) {
		const applied = appliedMigrations(project);
		console.log(`${describeTarget(project)} is at ${versionOf(applied)}`);
	}
	return status;
}

/**
 * `db:rollback`: for each migration to undo, newest first, one SQL file = its down SQL plus the delete
 * of its d1_migrations row, run as one D1 batch. A failure rolls that batch back, so the database stays
 * at the last version reported.
 */
async function rollback(options) {
	const project = loadProject(options);
	const applied = appliedMigrations(project);
	if (applied.length === 0) {
		console.log(`Nothing to roll back: ${describeTarget(project)} has no applied migrations.`);
		return 0;
	}
	let steps;
	if (options.to === undefined) steps = [applied.at(-1)];
	else if (options.to === "base") steps = [...applied].reverse();
	else {
		if (!/^\d+$/.test(options.to)) throw new UsageError(`--to takes a migration number (e.g. 0003) or base`);
		const target = applied.findLast((row) => migrationNumber(row.name) === Number(options.to));
		if (!target) {
			throw new UsageError(
				`Migration ${options.to} is not applied to ${describeTarget(project)}; see npm run db:status`,
			);
		}
		steps = applied.filter((row) => row.id > target.id).reverse();
	}
	if (steps.length === 0) {
		console.log(`${describeTarget(project)} is already at ${versionOf(applied)}.`);
		return 0;
	}
	const downs = steps.map((row) => ({ row, file: path.join(project.downDir, row.name) }));
	const absent = downs.filter(({ file }) => !existsSync(file)).map(({ row }) => row.name);
	if (absent.length > 0) {
		throw new UsageError(`No down migration for ${absent.join(", ")} in ${rel(project.downDir)}; nothing was run.`);
	}
	console.log(`Rolling back ${describeTarget(project)}: ${steps.map((row) => row.name).join(" → ")}`);
	if (project.remote && !options.yes && !(await confirm("Run these down migrations on the REMOTE database?"))) {
		console.log("Cancelled.");
		return 1;
	}
	if (project.remote) {
		const bookmark = currentBookmark(project);
		if (bookmark) {
			console.log(`Time Travel bookmark before the rollback: ${bookmark}`);
			console.log(`  to undo it: npx wrangler d1 time-travel restore ${project.name} --bookmark=${bookmark}`);
		} else console.warn("⚠ Could not read a Time Travel bookmark; `wrangler d1 time-travel info` can find one later.");
	}
	const work = mkdtempSync(path.join(os.tmpdir(), "atrium-rollback-"));
	try {
		let remaining = applied;
		for (const { row, file } of downs) {
			const batch = path.join(work, `${randomUUID()}.sql`);
			const quoted = row.name.replaceAll("'", "''");
			writeFileSync(
				batch,
				`${readFileSync(file, "utf8")}\n;\nDELETE FROM ${project.migrationsTable} WHERE name = '${quoted}';\n`,
			);
			const started = performance.now();
			const result = executeFile(project, batch, { yes: true });
			if (result.status !== 0) {
				process.stderr.write(result.stdout + result.stderr);
				console.error(`✘ ${row.name}: down migration failed and was rolled back as a whole.`);
				console.error(`  ${describeTarget(project)} is still at ${versionOf(remaining)}.`);
				return 1;
			}
			remaining = remaining.filter((other) => other.id !== row.id);
			const ms = Math.round(performance.now() - started);
			console.log(`✔ rolled back ${row.name} (${ms} ms); now at ${versionOf(remaining)}`);
		}
	} finally {
		rmSync(work, { recursive: true, force: true });
	}
	return 0;
}

/** `db:status`: Alembic's `current` + `history` for the selected database. */
async function status(options) {
	const project = loadProject(options);
	const applied = appliedMigrations(project);
	const journal = new Map(readJournal(project.migrationsDir).entries.map((entry) => [`${entry.tag}.sql`, entry]));
	const files = upMigrationNames(project);
	const downs = new Set(downMigrationNames(project));
	const appliedNames = new Set(applied.map((row) => row.name));
	const migrations = [
		...applied.map((row) => ({
			name: row.name,
			state: files.includes(row.name) ? "applied" : "applied, file missing",
			appliedAt: utc(row.applied_at),
			hasDown: downs.has(row.name),
		})),
		...files
			.filter((name) => !appliedNames.has(name))
			.map((name) => ({
				name,
				state: "pending",
				generatedAt: journal.has(name) ? new Date(journal.get(name).when).toISOString() : undefined,
				hasDown: downs.has(name),
			})),
	];
	const current = applied.at(-1)?.name ?? null;
	if (options.json) {
		console.log(JSON.stringify({ database: describeTarget(project), current, migrations }, null, 2));
		return 0;
	}
	console.log(describeTarget(project));
	console.log(
		`current: ${current ? `${current} (applied ${utc(applied.at(-1).applied_at)})` : "base (no migrations applied)"}`,
	);
	const width = Math.max(0, ...migrations.map((m) => m.name.length));
	for (const m of migrations) {
		const when = m.appliedAt ?? (m.generatedAt ? `generated ${m.generatedAt}` : "");
		const down = m.hasDown ? "" : "  (no down migration)";
		console.log(`  ${m.state.padEnd(8)}  ${m.name.padEnd(width)}  ${when}${down}`);
	}
	const pending = migrations.filter((m) => m.state === "pending").length;
	console.log(
		pending > 0
			? `${pending} pending: npm run db:migrate${project.remote ? ":remote" : ""}`
			: "up to date with the migration files",
	);
	return 0;
}

/**
 * `db:check` (CI): drizzle-kit's own snapshot check, then schema.ts against the newest snapshot
 * (a schema change without a migration), then the files: every up has a down and vice versa, every
 * up is in drizzle-kit's journal, no down is still a TODO, no file relies on PRAGMA foreign_keys.
 */
async function check(options) {
	const project = loadProject(options);
	const drizzleConfig = path.resolve(options["drizzle-config"] ?? "drizzle.config.ts");
	const problems = [];

	const kit = drizzleKit(["check", "--config", drizzleConfig], { capture: true });
	if (kit.status !== 0) problems.push(`drizzle-kit check failed:\n${kit.stdout}${kit.stderr}`);

	const entries = readJournal(project.migrationsDir).entries;
	const work = mkdtempSync(path.join(os.tmpdir(), "atrium-db-check-"));
	try {
		// A fresh `generate` into an empty folder snapshots schema.ts without diffing, so it never stops to
		// ask about renames; comparing snapshots then catches any change, including one drizzle would ask about.
		const config = path.join(work, "drizzle.config.ts");
		writeFileSync(
			config,
			`import config from ${JSON.stringify(drizzleConfig)};\nexport default { ...config, out: ${JSON.stringify(path.join(work, "out"))} };\n`,
		);
		const current = drizzleKit(["generate", "--config", config, "--name", "current"], { capture: true });
		if (current.status !== 0)
			problems.push(`drizzle-kit could not read the schema:\n${current.stdout}${current.stderr}`);
		else {
			const actual = JSON.parse(readFileSync(path.join(work, "out/meta/0000_snapshot.json"), "utf8"));
			const expected = entries.length > 0 ? readSnapshot(project.migrationsDir, entries.at(-1).tag) : EMPTY_SNAPSHOT;
			if (JSON.stringify(schemaOf(actual)) !== JSON.stringify(schemaOf(expected))) {
				const drift = describeDrift(expected, actual).map((line) => `  - ${line}`);
				problems.push(
					`the schema has changes that no migration makes (npm run db:generate -- --name <what>):\n${drift.join("\n")}`,
				);
			}
		}
	} finally {
		rmSync(work, { recursive: true, force: true });
	}

	const ups = upMigrationNames(project);
	const downs = downMigrationNames(project);
	const journalNames = new Set(entries.map((entry) => `${entry.tag}.sql`));
	for (const name of ups) {
		if (!journalNames.has(name)) problems.push(`${name} is not in drizzle-kit's journal (meta/_journal.json)`);
		if (!downs.includes(name)) problems.push(`${name} has no down migration in ${rel(project.downDir)}`);
	}
	for (const name of journalNames) if (!ups.includes(name)) problems.push(`journal entry ${name} has no SQL file`);
	for (const name of downs) {
		if (!ups.includes(name)) problems.push(`down/${name} has no up migration`);
		else if (readFileSync(path.join(project.downDir, name), "utf8").includes(DOWN_TODO_MARKER)) {
			problems.push(`down/${name} is still a ${DOWN_TODO_MARKER}`);
		}
	}
	for (const [dir, names] of [
		[project.migrationsDir, ups],
		[project.downDir, downs],
	]) {
		for (const name of names) {
			if (/PRAGMA\s+foreign_keys\s*=/i.test(readFileSync(path.join(dir, name), "utf8"))) {
				problems.push(`${rel(path.join(dir, name))} uses PRAGMA foreign_keys, which D1 ignores inside a migration`);
			}
		}
	}

	if (problems.length > 0) {
		console.error(`✘ db:check found ${problems.length} problem(s):`);
		for (const problem of problems) console.error(`- ${problem}`);
		return 1;
	}
	console.log(`✔ schema, ${entries.length} snapshot(s), ${ups.length} up and ${downs.length} down migration(s) agree`);
	return 0;
}

function missingDowns(project) {
	const downs = new Set(downMigrationNames(project));
	return upMigrationNames(project).filter((name) => !downs.has(name));
}

const versionOf = (applied) => applied.at(-1)?.name ?? "base (no migrations applied)";
/** D1 stores CURRENT_TIMESTAMP as "YYYY-MM-DD HH:MM:SS" in UTC. */
const utc = (timestamp) => (timestamp ? `${String(timestamp).replace(" ", "T")}Z` : undefined);
const rel = (file) => {
	const relative = path.relative(process.cwd(), file);
	return relative && !relative.startsWith("..") ? relative : file;
};

async function confirm(question) {
	if (!process.stdin.isTTY) {
		console.error(`${question} Refusing without a terminal; pass --yes.`);
		return false;
	}
	const readline = createInterface({ input: process.stdin, output: process.stdout });
	try {
		return /^y(es)?$/i.test((await readline.question(`${question} [y/N] `)).trim());
	} finally {
		readline.close();
	}
}

main().then(
	(code) => {
		process.exitCode = code;
	},
	(error) => {
		console.error(error instanceof UsageError || error?.code?.startsWith?.("ERR_PARSE_ARGS") ? error.message : error);
		process.exitCode = error instanceof UsageError || error?.code?.startsWith?.("ERR_PARSE_ARGS") ? 2 : 1;
	},
);
