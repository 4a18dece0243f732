#!/usr/bin/env node
// `npm run webhooks:listen [-- <port>]`: a local receiver for Atrium's signed events. Verifies
// each delivery with the standardwebhooks package (what a real backend would use) and prints it.
// Point `npm run dev` at it with the WEBHOOK_URL and WEBHOOK_SECRET lines it prints (.dev.vars);
// retries happen on the cron, which `curl http://localhost:8787/__scheduled` runs on demand.
//
// Options: port as the first argument or WEBHOOK_PORT (default 8788); WEBHOOK_SECRET to reuse a
// secret (otherwise a new whsec_ secret is made); `--fail <n>` answers 500 to the first n
// deliveries, to watch a retry keep its webhook-id.
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { Webhook } from "standardwebhooks";

const args = process.argv.slice(2);
const failIndex = args.indexOf("--fail");
let failuresLeft = failIndex >= 0 ? Number(args.splice(failIndex, 2)[1] ?? 0) : 0;
const port = Number(args[0] ?? process.env.WEBHOOK_PORT ?? 8788);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
	console.error(`Not a port: ${args[0] ?? process.env.WEBHOOK_PORT}`);
	process.exit(2);
}
const secret = process.env.WEBHOOK_SECRET || `whsec_${randomBytes(32).toString("base64")}`;
let verifier;
try {
	verifier = new Webhook(secret);
} catch {
	// standardwebhooks reads a secret as base64 (after whsec_); a plain secret is its UTF-8 bytes.
	verifier = new Webhook(Buffer.from(secret, "utf8").toString("base64"));
}
const path = "/webhooks";

const server = createServer((req, res) => {
	const chunks = [];
	req.on("data", (chunk) => chunks.push(chunk));
	req.on("end", () => {
		if (req.method !== "POST" || req.url !== path) {
			res.writeHead(404).end();
			return;
		}
		const body = Buffer.concat(chunks).toString("utf8");
		const id = req.headers["webhook-id"];
		let event;
		try {
			event = verifier.verify(body, req.headers);
		} catch (error) {
			console.log(`✗ rejected ${id ?? "(no webhook-id)"}: ${error instanceof Error ? error.message : error}`);
			res.writeHead(400).end();
			return;
		}
		if (failuresLeft > 0) {
			failuresLeft -= 1;
			console.log(`↻ ${id} ${event.type}: verified, answering 500 on purpose (${failuresLeft} more)`);
			res.writeHead(500).end();
			return;
		}
		console.log(`✓ ${id} ${event.type} (timestamp ${req.headers["webhook-timestamp"]})`);
		console.log(JSON.stringify(event.data, null, 2));
		res.writeHead(204).end();
	});
});

server.listen(port, "127.0.0.1", () => {
	console.log(`Listening for Atrium events on http://127.0.0.1:${port}${path}`);
	console.log("Put these lines in .dev.vars and restart npm run dev:");
	console.log(`WEBHOOK_URL=http://127.0.0.1:${port}${path}`);
	console.log(`WEBHOOK_SECRET=${secret}`);
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.close(() => process.exit(0)));
