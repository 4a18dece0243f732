#!/usr/bin/env node
// End-to-end check of `npm run db:*` (scripts/db.mjs) on real local D1 state, the kind `wrangler dev`
// uses, in temporary --persist-to directories. Part 1 runs the repository's own migrations; part 2
// works in a throwaway copy of the project with a schema change that forces a SQLite table rebuild of
// `users` (the case where D1's ON DELETE CASCADE would eat sessions), plus a failing down migration.
// Prints one line per check and closes with "Migrations: N passed, N failed".
import { spawnSync } from "node:child_process";
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dbScript = path.join(root, "scripts/db.mjs");
const wranglerBin = path.join(root, "node_modules/wrangler/bin/wrangler.js");
const scratch = mkdtempSync(path.join(os.tmpdir(), "atrium-migrations-cli-"));
const env = { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" };

let passed = 0;
let failed = 0;
const timings = [];

/** Runs `node scripts/db.mjs ...args` in `cwd`; returns exit status and output. */
function db(args, cwd = root) {
	const started = performance.now();
	const result = spawnSync(process.execPath, [dbScript, ...args], { cwd, env, encoding: "utf8", stdio: "pipe" });
	const ms = performance.now() - started;
	return { status: result.status, out: `${result.stdout}${result.stderr}`, stdout: result.stdout, ms };
}

/** Runs SQL on the local database through wrangler and returns the rows of each statement. */
function sql(cwd, persistTo, command) {
	const result = spawnSync(
		process.execPath,
		[wranglerBin, "d1", "execute", "atrium", "--local", "--persist-to", persistTo, "--json", "--command", command],
		{ cwd, env, encoding: "utf8", stdio: "pipe" },
	);
	if (result.status !== 0) throw new Error(`SQL failed: ${command}\n${result.stdout}${result.stderr}`);
	return JSON.parse(result.stdout).map((statement) => statement.results);
}

function statusOf(cwd, persistTo) {
	const result = db(["status", "--json", "--persist-to", persistTo], cwd);
	if (result.status !== 0) throw new Error(`db:status failed:\n${result.out}`);
	return JSON.parse(result.stdout);
}

function check(description, fn) {
	try {
		fn();
		passed++;
		console.log(`ok - ${description}`);
	} catch (error) {
		failed++;
		console.log(`not ok - ${description}\n${String(error?.stack ?? error).replace(/^/gm, "    ")}`);
	}
}

function assert(condition, message) {
	if (!condition) throw new Error(message);
}

function assertEqual(actual, expected, message) {
	const a = JSON.stringify(actual);
	const e = JSON.stringify(expected);
	if (a !== e) throw new Error(`${message}\n  expected ${e}\n  actual   ${a}`);
}

function assertSucceeded(result, what) {
	assert(result.status === 0, `${what} exited ${result.status}:\n${result.out}`);
}

const appTables = (cwd, persistTo) =>
	sql(
		cwd,
		persistTo,
		"SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name <> 'd1_migrations' ORDER BY name",
	)[0].map((row) => row.name);
const columnsOf = (cwd, persistTo, table) =>
	sql(cwd, persistTo, `PRAGMA table_info(${table})`)[0].map((row) => row.name);

const ups = readFileSync(path.join(root, "drizzle/meta/_journal.json"), "utf8");
const names = JSON.parse(ups).entries.map((entry) => `${entry.tag}.sql`);
const head = names.at(-1);

try {
	// ---------------------------------------------------------------- part 1: the real migrations
	const state = path.join(scratch, "state");

	check("db:check passes on the repository (schema, snapshots, up and down files agree)", () => {
		const result = db(["check"]);
		assertSucceeded(result, "db:check");
		assert(/agree/.test(result.out), result.out);
	});

	check("db:status on a fresh state: at base, every migration pending with its generation date", () => {
		const status = statusOf(root, state);
		assertEqual(status.current, null, "current");
		assertEqual(
			status.migrations.map((m) => [m.name, m.state, m.hasDown]),
			names.map((name) => [name, "pending", true]),
			"migrations",
		);
		assert(
			status.migrations.every((m) => /^\d{4}-\d\d-\d\dT/.test(m.generatedAt)),
			"generatedAt dates",
		);
		const text = db(["status", "--persist-to", state]);
		assert(text.out.includes("current: base") && text.out.includes(`${names.length} pending`), text.out);
	});

	check("db:migrate applies everything; db:status then shows the head and the applied dates", () => {
		const result = db(["migrate", "--persist-to", state]);
		assertSucceeded(result, "db:migrate");
		assert(result.out.includes(`is at ${head}`), result.out);
		const status = statusOf(root, state);
		assertEqual(status.current, head, "current");
		assert(
			status.migrations.every((m) => m.state === "applied" && /^\d{4}-\d\d-\d\dT[\d:]+Z$/.test(m.appliedAt)),
			JSON.stringify(status.migrations),
		);
		const text = db(["status", "--persist-to", state]);
		assert(text.out.includes(`current: ${head} (applied `) && text.out.includes("up to date"), text.out);
	});

	check("db:rollback undoes one step at a time: past add_last_login_at the column goes, the rows stay", () => {
		sql(
			root,
			state,
			"INSERT INTO users (id, email, locale, last_login_at, updated_at) VALUES ('u1', 'a@example.com', 'en', 1700000000000, 1700000000000);" +
				"INSERT INTO sessions (id, user_id, expires_at) VALUES ('s1', 'u1', 1800000000000);",
		);
		const result = db(["rollback", "--persist-to", state]);
		assertSucceeded(result, "db:rollback");
		assert(result.out.includes(`rolled back ${head}`) && result.out.includes(`now at ${names.at(-2)}`), result.out);
		assertEqual(statusOf(root, state).current, names.at(-2), "current after one step");
		// Later migrations sit on top of add_last_login_at: step back until it is undone too.
		const lastLogin = names.findIndex((name) => name.includes("_add_last_login_at"));
		for (let step = names.length - 2; step >= lastLogin; step--) {
			assertSucceeded(db(["rollback", "--persist-to", state]), "db:rollback");
		}
		assertEqual(statusOf(root, state).current, names[lastLogin - 1], "current before add_last_login_at");
		assert(!columnsOf(root, state, "users").includes("last_login_at"), "last_login_at still there");
		assertEqual(sql(root, state, "SELECT id, email FROM users")[0], [{ id: "u1", email: "a@example.com" }], "users");
		assertEqual(sql(root, state, "SELECT id, user_id FROM sessions")[0], [{ id: "s1", user_id: "u1" }], "sessions");
	});

	check("db:migrate after a rollback re-applies the step; the rows are still there", () => {
		assertSucceeded(db(["migrate", "--persist-to", state]), "db:migrate");
		assertEqual(statusOf(root, state).current, head, "current");
		assertEqual(
			sql(root, state, "SELECT id, last_login_at FROM users")[0],
			[{ id: "u1", last_login_at: null }],
			"users",
		);
		assertEqual(sql(root, state, "SELECT count(*) AS n FROM sessions")[0], [{ n: 1 }], "sessions");
	});

	check("db:rollback --to <NNNN> stops at that version; --to base empties the database", () => {
		const first = names[0].split("_")[0];
		assertSucceeded(db(["rollback", "--to", first, "--persist-to", state]), "rollback --to");
		assertEqual(statusOf(root, state).current, names[0], "current after --to");
		const result = db(["rollback", "--to", "base", "--persist-to", state]);
		assertSucceeded(result, "rollback --to base");
		assert(result.out.includes("now at base"), result.out);
		assertEqual(appTables(root, state), [], "tables left at base");
		assertEqual(statusOf(root, state).current, null, "current at base");
	});

	check("a full cycle (all up, all down, all up) through the CLI ends at the head", () => {
		const up = db(["migrate", "--persist-to", state]);
		const down = db(["rollback", "--to", "base", "--persist-to", state]);
		const again = db(["migrate", "--persist-to", state]);
		for (const [result, what] of [
			[up, "migrate"],
			[down, "rollback --to base"],
			[again, "migrate"],
		]) {
			assertSucceeded(result, what);
		}
		assertEqual(statusOf(root, state).current, head, "current");
		timings.push(
			`full cycle over ${names.length} migrations: up ${ms(up)}, down ${ms(down)}, up ${ms(again)} ` +
				`(total ${ms({ ms: up.ms + down.ms + again.ms })}; each wrangler process ~2 s of it)`,
		);
	});

	check("bad arguments are refused before anything runs", () => {
		const unknown = db(["rollback", "--to", "9999", "--persist-to", state]);
		assert(unknown.status === 2 && /not applied/.test(unknown.out), unknown.out);
		const mixed = db(["status", "--remote", "--persist-to", state]);
		assert(mixed.status === 2 && /--persist-to/.test(mixed.out), mixed.out);
		assertEqual(statusOf(root, state).current, head, "current unchanged");
	});

	// ---------------------------------------------------------------- part 2: a throwaway project copy
	const project = path.join(scratch, "project");
	const projectState = path.join(scratch, "project-state");
	cpSync(path.join(root, "drizzle"), path.join(project, "drizzle"), { recursive: true });
	cpSync(path.join(root, "src/db/schema.ts"), path.join(project, "src/db/schema.ts"));
	cpSync(path.join(root, "drizzle.config.ts"), path.join(project, "drizzle.config.ts"));
	symlinkSync(path.join(root, "node_modules"), path.join(project, "node_modules"), "dir");
	writeFileSync(
		path.join(project, "wrangler.toml"),
		[
			'name = "atrium-migrations-test"',
			'compatibility_date = "2026-04-20"',
			"[[d1_databases]]",
			'binding = "DB"',
			'database_name = "atrium"',
			'database_id = "00000000-0000-0000-0000-000000000000"',
			'migrations_dir = "drizzle"',
			"",
		].join("\n"),
	);
	const schemaFile = path.join(project, "src/db/schema.ts");
	const schema = readFileSync(schemaFile, "utf8");
	const localeColumn = 'locale: text("locale").notNull(),';
	assert(schema.includes(localeColumn), `schema.ts no longer has ${localeColumn}; update this test`);
	// A changed default needs a table rebuild in SQLite; the new table gives the down a DROP TABLE.
	writeFileSync(
		schemaFile,
		`${schema.replace(localeColumn, 'locale: text("locale").notNull().default("en"),')}
export const userNotes = sqliteTable("user_notes", {
	id: text("id").primaryKey(),
	userId: text("user_id")
		.notNull()
		.references(() => users.id, { onDelete: "cascade" }),
	body: text("body").notNull(),
});
`,
	);
	const next = String(names.length).padStart(4, "0");
	const rebuildName = `${next}_locale_default.sql`;

	check("db:check fails on a schema change that has no migration, naming what changed", () => {
		const result = db(["check"], project);
		assert(result.status === 1, `exit ${result.status}:\n${result.out}`);
		assert(/users: column locale changed/.test(result.out) && /user_notes/.test(result.out), result.out);
	});

	check("db:generate writes the up SQL made D1-safe and its down SQL, and db:check passes again", () => {
		const result = db(["generate", "--name", "locale_default"], project);
		assertSucceeded(result, "db:generate");
		const up = readFileSync(path.join(project, "drizzle", rebuildName), "utf8");
		const down = readFileSync(path.join(project, "drizzle/down", rebuildName), "utf8");
		for (const [text, what] of [
			[up, "up"],
			[down, "down"],
		]) {
			assert(!/PRAGMA foreign_keys/i.test(text), `${what} still uses PRAGMA foreign_keys:\n${text}`);
			assert(/PRAGMA defer_foreign_keys = on/.test(text), `${what} does not defer foreign keys:\n${text}`);
			assert(/CREATE TABLE `__keep_sessions`/.test(text), `${what} does not keep sessions aside:\n${text}`);
		}
		const dropNotes = down.indexOf("DROP TABLE `user_notes`;");
		assert(dropNotes > down.indexOf("RENAME TO `users`;"), `user_notes is not dropped after the rebuild:\n${down}`);
		assert(result.out.includes(`drizzle/down/${rebuildName}`), result.out);
		assertSucceeded(db(["check"], project), "db:check after generate");
	});

	const seed =
		"INSERT INTO users (id, email, locale, updated_at) VALUES ('u1', 'a@example.com', 'fr', 1), ('u2', 'b@example.com', 'de', 1);" +
		"INSERT INTO sessions (id, user_id, expires_at) VALUES ('s1', 'u1', 2), ('s2', 'u2', 2);" +
		"INSERT INTO refresh_tokens (token_hash, session_id) VALUES ('t1', 's1'), ('t2', 's2');" +
		"INSERT INTO images (id, user_id, filename, content_type, size, width, height, etag, sha256, updated_at) VALUES ('i1', 'u1', 'a.png', 'image/png', 1, 1, 1, 'e', 'h', 1);" +
		"INSERT INTO user_notes (id, user_id, body) VALUES ('n1', 'u1', 'hello');";
	const survivors = () =>
		sql(
			project,
			projectState,
			"SELECT id, locale FROM users ORDER BY id; SELECT id, user_id FROM sessions ORDER BY id; SELECT token_hash FROM refresh_tokens ORDER BY 1; SELECT id FROM images",
		);
	const expectedSurvivors = [
		[
			{ id: "u1", locale: "fr" },
			{ id: "u2", locale: "de" },
		],
		[
			{ id: "s1", user_id: "u1" },
			{ id: "s2", user_id: "u2" },
		],
		[{ token_hash: "t1" }, { token_hash: "t2" }],
		[{ id: "i1" }],
	];

	check("rolling back a table rebuild of users keeps sessions, refresh tokens and images (no cascade)", () => {
		assertSucceeded(db(["migrate", "--persist-to", projectState], project), "db:migrate");
		sql(project, projectState, seed);
		const result = db(["rollback", "--persist-to", projectState], project);
		assertSucceeded(result, "db:rollback");
		assertEqual(survivors(), expectedSurvivors, "rows after the down");
		assert(!appTables(project, projectState).includes("user_notes"), "user_notes survived its down");
		const usersSql = sql(project, projectState, "SELECT sql FROM sqlite_master WHERE name = 'users'")[0][0].sql;
		assert(!/DEFAULT 'en'/.test(usersSql), `users still has the default: ${usersSql}`);
		assertEqual(sql(project, projectState, "PRAGMA foreign_key_check")[0], [], "foreign key violations");
	});

	check("migrating the rebuild up again keeps the rows too", () => {
		assertSucceeded(db(["migrate", "--persist-to", projectState], project), "db:migrate");
		assertEqual(survivors(), expectedSurvivors, "rows after the up");
		assertEqual(statusOf(project, projectState).current, rebuildName, "current");
	});

	check("a failing down migration changes nothing: same version, same schema, same rows", () => {
		sql(project, projectState, "INSERT INTO user_notes (id, user_id, body) VALUES ('n1', 'u1', 'hello')");
		appendFileSync(path.join(project, "drizzle/down", rebuildName), "\nINSERT INTO `no_such_table` VALUES (1);\n");
		const before = sql(project, projectState, "SELECT type, name, sql FROM sqlite_master ORDER BY name")[0];
		const result = db(["rollback", "--persist-to", projectState], project);
		assert(result.status === 1, `exit ${result.status}:\n${result.out}`);
		assert(result.out.includes(`is still at ${rebuildName}`) && /no such table/.test(result.out), result.out);
		assertEqual(statusOf(project, projectState).current, rebuildName, "current");
		assertEqual(
			sql(project, projectState, "SELECT type, name, sql FROM sqlite_master ORDER BY name")[0],
			before,
			"schema",
		);
		assertEqual(survivors(), expectedSurvivors, "rows");
		assertEqual(sql(project, projectState, "SELECT id FROM user_notes")[0], [{ id: "n1" }], "user_notes");
	});

	check("a custom migration gets a TODO down that db:check refuses until it is written", () => {
		const result = db(["generate", "--custom", "--name", "backfill"], project);
		assertSucceeded(result, "db:generate --custom");
		const custom = `${String(names.length + 1).padStart(4, "0")}_backfill.sql`;
		assert(readFileSync(path.join(project, "drizzle/down", custom), "utf8").includes("TODO(down)"), "no TODO");
		const checked = db(["check"], project);
		assert(checked.status === 1 && checked.out.includes(`down/${custom} is still a TODO(down)`), checked.out);
	});
} finally {
	rmSync(scratch, { recursive: true, force: true });
}

function ms(result) {
	return `${(result.ms / 1000).toFixed(1)} s`;
}

for (const line of timings) console.log(`# ${line}`);
console.log(`Migrations: ${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
