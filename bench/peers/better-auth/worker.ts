// Better Auth 1.7.7 on Hono + D1: the peer `npm run bench` measures Atrium against (bench/run.mjs).
// Bench-only; never deployed. One Better Auth instance per isolate and variant, made on first use
// (Workers forbid I/O and random values in global scope), as a Hono app on Workers would keep it.
//
// Variants on the same code: requests under /bearer/ use Better Auth's defaults (every
// get-session reads D1); requests under /cookie-cache/ have session.cookieCache on (get-session
// trusts a signed cookie for up to 5 minutes, so a revoked session lives on until it expires).
// Both share the database.
import { AsyncLocalStorage } from "node:async_hooks";
import { betterAuth } from "better-auth";
import { Hono } from "hono";
import { authOptions } from "./auth";

type Env = { DB: D1Database; BETTER_AUTH_SECRET: string; BETTER_AUTH_URL: string };
type Variant = "bearer" | "cookie-cache";

/** D1 round trips of the current request: each statement run, or one per batch. */
const roundTrips = new AsyncLocalStorage<{ count: number }>();
const count = () => {
	const store = roundTrips.getStore();
	if (store) store.count++;
};

function countedStatement(statement: D1PreparedStatement): D1PreparedStatement {
	return new Proxy(statement, {
		get(target, key, receiver) {
			const value = Reflect.get(target, key, receiver);
			if (key === "bind") return (...values: unknown[]) => countedStatement(target.bind(...values));
			if (key === "all" || key === "first" || key === "run" || key === "raw") {
				return (...args: unknown[]) => {
					count();
					return (value as (...a: unknown[]) => unknown).apply(target, args);
				};
			}
			return typeof value === "function" ? value.bind(target) : value;
		},
	});
}

/**
 * The D1 binding with its round trips counted, reported like Atrium's (Server-Timing d1). Better
 * Auth detects D1 by its prepare/batch/exec methods, which the wrapper keeps.
 */
function countedD1(db: D1Database): D1Database {
	return {
		prepare: (query: string) => countedStatement(db.prepare(query)),
		batch: (statements: D1PreparedStatement[]) => {
			count();
			return db.batch(statements);
		},
		exec: (query: string) => {
			count();
			return db.exec(query);
		},
		dump: () => db.dump(),
		withSession: (constraint?: string) => db.withSession(constraint),
	} as D1Database;
}

const instances = new Map<Variant, { handler: (request: Request) => Promise<Response> }>();
function authFor(env: Env, variant: Variant) {
	let auth = instances.get(variant);
	if (!auth) {
		auth = betterAuth({
			...authOptions(countedD1(env.DB), {
				secret: env.BETTER_AUTH_SECRET,
				baseURL: env.BETTER_AUTH_URL,
				cookieCache: variant === "cookie-cache",
			}),
			basePath: `/${variant}/api/auth`,
		});
		instances.set(variant, auth);
	}
	return auth;
}

const app = new Hono<{ Bindings: Env }>();
for (const variant of ["bearer", "cookie-cache"] as const) {
	app.on(["GET", "POST"], `/${variant}/api/auth/*`, async (c) => {
		const auth = authFor(c.env, variant);
		// Counted on request only (the bench's probe), so measured requests pay nothing for it.
		if (!c.req.header("x-count-d1")) return auth.handler(c.req.raw);
		const store = { count: 0 };
		const response = await roundTrips.run(store, () => auth.handler(c.req.raw));
		const headers = new Headers(response.headers);
		headers.append("Server-Timing", `d1;desc="${store.count} round trips"`);
		return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
	});
}
app.get("/health", (c) => c.json({ ok: true }));

export default app;
