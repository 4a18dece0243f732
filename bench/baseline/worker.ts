// The platform's floor for `npm run bench`: the least a Worker can do for each kind of request,
// under the same runtime, bindings and proxy as Atrium. Bench-only; never deployed.
import { scrypt } from "node:crypto";

type Env = { IMAGES: R2Bucket; DB: D1Database };

/** A body the size and shape of `GET /v1/me`, so JSON serialization costs about the same. */
const FIXED = {
	id: "0190d5c5-7c7e-7000-8000-000000000000",
	email: "bench@example.com",
	name: "Bench",
	locale: "en",
	email_confirmed: true,
	has_password: true,
	avatar_url: null,
	created_at: "2026-01-01T00:00:00.000Z",
	accounts: [],
};

// Same parameters as src/lib/password.ts (N=2^14, r=8, p=5, 32-byte key).
const SCRYPT = { N: 2 ** 14, r: 8, p: 5, maxmem: 64 * 1024 * 1024 };
const SALT = new Uint8Array(16).fill(7);

function deriveKey(password: string): Promise<Buffer> {
	return new Promise((resolve, reject) => {
		scrypt(password, SALT, 32, SCRYPT, (error, key) => (error ? reject(error) : resolve(key)));
	});
}

export default {
	async fetch(request, env) {
		const url = new URL(request.url);
		if (url.pathname === "/json") return Response.json(FIXED);
		if (url.pathname === "/d1") {
			// One D1 round trip and nothing else: what a single statement costs under this runtime.
			const row = await env.DB.prepare("select 1 as one").first<{ one: number }>();
			return Response.json({ one: row?.one ?? null });
		}
		if (url.pathname === "/scrypt" && request.method === "POST") {
			// One password hash with Atrium's parameters: the floor of a login's CPU.
			const { password } = await request.json<{ password: string }>();
			const key = await deriveKey(password);
			return Response.json({ length: key.length });
		}
		if (url.pathname.startsWith("/r2/")) {
			const key = url.pathname.slice("/r2/".length);
			if (request.method === "PUT") {
				// Seeding only.
				const stored = await env.IMAGES.put(key, request.body, {
					httpMetadata: { contentType: request.headers.get("Content-Type") ?? "application/octet-stream" },
				});
				return Response.json({ etag: stored.httpEtag, size: stored.size }, { status: 201 });
			}
			// Streams the object with no auth or metadata lookup; If-None-Match goes to R2 as it is.
			const object = await env.IMAGES.get(key, { onlyIf: request.headers });
			if (!object) return new Response(null, { status: 404 });
			if (!("body" in object)) return new Response(null, { status: 304, headers: { ETag: object.httpEtag } });
			return new Response(object.body, {
				headers: {
					"Content-Type": object.httpMetadata?.contentType ?? "application/octet-stream",
					"Content-Length": String(object.size),
					ETag: object.httpEtag,
				},
			});
		}
		return new Response(null, { status: 404 });
	},
} satisfies ExportedHandler<Env>;
