#!/usr/bin/env node
// Prints a new JWT_SIGNING_KEYS value (a JWK set with one private key) for ES256 or EdDSA.
// No wrangler, no network: node:crypto makes the key. To rotate, put the new key first in the
// existing set and keep the old one until every token it signed has expired (ACCESS_TOKEN_SECONDS).
//
//   npm run keys:generate                 # ES256
//   npm run keys:generate -- EdDSA
//   npm run keys:generate -- ES256 --prepend '<current JWT_SIGNING_KEYS>'
import { generateKeyPairSync, randomUUID } from "node:crypto";

const args = process.argv.slice(2);
const prependAt = args.indexOf("--prepend");
const positional = args.filter((_, index) => prependAt === -1 || (index !== prependAt && index !== prependAt + 1));
const alg = positional[0] ?? "ES256";
if (alg !== "ES256" && alg !== "EdDSA") {
	console.error(`Unknown algorithm ${alg}: use ES256 or EdDSA.`);
	process.exit(2);
}
const { privateKey } =
	alg === "ES256" ? generateKeyPairSync("ec", { namedCurve: "P-256" }) : generateKeyPairSync("ed25519");
const jwk = {
	...privateKey.export({ format: "jwk" }),
	kid: `${new Date().toISOString().slice(0, 10)}-${randomUUID().slice(0, 8)}`,
	alg,
};

let keys = [jwk];
if (prependAt !== -1) {
	try {
		const existing = JSON.parse(args[prependAt + 1] ?? "");
		if (!Array.isArray(existing.keys)) throw new Error("no keys array");
		keys = [jwk, ...existing.keys];
	} catch (error) {
		console.error(`--prepend needs the current JWK set as JSON (${error.message}).`);
		process.exit(2);
	}
}
process.stdout.write(`${JSON.stringify({ keys })}\n`);
console.error(
	`New ${alg} key ${jwk.kid}. Set JWT_ALGORITHM=${alg} and store the line above as a secret:\n` +
		"  wrangler secret put JWT_SIGNING_KEYS   (or JWT_SIGNING_KEYS='<line>' in .dev.vars)",
);
