// `wrangler dev` as a child process on its own port and its own local D1/R2 state, for the scripts
// (scripts/load.mjs, bench/enumeration-timing.mjs) and the browser end-to-end tests (test/e2e/).
// Plain JavaScript so Node 20 runs it without a build step; types in wrangler-dev.d.mts.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
export const wrangler = createRequire(import.meta.url).resolve("wrangler/bin/wrangler.js");
const childEnv = { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" };

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

/** Runs the wrangler CLI synchronously in the project; throws with its output when it fails. */
export function runWrangler(args) {
	const result = spawnSync(process.execPath, [wrangler, ...args], {
		cwd: root,
		env: childEnv,
		encoding: "utf8",
		maxBuffer: 64 * 1024 * 1024,
	});
	if (result.status !== 0) throw new Error(`wrangler ${args.join(" ")} failed:\n${result.stderr}${result.stdout}`);
	return result.stdout;
}

/**
 * Starts Atrium under `wrangler dev` with migrations applied to a fresh state folder. `vars`
 * override wrangler.toml [vars]; `options.beforeStart(state)` runs after the migrations, before
 * the server starts (e.g. to seed the local D1); `options.port` picks the port (for vars that name
 * it, such as an APP_URL on http://localhost). Returns { url, state, pid (of wrangler), output(), stop({ keepState }) }.
 */
export async function startWranglerDev(vars = {}, options = {}) {
	const port = options.port ?? (await freePort());
	const url = `http://127.0.0.1:${port}`;
	const state = mkdtempSync(join(tmpdir(), "atrium-script-"));
	runWrangler(["d1", "migrations", "apply", "atrium", "--local", "--persist-to", state]);
	try {
		options.beforeStart?.(state);
	} catch (error) {
		rmSync(state, { recursive: true, force: true });
		throw error;
	}
	const allVars = {
		ENVIRONMENT: "development",
		APP_URL: url,
		JWT_SECRET: "script-secret-script-secret-script-secret!",
		RESEND_API_KEY: "",
		...vars,
	};
	const args = [wrangler, "dev", "--port", String(port), "--ip", "127.0.0.1", "--persist-to", state];
	args.push("--show-interactive-dev-session=false");
	for (const [key, value] of Object.entries(allVars)) args.push("--var", `${key}:${value}`);
	const child = spawn(process.execPath, args, { cwd: root, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
	let output = "";
	child.stdout.on("data", (chunk) => {
		output += chunk;
	});
	child.stderr.on("data", (chunk) => {
		output += chunk;
	});
	const stop = async ({ keepState = false } = {}) => {
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
			const res = await fetch(`${url}/health`);
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
