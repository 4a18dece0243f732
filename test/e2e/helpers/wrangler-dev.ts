import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dirname, "../../..");
const wrangler = createRequire(import.meta.url).resolve("wrangler/bin/wrangler.js");

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
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

export type DevServer = {
	url: string;
	/** Everything the Worker printed so far (console mail lands here). */
	output: () => string;
	stop: () => Promise<void>;
};

/**
 * Starts Atrium under `wrangler dev` on its own port and its own local D1/R2 state, with the
 * migrations applied first, exactly as `npm run dev` does. `vars` override wrangler.toml [vars].
 */
export async function startWranglerDev(vars: Record<string, string> = {}): Promise<DevServer> {
	const port = await freePort();
	const url = `http://localhost:${port}`;
	const state = mkdtempSync(join(tmpdir(), "atrium-e2e-"));
	const env = { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" };
	const migrate = spawnSync(
		process.execPath,
		[wrangler, "d1", "migrations", "apply", "atrium", "--local", "--persist-to", state],
		{ cwd: root, env, encoding: "utf8" },
	);
	if (migrate.status !== 0) throw new Error(`migrations failed: ${migrate.stderr}${migrate.stdout}`);
	const allVars = {
		ENVIRONMENT: "development",
		APP_URL: url,
		JWT_SECRET: "e2e-secret-e2e-secret-e2e-secret-e2e!",
		...vars,
	};
	const args = [
		wrangler,
		"dev",
		"--port",
		String(port),
		"--ip",
		"127.0.0.1",
		"--persist-to",
		state,
		"--show-interactive-dev-session=false",
	];
	for (const [key, value] of Object.entries(allVars)) args.push("--var", `${key}:${value}`);
	const child: ChildProcess = spawn(process.execPath, args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
	let output = "";
	child.stdout?.on("data", (chunk) => (output += chunk));
	child.stderr?.on("data", (chunk) => (output += chunk));
	const deadline = Date.now() + 90_000;
	for (;;) {
		if (child.exitCode !== null) throw new Error(`wrangler dev exited early:\n${output}`);
		try {
			const res = await fetch(`${url}/health`);
			if (res.ok) break;
		} catch {}
		if (Date.now() > deadline) {
			child.kill("SIGKILL");
			throw new Error(`wrangler dev did not become ready:\n${output}`);
		}
		await new Promise((resolve) => setTimeout(resolve, 300));
	}
	return {
		url,
		output: () => output,
		stop: async () => {
			child.kill("SIGTERM");
			await new Promise((resolve) => {
				const timer = setTimeout(() => {
					child.kill("SIGKILL");
					resolve(undefined);
				}, 5000);
				child.once("exit", () => {
					clearTimeout(timer);
					resolve(undefined);
				});
			});
			rmSync(state, { recursive: true, force: true });
		},
	};
}

/** Waits until the console output contains a match for `pattern`, and returns the match. */
export async function waitForOutput(server: DevServer, pattern: RegExp, fromIndex = 0, timeoutMs = 15_000) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const match = pattern.exec(server.output().slice(fromIndex));
		if (match) return match;
		if (Date.now() > deadline) throw new Error(`no ${pattern} in output:\n${server.output().slice(fromIndex)}`);
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
}
