// The one place that starts workerd for the scripts, the bench and the browser end-to-end tests:
// `wrangler dev` as a child process on its own port and its own local D1/R2 state
// (startWranglerDev: scripts/load.mjs, bench/enumeration-timing.mjs, bench/upload-10mib.mjs,
// test/e2e/), and wrangler's `unstable_startWorker` in this process with the DevTools inspector
// off (startWorkerInProcess: bench/run.mjs). Plain JavaScript so Node 20 runs it without a build
// step; types in wrangler-dev.d.mts.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
export const wrangler = createRequire(import.meta.url).resolve("wrangler/bin/wrangler.js");
/** The environment of every wrangler child: CI mode (no prompts, no update banner), no metrics. */
export const childEnv = { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" };

/** A free TCP port on loopback. */
export function freePort() {
	return new Promise((resolve, reject) => {
		const server = createServer();
		server.listen(0, "127.0.0.1", () => {
			const address = server.address();
			server.close(() =>
				typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
			);
		});
	});
}

/**
 * Runs the wrangler CLI synchronously in the project (or `cwd`); throws with its output when it
 * fails. `inherit` shows its output on this console instead of returning it.
 */
export function runWrangler(args, { cwd = root, inherit = false } = {}) {
	const result = spawnSync(process.execPath, [wrangler, ...args], {
		cwd,
		env: childEnv,
		encoding: "utf8",
		maxBuffer: 64 * 1024 * 1024,
		...(inherit ? { stdio: "inherit" } : {}),
	});
	if (result.status !== 0)
		throw new Error(`wrangler ${args.join(" ")} failed:\n${result.stderr ?? ""}${result.stdout ?? ""}`);
	return result.stdout ?? "";
}

/**
 * Applies a local D1 database's migrations (wrangler.toml's, or `config`'s) to the state folder
 * `persist` (undefined: wrangler's default, .wrangler/state).
 */
export function migrateLocal(persist, { database = "atrium", config, cwd, inherit } = {}) {
	const args = ["d1", "migrations", "apply", database, "--local"];
	if (persist !== undefined) args.push("--persist-to", persist);
	if (config) args.push("--config", config);
	runWrangler(args, { cwd, inherit });
}

/**
 * Starts Atrium under `wrangler dev` with migrations applied to a fresh state folder. `vars`
 * override wrangler.toml [vars]; `options.beforeStart(state)` runs after the migrations, before
 * the server starts (e.g. to seed the local D1); `options.port` picks the port (for vars that name
 * it, such as an APP_URL on http://localhost). `options.state` reuses a state folder (migrated
 * once by the caller; stop() then keeps it), `options.cwd` runs from a copy of the project and
 * `options.script` picks another entry point (bench/upload-10mib.mjs), `options.ready` is the
 * path polled until it answers 2xx (`/health`).
 * Returns { url, state, pid (of wrangler), output(), stop({ keepState }) }.
 */
export async function startWranglerDev(vars = {}, options = {}) {
	const port = options.port ?? (await freePort());
	const url = `http://127.0.0.1:${port}`;
	const cwd = options.cwd ?? root;
	const ownState = options.state === undefined;
	const state = options.state ?? mkdtempSync(join(tmpdir(), "atrium-script-"));
	if (ownState) migrateLocal(state, { cwd });
	try {
		options.beforeStart?.(state);
	} catch (error) {
		if (ownState) rmSync(state, { recursive: true, force: true });
		throw error;
	}
	const allVars = {
		ENVIRONMENT: "development",
		APP_URL: url,
		JWT_SECRET: "script-secret-script-secret-script-secret!",
		RESEND_API_KEY: "",
		...vars,
	};
	const args = [wrangler, "dev", ...(options.script ? [options.script] : [])];
	args.push("--port", String(port), "--ip", "127.0.0.1", "--persist-to", state);
	args.push("--show-interactive-dev-session=false");
	for (const [key, value] of Object.entries(allVars)) args.push("--var", `${key}:${value}`);
	const child = spawn(process.execPath, args, { cwd, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
	let output = "";
	child.stdout.on("data", (chunk) => {
		output += chunk;
	});
	child.stderr.on("data", (chunk) => {
		output += chunk;
	});
	const stop = async ({ keepState = !ownState } = {}) => {
		if (child.exitCode === null) {
			child.kill("SIGTERM");
			await new Promise((resolve) => {
				const timer = setTimeout(() => {
					child.kill("SIGKILL");
					resolve();
				}, 5000);
				child.once("exit", () => {
					clearTimeout(timer);
					resolve();
				});
			});
		}
		if (!keepState) rmSync(state, { recursive: true, force: true });
	};
	const deadline = Date.now() + 90_000;
	for (;;) {
		if (child.exitCode !== null) throw new Error(`wrangler dev exited early:\n${output}`);
		try {
			const res = await fetch(`${url}${options.ready ?? "/health"}`);
			if (res.ok) break;
		} catch {}
		if (Date.now() > deadline) {
			await stop();
			throw new Error(`wrangler dev did not become ready:\n${output}`);
		}
		await new Promise((resolve) => setTimeout(resolve, 300));
	}
	return { url, state, pid: child.pid, output: () => output, stop };
}

/** Waits until the output after `fromIndex` matches `pattern`; returns the match. */
export async function waitForOutput(server, pattern, fromIndex = 0, timeoutMs = 15_000) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const match = pattern.exec(server.output().slice(fromIndex));
		if (match) return match;
		if (Date.now() > deadline) throw new Error(`no ${pattern} in the wrangler output`);
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
}

/**
 * Runs a Worker in this process through wrangler's `unstable_startWorker`, with the DevTools
 * inspector off (`wrangler dev` always attaches it, which roughly halves the throughput of D1-heavy
 * routes); bundling, the D1/R2 simulators and the local proxy Worker are those of `wrangler dev`.
 * `config` is a wrangler.toml path; `vars` become plain-text bindings (`secrets` secret ones) over
 * its [vars]; `persist` is the local state folder. The bundle is built once: wrangler's watcher
 * looks at `quietDir` (an empty folder) instead of the sources, so edits made while it runs never
 * restart the runtime. `build` replaces the config's custom build (e.g. a no-op command).
 * Returns { handle (wrangler's, for dispose()), url (a URL) }.
 */
export async function startWorkerInProcess({ config, vars = {}, secrets = {}, persist, quietDir, build, logLevel }) {
	// Below "info", neither wrangler nor the proxy Worker's request log runs per request.
	process.env.WRANGLER_LOG ??= "warn";
	process.env.WRANGLER_SEND_METRICS = "false";
	// No network here; without this miniflare tries to download the Request.cf sample first.
	process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false";
	// Other people edit wrangler.toml while a run goes on; a reload would restart the runtime.
	process.env.WRANGLER_CI_DISABLE_CONFIG_WATCHING = "true";
	const { unstable_startWorker } = await import("wrangler");
	const require = createRequire(import.meta.url);
	// wrangler's own dependency, so always the version wrangler runs.
	const { getNodeCompat } = createRequire(require.resolve("wrangler/package.json"))("miniflare");
	const bindings = {
		...Object.fromEntries(
			Object.entries(vars).map(([name, value]) => [name, { type: "plain_text", value: String(value) }]),
		),
		...Object.fromEntries(Object.entries(secrets).map(([name, value]) => [name, { type: "secret_text", value }])),
	};
	const handle = await unstable_startWorker({
		config,
		build: {
			// `wrangler dev` derives the Node.js compatibility mode from the config; startWorker needs telling.
			nodejsCompatMode: (cfg) => getNodeCompat(cfg.compatibility_date, cfg.compatibility_flags ?? []).mode,
			custom: { ...build, watch: quietDir },
		},
		// .dev.vars may hold a developer's secrets (a real RESEND_API_KEY); callers set their own.
		envFiles: [],
		bindings,
		dev: {
			inspector: false,
			server: { hostname: "127.0.0.1", port: 0 },
			persist,
			watch: false,
			logLevel: logLevel ?? "warn",
		},
	});
	return { handle, url: await handle.url };
}
