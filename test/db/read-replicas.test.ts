import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createReadDb, sessionStart } from "../../src/db/client";
import { users } from "../../src/db/schema";
import { api, expectProblem, send, signedInUser } from "../helpers/api";
import { type D1Recorder, type RecordedStatement, recordD1 } from "../helpers/d1-recorder";
import { pngOf, uploadImage } from "../helpers/images";

const BOOKMARK = /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}$/;

let recorder: D1Recorder;

beforeEach(() => {
	recorder = recordD1();
});

afterEach(() => {
	recorder.restore();
});

function bookmarkOf(res: Response): string {
	const bookmark = res.headers.get("X-D1-Bookmark");
	expect(bookmark).toMatch(BOOKMARK);
	return bookmark as string;
}

/** The statements recorded while `fn` ran. */
async function statementsOf(fn: () => Promise<unknown>): Promise<RecordedStatement[]> {
	recorder.clear();
	await fn();
	return [...recorder.statements];
}

const WRITE = /^\s*(?:insert|update|delete|replace)\b/i;

/**
 * Where a statement runs: its handle, except that a read sent in one batch with a write runs on the
 * primary wherever it was prepared (D1 runs a batch as one transaction, and a batch that writes on
 * the primary). Login and refresh read the account or session in the batch of their writes.
 */
function ranOn(statements: RecordedStatement[], statement: RecordedStatement): string {
	if (statement.batch === undefined || WRITE.test(statement.sql)) return statement.handle;
	const writes = statements.some((other) => other.batch === statement.batch && WRITE.test(other.sql));
	return writes ? "primary" : statement.handle;
}

/** Where the statements touching `table` with the given verb ran, e.g. ("select", "images"). */
function handlesOf(statements: RecordedStatement[], verb: string, table: string): string[] {
	const pattern = new RegExp(`^\\s*${verb}\\b[\\s\\S]*\\b(?:from|into|update)\\s+"${table}"`, "i");
	const updates = new RegExp(`^\\s*update\\s+"${table}"`, "i");
	return statements
		.filter((statement) => (verb === "update" ? updates : pattern).test(statement.sql))
		.map((statement) => ranOn(statements, statement));
}

/** Where each check of an access or refresh token's session ran (looked up by its id or token hash). */
function sessionChecks(statements: RecordedStatement[]): string[] {
	return statements
		.filter(
			({ sql }) => /^\s*select\b/i.test(sql) && /"(?:sessions"\."id|refresh_tokens"\."token_hash)" = \?/.test(sql),
		)
		.map((statement) => ranOn(statements, statement));
}

describe("read replicas: bookmarks", () => {
	it("returns the session's bookmark after a read through it, and one at least as new when it comes back", async () => {
		const { token } = await signedInUser();
		const listed = await send("GET", "/v1/images", { token });
		expect(listed.status).toBe(200);
		const first = bookmarkOf(listed);

		const again = await send("GET", "/v1/images", { token, headers: { "X-D1-Bookmark": first } });
		expect(again.status).toBe(200);
		expect(bookmarkOf(again) >= first).toBe(true);
	});

	it("moves the bookmark forward with every write, so a client reads its own writes", async () => {
		const { token } = await signedInUser();
		const before = bookmarkOf(await send("GET", "/v1/images", { token }));
		const image = await uploadImage(token, pngOf(3, 3));
		const renamed = await send("PATCH", `/v1/images/${image.id}`, {
			token,
			body: { filename: "after.png" },
			headers: { "X-D1-Bookmark": before },
		});
		expect(renamed.status).toBe(200);
		const after = bookmarkOf(renamed);
		expect(after > before).toBe(true);

		const listed = await send("GET", "/v1/images", { token, headers: { "X-D1-Bookmark": after } });
		const body = (await listed.json()) as { images: { id: string; filename: string }[] };
		expect(body.images).toEqual([expect.objectContaining({ id: image.id, filename: "after.png" })]);
	});

	it("gives the client's bookmark back on a response that did not need the session", async () => {
		const { token } = await signedInUser();
		const bookmark = bookmarkOf(await send("GET", "/v1/images", { token }));
		const me = await send("GET", "/v1/me", { token, headers: { "X-D1-Bookmark": bookmark } });
		expect(me.status).toBe(200);
		expect(bookmarkOf(me)).toBe(bookmark);
	});

	it("exposes the header to browsers and lets them send it", async () => {
		const preflight = await api("/v1/images", {
			method: "OPTIONS",
			headers: {
				Origin: "http://localhost:3000",
				"Access-Control-Request-Method": "GET",
				"Access-Control-Request-Headers": "authorization, x-d1-bookmark",
			},
		});
		expect(preflight.headers.get("Access-Control-Allow-Headers")?.toLowerCase()).toContain("x-d1-bookmark");
		const { token } = await signedInUser();
		const res = await send("GET", "/v1/images", { token, headers: { Origin: "http://localhost:3000" } });
		expect(res.headers.get("Access-Control-Expose-Headers")?.toLowerCase()).toContain("x-d1-bookmark");
		bookmarkOf(res);
	});
});

describe("read replicas: which reads go where", () => {
	it("serves lists and metadata through the session, and checks the access token's session on the primary", async () => {
		const { token } = await signedInUser();
		const image = await uploadImage(token, pngOf(3, 2));
		const statements = await statementsOf(async () => {
			expect((await send("GET", "/v1/images", { token })).status).toBe(200);
			expect((await send("GET", `/v1/images/${image.id}`, { token })).status).toBe(200);
			expect((await send("GET", "/v1/me/activity", { token })).status).toBe(200);
			expect((await send("GET", "/v1/me/accounts", { token })).status).toBe(200);
			expect((await send("GET", "/v1/me/export", { token })).status).toBe(200);
		});
		expect(handlesOf(statements, "select", "images").length).toBeGreaterThanOrEqual(3);
		expect(new Set(handlesOf(statements, "select", "images"))).toEqual(new Set(["session"]));
		expect(new Set(handlesOf(statements, "select", "audit_events"))).toEqual(new Set(["session"]));
		expect(new Set(handlesOf(statements, "select", "oauth_accounts"))).toEqual(new Set(["session"]));
		// Five authenticated requests, five session checks, all on the primary (the export's list of
		// the user's sessions is data like any other and may come from a replica).
		expect(sessionChecks(statements)).toEqual(Array(5).fill("primary"));
	});

	it("reads for sign-in and downloads on the primary, and sends writes through the session", async () => {
		const { email, password, token } = await signedInUser();
		const image = await uploadImage(token, pngOf(2, 2));
		const statements = await statementsOf(async () => {
			expect((await send("POST", "/v1/auth/login", { body: { email, password } })).status).toBe(200);
			const download = await send("GET", `/v1/images/${image.id}/content`, { token });
			expect(download.status).toBe(200);
			await download.arrayBuffer();
			await uploadImage(token, pngOf(2, 3));
		});
		expect(handlesOf(statements, "select", "users")).toEqual(["primary"]);
		expect(new Set(handlesOf(statements, "select", "sessions"))).toEqual(new Set(["primary"]));
		expect(handlesOf(statements, "insert", "sessions")).toEqual(["session"]);
		expect(handlesOf(statements, "insert", "images")).toEqual(["session"]);
		expect(handlesOf(statements, "update", "users")).toEqual(["session"]);
	});

	it("reads the primary outside a request (cron, scripts)", async () => {
		const statements = await statementsOf(() => createReadDb(env.DB).select({ id: users.id }).from(users).limit(1));
		expect(statements.map((statement) => statement.handle)).toEqual(["primary"]);
	});
});

describe("read replicas: errors", () => {
	it("starts anywhere without a bookmark, and at the client's when it is one", () => {
		const bookmark = "00000000-00000006-00000000-00000000000000000000000000000000";
		expect(sessionStart(undefined)).toBe("first-unconstrained");
		expect(sessionStart(bookmark)).toBe(bookmark);
		expect(sessionStart(` ${bookmark.toUpperCase()} `)).toBe(bookmark.toUpperCase());
	});

	it("ignores a malformed bookmark instead of failing the request or echoing it", async () => {
		const { token } = await signedInUser();
		for (const junk of ["garbage", "first-primary", "0".repeat(4000), "00000000-00000006-00000000-zz"]) {
			expect(sessionStart(junk)).toBe("first-unconstrained");
			const res = await send("GET", "/v1/images", { token, headers: { "X-D1-Bookmark": junk } });
			expect(res.status).toBe(200);
			expect(bookmarkOf(res)).not.toBe(junk);
		}
	});
});

describe("read replicas: security", () => {
	it("gives no bookmark on sign-up, sign-in and mailed-link answers, whose commits would tell accounts apart", async () => {
		const { email, password, tokens } = await signedInUser();
		const answers = [
			await send("POST", "/v1/auth/register", { body: { email, password } }),
			await send("POST", "/v1/auth/register", { body: { email: `new-${email}`, password } }),
			await send("POST", "/v1/auth/login", { body: { email, password } }),
			await send("POST", "/v1/auth/login", { body: { email: `unknown-${email}`, password } }),
			await send("POST", "/v1/auth/password/forgot", { body: { email } }),
			await send("POST", "/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } }),
		];
		expect(answers.map((res) => res.status)).toEqual([202, 202, 200, 401, 202, 200]);
		for (const res of answers) expect(res.headers.has("X-D1-Bookmark")).toBe(false);
	});

	it("logout bites at once for a client holding an older bookmark", async () => {
		const { token } = await signedInUser();
		const bookmark = bookmarkOf(await send("GET", "/v1/images", { token }));
		expect((await send("POST", "/v1/auth/logout", { token })).status).toBe(204);
		for (const path of ["/v1/me", "/v1/images", "/v1/me/export"]) {
			const res = await send("GET", path, { token, headers: { "X-D1-Bookmark": bookmark } });
			await expectProblem(res, 401, "unauthorized");
		}
	});

	it("checks sessions and refresh tokens on the primary in every flow", async () => {
		const { token, tokens } = await signedInUser();
		const statements = await statementsOf(async () => {
			const refreshed = await send("POST", "/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } });
			expect(refreshed.status).toBe(200);
			expect((await send("GET", "/v1/images", { token })).status).toBe(200);
			expect((await send("GET", "/v1/me/export", { token })).status).toBe(200);
			expect((await send("POST", "/v1/auth/logout-all", { token })).status).toBe(204);
		});
		const checks = sessionChecks(statements);
		expect(checks.length).toBeGreaterThanOrEqual(4);
		expect(new Set(checks)).toEqual(new Set(["primary"]));
	});
});
