#!/usr/bin/env node
// `npm run dev:example`: the API (`npm run dev`, port 8787) and the example app (Vite, port 5173)
// side by side. The API is told about the app: CORS, where mailed links and providers may send the
// browser back to. Ctrl-C stops both.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { root } from "./lib/wrangler-dev.mjs";

const apiPort = process.env.API_PORT ?? "8787";
const appPort = process.env.PORT ?? "5173";
const app = `http://localhost:${appPort}`;
const vars = {
	APP_URL: `http://localhost:${apiPort}`,
	CORS_ORIGINS: app,
	APP_REDIRECT_URLS: `${app}/,${app}/callback`,
	// Passkeys: the app's page runs the ceremonies; RP ID "localhost" (browsers refuse IP literals).
	WEBAUTHN_RP_ID: "localhost",
	WEBAUTHN_ORIGINS: app,
	OAUTH_REDIRECT_URIS: `${app}/callback,${app}/settings`,
};
const varArgs = Object.entries(vars).flatMap(([key, value]) => ["--var", `${key}:${value}`]);

const children = [
	spawn(process.execPath, [join(root, "scripts/dev.mjs"), "--port", apiPort, ...varArgs], {
		cwd: root,
		stdio: "inherit",
	}),
	spawn(process.execPath, [join(root, "node_modules/vite/bin/vite.js"), "--port", appPort, "--strictPort"], {
		cwd: join(root, "examples/web"),
		stdio: "inherit",
		env: { ...process.env, ATRIUM_URL: vars.APP_URL },
	}),
];
console.log(`\n  API  http://localhost:${apiPort}\n  App  ${app}\n`);
function stopAll(signal) {
	for (const child of children) child.kill(signal);
}
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => stopAll(signal));
for (const child of children) {
	child.on("exit", (code) => {
		stopAll("SIGTERM");
		process.exit(code ?? 0);
	});
}
