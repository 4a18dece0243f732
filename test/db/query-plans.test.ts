import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { api, expectProblem, PASSWORD, send, signedInUser, uniqueEmail } from "../helpers/api";
import { type D1Recorder, recordD1 } from "../helpers/d1-recorder";
import { pngOf, postRaw, uploadImage } from "../helpers/images";
import { enableTotp, firstStep, nextStep, pinClock, secondStep, totpCode } from "../helpers/mfa";
import { FakeIdentityProviders, fakeUser, linkWith, loginWith, startLink } from "../helpers/oauth-fakes";
import { fakeOrigin } from "../helpers/network";
import { tokenFrom, waitForMail } from "../helpers/resend";
import { SoftwareAuthenticator, addPasskey, signInWithPasskey } from "../helpers/webauthn";
import { appWith } from "../helpers/worker";
import { encodeCursor } from "../../src/lib/cursors";

/** Tables whose row count grows with users and their activity: a full scan of one is a cost that grows too. */
const USER_SIZED_TABLES = [
	"users",
	"sessions",
	"refresh_tokens",
	"verification_tokens",
	"outbox",
	"images",
	"oauth_accounts",
	"rate_limits",
	"audit_events",
	"mfa_totp",
	"mfa_recovery_codes",
	"mfa_challenges",
	"oauth_states",
	"oauth_link_tickets",
	"magic_links",
	"passkeys",
	"passkey_challenges",
];

const SEED_USERS = 2000;
const SEED_IMAGES = 10_000;
/** Seeded images belong to a few users only: the hourly sweep visits every user with images. */
const SEED_IMAGE_OWNERS = 50;

/** Rows in every user-sized table, written with recursive CTEs (a few statements, not thousands). */
async function seed(): Promise<void> {
	const n = (count: number) => `with recursive n(i) as (select 1 union all select i + 1 from n where i < ${count})`;
	await env.DB.batch(
		[
			`insert into users (id, email, locale, password_hash, updated_at)
			 ${n(SEED_USERS)} select 'seed-user-' || i, 'seed-' || i || '@seed.test', 'en', 'x', 0 from n`,
			`insert into sessions (id, user_id, expires_at)
			 ${n(SEED_USERS)} select 'seed-session-' || i, 'seed-user-' || i, 4102444800000 from n`,
			`insert into refresh_tokens (token_hash, session_id)
			 ${n(SEED_USERS)} select 'seed-refresh-' || i, 'seed-session-' || i from n`,
			`insert into verification_tokens (token_hash, user_id, purpose, expires_at)
			 ${n(SEED_USERS)} select 'seed-verification-' || i, 'seed-user-' || i, 'confirm_email', 0 from n`,
			`insert into outbox (id, to_address, subject, html, text, status, next_attempt_at)
			 ${n(SEED_USERS)} select 'seed-mail-' || i, 'seed-' || i || '@seed.test', 's', 'h', 't', 'sent', 0 from n`,
			`insert into oauth_accounts (provider, provider_user_id, user_id)
			 ${n(SEED_USERS)} select 'github', 'seed-' || i, 'seed-user-' || i from n`,
			`insert into magic_links (token_hash, email, user_id, code_hash, locale, expires_at)
			 ${n(SEED_USERS)} select 'seed-magic-' || i, 'seed-' || i || '@seed.test', 'seed-user-' || i, 'c', 'en', 4102444800000 from n`,
			`insert into rate_limits (key, count, reset_at)
			 ${n(SEED_USERS)} select 'seed-limit-' || i, 1, 4102444800000 from n`,
			`insert into audit_events (id, user_id, type)
			 ${n(SEED_USERS)} select 'seed-event-' || i, 'seed-user-' || i, 'login' from n`,
			`insert into images (id, user_id, filename, content_type, size, width, height, etag, sha256, updated_at)
			 ${n(SEED_IMAGES)} select 'seed-image-' || i, 'seed-user-' || (i % ${SEED_IMAGE_OWNERS} + 1),
			   'seed.png', 'image/png', 64, 1, 1, 'e', 's', 4102444800000 from n`,
		].map((sql) => env.DB.prepare(sql)),
	);
}

/** Number of `?` placeholders outside string literals and quoted identifiers. */
function placeholders(sql: string): number {
	let count = 0;
	let quote: string | null = null;
	for (const char of sql) {
		if (quote) {
			if (char === quote) quote = null;
		} else if (char === "'" || char === '"' || char === "`") {
			quote = char;
		} else if (char === "?") {
			count++;
		}
	}
	return count;
}

type PlanRow = { id: number; parent: number; detail: string };

/** SQLite's plan for a statement, placeholders bound to null (without statistics, values do not change the plan). */
async function planOf(sql: string): Promise<PlanRow[]> {
	const nulls = Array.from({ length: placeholders(sql) }, () => null);
	const { results } = await env.DB.prepare(`explain query plan ${sql}`)
		.bind(...nulls)
		.all<PlanRow>();
	return results;
}

/** A plan step that visits every row of a user-sized table, or null. */
function fullScanIn(plan: PlanRow[]): string | null {
	for (const { detail } of plan) {
		const match = /^SCAN (?:TABLE )?(\w+)/.exec(detail);
		if (match?.[1] && USER_SIZED_TABLES.includes(match[1])) return detail;
	}
	return null;
}

/** Every statement the main flows prepared, once each. */
function distinctStatements(recorder: D1Recorder): string[] {
	return [...new Set(recorder.statements.map((statement) => statement.sql))].filter(
		(sql) => !/^\s*explain /i.test(sql),
	);
}

let recorder: D1Recorder;
let idp: FakeIdentityProviders;

beforeAll(async () => {
	await seed();
	recorder = recordD1();
});

afterAll(() => {
	recorder.restore();
});

beforeEach(() => {
	idp = new FakeIdentityProviders();
	idp.install();
});

/** Sign-up, sign-in, tokens, profile, password, activity, export, logout, deletion. */
async function accountFlows(): Promise<void> {
	const { email, token, tokens, userId } = await signedInUser({ name: "Ada" });
	expect((await send("GET", "/v1/me", { token })).status).toBe(200);
	expect((await send("PATCH", "/v1/me", { token, body: { name: "Ada L." } })).status).toBe(200);
	const refreshed = await send("POST", "/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } });
	expect(refreshed.status).toBe(200);
	// A spent refresh token again: within REFRESH_REUSE_SECONDS it rotates once more; with the interval off it
	// is reuse, and the reuse path revokes the session.
	const retried = await send("POST", "/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } });
	expect(retried.status).toBe(200);
	const reused = await appWith({ REFRESH_REUSE_SECONDS: "0" }).send("POST", "/v1/auth/refresh", {
		body: { refresh_token: tokens.refresh_token },
	});
	await expectProblem(reused, 401, "refresh_token_reused");

	const again = await send("POST", "/v1/auth/login", { body: { email, password: PASSWORD } });
	expect(again.status).toBe(200);
	const fresh = ((await again.json()) as { access_token: string }).access_token;
	const wrong = await send("POST", "/v1/auth/login", { body: { email, password: "not the password at all" } });
	await expectProblem(wrong, 401, "invalid_credentials");
	const unknown = await send("POST", "/v1/auth/login", { body: { email: uniqueEmail(), password: PASSWORD } });
	await expectProblem(unknown, 401, "invalid_credentials");

	const changed = await send("PUT", "/v1/me/password", {
		token: fresh,
		body: { current_password: PASSWORD, new_password: "a brand new passphrase" },
	});
	expect(changed.status).toBe(200);
	expect((await send("GET", "/v1/me/activity", { token: fresh })).status).toBe(200);
	expect((await send("GET", "/v1/me/export", { token: fresh })).status).toBe(200);
	expect((await send("POST", "/v1/auth/logout", { token: fresh })).status).toBe(204);
	const revoked = await send("GET", "/v1/me", { token: fresh });
	await expectProblem(revoked, 401, "unauthorized");

	const other = await send("POST", "/v1/auth/login", { body: { email, password: "a brand new passphrase" } });
	const otherToken = ((await other.json()) as { access_token: string }).access_token;
	expect((await send("POST", "/v1/auth/logout-all", { token: otherToken })).status).toBe(204);
	const last = await send("POST", "/v1/auth/login", { body: { email, password: "a brand new passphrase" } });
	const lastToken = ((await last.json()) as { access_token: string }).access_token;
	const deleted = await send("DELETE", "/v1/me", { token: lastToken, body: { password: "a brand new passphrase" } });
	expect(deleted.status, `${userId}: ${await deleted.clone().text()}`).toBe(204);
}

/** Confirmation and reset links: the pages, resending, forgetting, resetting. */
async function mailedLinkFlows(): Promise<void> {
	const email = uniqueEmail("links");
	expect((await send("POST", "/v1/auth/register", { body: { email, password: PASSWORD } })).status).toBe(202);
	const confirmToken = tokenFrom(await waitForMail(email), "/v1/auth/confirm");
	const page = await api(`/v1/auth/confirm?token=${confirmToken}`, { headers: { Accept: "text/html" } });
	expect(page.status).toBe(200);
	expect((await send("POST", "/v1/auth/confirm/resend", { body: { email } })).status).toBe(202);
	const newest = tokenFrom(await waitForMail(email, 2), "/v1/auth/confirm");
	expect((await send("POST", "/v1/auth/confirm", { body: { token: newest } })).status).toBe(200);

	expect((await send("POST", "/v1/auth/password/forgot", { body: { email } })).status).toBe(202);
	const resetToken = tokenFrom(await waitForMail(email, 3), "/v1/auth/password/reset");
	const resetPage = await api(`/v1/auth/password/reset?token=${resetToken}`, { headers: { Accept: "text/html" } });
	expect(resetPage.status).toBe(200);
	const reset = await send("POST", "/v1/auth/password/reset", {
		body: { token: resetToken, password: "another fine passphrase" },
	});
	expect(reset.status).toBe(200);
}

/**
 * Magic links: request (known, unknown), page, wrong code, code, token (sign-up), the claim of an
 * unconfirmed account; then an email change (request, page, confirm).
 */
async function passwordlessFlows(): Promise<void> {
	const links = appWith({ APP_REDIRECT_URLS: "https://app.test/signed-in" });
	const { email } = await signedInUser();
	expect((await links.send("POST", "/v1/auth/magic-link", { body: { email } })).status).toBe(202);
	const mail = await waitForMail(email, 2);
	const token = tokenFrom(mail, "/v1/auth/magic-link");
	const code = /\b(\d{6})\b/.exec(mail.text)?.[1] ?? "";
	expect((await api(`/v1/auth/magic-link?token=${token}`)).status).toBe(200);
	const wrong = code === "000000" ? "111111" : "000000";
	expect((await send("POST", "/v1/auth/magic-link/verify", { body: { email, code: wrong } })).status).toBe(400);
	expect((await send("POST", "/v1/auth/magic-link/verify", { body: { email, code } })).status).toBe(200);

	const newcomer = uniqueEmail("magic");
	const body = { email: newcomer, redirect_to: "https://app.test/signed-in" };
	expect((await links.send("POST", "/v1/auth/magic-link", { body })).status).toBe(202);
	const signUp = tokenFrom(await waitForMail(newcomer), "/v1/auth/magic-link");
	const form = await links.fetch(
		new Request("https://atrium.test/v1/auth/magic-link/verify", {
			method: "POST",
			headers: { "Content-Type": "application/x-www-form-urlencoded" },
			body: new URLSearchParams({ token: signUp }).toString(),
		}),
	);
	expect(form.status).toBe(302);

	const squatted = uniqueEmail("squatted");
	expect((await send("POST", "/v1/auth/register", { body: { email: squatted, password: PASSWORD } })).status).toBe(202);
	await waitForMail(squatted);
	expect((await links.send("POST", "/v1/auth/magic-link", { body: { email: squatted } })).status).toBe(202);
	const claim = tokenFrom(await waitForMail(squatted, 2), "/v1/auth/magic-link");
	expect((await send("POST", "/v1/auth/magic-link/verify", { body: { token: claim } })).status).toBe(200);

	const mover = await signedInUser();
	const newEmail = uniqueEmail("moved");
	expect((await links.send("POST", "/v1/me/email", { token: mover.token, body: { new_email: newEmail } })).status).toBe(
		202,
	);
	const change = tokenFrom(await waitForMail(newEmail), "/v1/auth/email/confirm");
	expect((await api(`/v1/auth/email/confirm?token=${change}`)).status).toBe(200);
	expect((await send("POST", "/v1/auth/email/confirm", { body: { token: change } })).status).toBe(200);
}

/** Upload, list, metadata, download (whole, revalidated, ranged), replace, rename, delete; avatars. */
async function imageFlows(): Promise<void> {
	const { token, userId } = await signedInUser();
	const image = await uploadImage(token, pngOf(4, 3));
	await uploadImage(token, pngOf(5, 3));
	expect((await send("GET", "/v1/images?limit=1", { token })).status).toBe(200);
	const page = (await (await send("GET", "/v1/images?limit=1", { token })).json()) as { next_cursor: string | null };
	expect(page.next_cursor).toBeTruthy();
	expect((await send("GET", `/v1/images?limit=1&cursor=${page.next_cursor}`, { token })).status).toBe(200);
	expect((await send("GET", `/v1/images/${image.id}`, { token })).status).toBe(200);
	const download = await send("GET", `/v1/images/${image.id}/content`, { token });
	expect(download.status).toBe(200);
	await download.arrayBuffer();
	const etag = download.headers.get("ETag") ?? "";
	const revalidated = await send("GET", `/v1/images/${image.id}/content`, {
		token,
		headers: { "If-None-Match": etag },
	});
	expect(revalidated.status).toBe(304);
	const ranged = await send("GET", `/v1/images/${image.id}/content`, { token, headers: { Range: "bytes=0-9" } });
	expect(ranged.status).toBe(206);
	await ranged.arrayBuffer();

	const replaced = await postRaw(token, pngOf(6, 6), {
		method: "PUT",
		path: `/v1/images/${image.id}/content`,
		type: "image/png",
		headers: { "If-Match": etag },
	});
	expect(replaced.status, await replaced.clone().text()).toBe(200);
	expect((await send("PATCH", `/v1/images/${image.id}`, { token, body: { filename: "renamed.png" } })).status).toBe(
		200,
	);
	expect((await send("DELETE", `/v1/images/${image.id}`, { token })).status).toBe(204);

	const avatar = await postRaw(token, pngOf(8, 8), { method: "PUT", path: "/v1/me/avatar", type: "image/png" });
	expect(avatar.status).toBe(200);
	const publicAvatar = await api(`/v1/users/${userId}/avatar`);
	expect(publicAvatar.status).toBe(200);
	await publicAvatar.arrayBuffer();
	expect((await send("DELETE", "/v1/me/avatar", { token })).status).toBe(204);
}

/** OAuth sign-up, sign-in again, the one-time code exchange, linking and unlinking. */
async function oauthFlows(): Promise<void> {
	const identity = fakeUser();
	expect((await loginWith(idp, "github", identity)).status).toBe(200);
	expect((await loginWith(idp, "github", identity)).status).toBe(200);
	const redirected = await loginWith(idp, "google", fakeUser(), "https://app.test/callback");
	const code = new URL(redirected.headers.get("Location") ?? "").searchParams.get("code");
	expect((await send("POST", "/v1/auth/oauth/exchange", { body: { code } })).status).toBe(200);

	const { token } = await signedInUser();
	expect((await linkWith(idp, token, "oidc", fakeUser())).status).toBe(200);
	// A spent ticket, opened and pressed again.
	const { linkUrl } = await startLink(token, "github");
	const again = new URL(linkUrl);
	expect((await api(again.pathname + again.search)).status).toBe(410);
	expect((await send("GET", "/v1/me/accounts", { token })).status).toBe(200);
	expect((await send("DELETE", "/v1/me/accounts/oidc", { token })).status).toBe(204);
}

/** TOTP enrolment, the second step with a code and a recovery code, regeneration, sessions, disable. */
async function mfaFlows(): Promise<void> {
	pinClock();
	try {
		const { email, token } = await signedInUser();
		const { secret, recoveryCodes } = await enableTotp(token);
		expect((await secondStep({ mfa_token: (await firstStep(email)).mfa_token, code: totpCode(secret) })).status).toBe(
			200,
		);
		const wrong = await secondStep({ mfa_token: (await firstStep(email)).mfa_token, code: "000000" });
		expect(wrong.status).toBe(401);
		const recovered = await secondStep({
			mfa_token: (await firstStep(email)).mfa_token,
			recovery_code: recoveryCodes[0],
		});
		expect(recovered.status).toBe(200);
		const fresh = ((await recovered.json()) as { access_token: string }).access_token;
		expect((await send("POST", "/v1/me/mfa/recovery-codes", { token: fresh })).status).toBe(200);
		const sessions = await send("GET", "/v1/me/sessions", { token: fresh });
		expect(sessions.status).toBe(200);
		const listed = ((await sessions.json()) as { sessions: { id: string; current: boolean }[] }).sessions;
		const other = listed.find((session) => !session.current);
		if (other) expect((await send("DELETE", `/v1/me/sessions/${other.id}`, { token: fresh })).status).toBe(204);
		nextStep();
		expect((await send("DELETE", "/v1/me/mfa/totp", { token: fresh, body: { code: totpCode(secret) } })).status).toBe(
			204,
		);
	} finally {
		vi.useRealTimers();
	}
}

/** The admin API: lookup by email, a later page, one user, disable, enable, revoke, delete. */
async function adminFlows(): Promise<void> {
	const { email, userId } = await signedInUser();
	const admin = (method: string, path: string) => send(method, `/v1/admin${path}`, { token: ADMIN_KEY });
	expect((await admin("GET", `/users?email=${encodeURIComponent(email)}`)).status).toBe(200);
	// A later page only: the first page walks users_created_idx from its newest end, bounded by the
	// limit (checked in "keyset pages" below), which the scan check here would count as a full scan.
	const cursor = encodeCursor({ createdAt: Date.now(), id: "zzzz" });
	expect((await admin("GET", `/users?limit=2&cursor=${cursor}`)).status).toBe(200);
	expect((await admin("GET", `/users/${userId}`)).status).toBe(200);
	expect((await admin("POST", `/users/${userId}/disable`)).status).toBe(200);
	const refused = await send("POST", "/v1/auth/login", { body: { email, password: PASSWORD } });
	await expectProblem(refused, 403, "account_disabled");
	expect((await admin("POST", `/users/${userId}/enable`)).status).toBe(200);
	expect((await admin("POST", `/users/${userId}/sessions/revoke`)).status).toBe(204);
	expect((await admin("DELETE", `/users/${userId}`)).status).toBe(204);
}

const ADMIN_KEY = "test-admin-key-that-is-at-least-32-bytes";

/** Passkeys: registration, sign-in, list, removal, and an account with one deleted. */
async function passkeyFlows(): Promise<void> {
	const { token } = await signedInUser();
	const authenticator = new SoftwareAuthenticator();
	const passkey = await addPasskey(token, authenticator);
	await addPasskey(token, new SoftwareAuthenticator("RS256"));
	expect((await signInWithPasskey(authenticator)).status).toBe(200);
	expect((await send("GET", "/v1/me/passkeys", { token })).status).toBe(200);
	expect((await send("GET", "/v1/me/export", { token })).status).toBe(200);
	expect((await send("DELETE", `/v1/me/passkeys/${passkey.id}`, { token })).status).toBe(204);
	expect((await send("DELETE", "/v1/me", { token })).status).toBe(204);
}

/**
 * Webhooks on: each change records its event (conditional ones read users, mfa_totp, passkeys in
 * the batch), a receiver failure leaves the row, and the cron retries it.
 */
async function webhookFlows(): Promise<void> {
	const hooks = appWith({
		WEBHOOK_URL: "https://hooks.test/atrium",
		WEBHOOK_SECRET: "a webhook secret of at least thirty-two bytes",
	});
	let calls = 0;
	fakeOrigin("https://hooks.test", () => {
		calls += 1;
		return new Response(null, { status: calls === 1 ? 500 : 204 });
	});
	const email = uniqueEmail();
	expect((await hooks.send("POST", "/v1/auth/register", { body: { email, password: PASSWORD } })).status).toBe(202);
	const confirm = tokenFrom(await waitForMail(email), "/v1/auth/confirm");
	expect((await hooks.send("POST", "/v1/auth/confirm", { body: { token: confirm } })).status).toBe(200);
	expect((await hooks.send("POST", "/v1/auth/password/forgot", { body: { email } })).status).toBe(202);
	const reset = tokenFrom(await waitForMail(email, 2), "/v1/auth/password/reset");
	const newPassword = "another long passphrase";
	const resetDone = await hooks.send("POST", "/v1/auth/password/reset", {
		body: { token: reset, password: newPassword },
	});
	expect(resetDone.status).toBe(200);
	const login = await hooks.send("POST", "/v1/auth/login", { body: { email, password: newPassword } });
	const { access_token: token, user } = (await login.json()) as { access_token: string; user: { id: string } };
	const changed = await hooks.send("PUT", "/v1/me/password", {
		token,
		body: { current_password: newPassword, new_password: PASSWORD },
	});
	expect(changed.status).toBe(200);
	const moved = uniqueEmail("moved");
	expect((await hooks.send("POST", "/v1/me/email", { token, body: { new_email: moved } })).status).toBe(202);
	const change = tokenFrom(await waitForMail(moved), "/v1/auth/email/confirm");
	expect((await hooks.send("POST", "/v1/auth/email/confirm", { body: { token: change } })).status).toBe(200);
	const started = await hooks.send("POST", "/v1/me/mfa/totp", { token });
	const { secret } = (await started.json()) as { secret: string };
	const enabled = await hooks.send("POST", "/v1/me/mfa/totp/verify", { token, body: { code: totpCode(secret) } });
	expect(enabled.status).toBe(200);
	nextStep();
	expect((await hooks.send("DELETE", "/v1/me/mfa/totp", { token, body: { code: totpCode(secret) } })).status).toBe(204);
	const magic = uniqueEmail("magic");
	expect((await hooks.send("POST", "/v1/auth/magic-link", { body: { email: magic } })).status).toBe(202);
	const link = tokenFrom(await waitForMail(magic), "/v1/auth/magic-link");
	expect((await hooks.send("POST", "/v1/auth/magic-link/verify", { body: { token: link } })).status).toBe(200);
	const admin = (method: string, path: string) => hooks.send(method, `/v1/admin${path}`, { token: ADMIN_KEY });
	expect((await admin("POST", `/users/${user.id}/disable`)).status).toBe(200);
	expect((await admin("DELETE", `/users/${user.id}`)).status).toBe(204);
	// The first delivery failed: the cron's retry picks it up once it is due.
	await env.DB.prepare("update outbox set next_attempt_at = 0 where kind = 'webhook' and status = 'pending'").run();
	const ctx = createExecutionContext();
	await worker.scheduled(createScheduledController({ scheduledTime: Date.now() }), hooks.env, ctx);
	await waitOnExecutionContext(ctx);
	expect(calls).toBeGreaterThan(10);
}

/** The cron: outbox retries, orphan sweep, pruning of rate-limit windows and audit events. */
async function scheduledFlows(): Promise<void> {
	const ctx = createExecutionContext();
	await worker.scheduled(createScheduledController({ scheduledTime: Date.UTC(2026, 0, 1, 12, 0) }), env, ctx);
	await waitOnExecutionContext(ctx);
}

describe("query plans: happy", () => {
	it("no statement of the main flows scans a user-sized table", async () => {
		await accountFlows();
		await mailedLinkFlows();
		await passwordlessFlows();
		await imageFlows();
		await oauthFlows();
		await mfaFlows();
		await adminFlows();
		await passkeyFlows();
		await webhookFlows();
		await scheduledFlows();

		const statements = distinctStatements(recorder);
		// A floor, so a recorder that silently stopped recording cannot pass.
		expect(statements.length).toBeGreaterThan(50);
		const scans: { sql: string; plan: string[] }[] = [];
		for (const sql of statements) {
			const plan = await planOf(sql);
			if (fullScanIn(plan)) scans.push({ sql, plan: plan.map((row) => row.detail) });
		}
		expect(scans).toEqual([]);
		// Every main flow in one test: on a loaded 2-core machine it outgrows the default 30 s.
	}, 120_000);

	it("every foreign key column leads an index, so cascades and joins from the parent search", async () => {
		const missing: string[] = [];
		let checked = 0;
		for (const table of USER_SIZED_TABLES) {
			const { results: keys } = await env.DB.prepare('select "from" as col from pragma_foreign_key_list(?)')
				.bind(table)
				.all<{ col: string }>();
			const { results: leading } = await env.DB.prepare(
				`select ii.name as col from pragma_index_list(?1) as il, pragma_index_info(il.name) as ii where ii.seqno = 0`,
			)
				.bind(table)
				.all<{ col: string }>();
			for (const { col } of keys) {
				checked++;
				if (!leading.some((index) => index.col === col)) missing.push(`${table}.${col}`);
			}
		}
		// users <- sessions, refresh_tokens, verification_tokens, images, oauth_accounts, audit_events, outbox,
		// mfa_totp, mfa_recovery_codes, mfa_challenges, oauth_link_tickets, magic_links, passkeys,
		// passkey_challenges; sessions <- refresh_tokens.
		expect(checked).toBe(14);
		expect(missing).toEqual([]);
	});
});

describe("query plans: keyset pages", () => {
	it("starts the next page of images at the cursor in the index, not at the user's newest image", async () => {
		const { token } = await signedInUser();
		for (const width of [2, 3, 4]) await uploadImage(token, pngOf(width, 2));
		const first = (await (await send("GET", "/v1/images?limit=1", { token })).json()) as { next_cursor: string };
		recorder.clear();
		expect((await send("GET", `/v1/images?limit=1&cursor=${first.next_cursor}`, { token })).status).toBe(200);
		const page = recorder.statements.find(({ sql }) => /from "images"/.test(sql) && / limit \?$/.test(sql));
		expect(page).toBeDefined();
		const plan = await planOf(page?.sql ?? "");
		expect(plan.map((row) => row.detail)).toContainEqual(
			expect.stringMatching(/\(user_id=\? AND \(created_at,id\)<\(\?,\?\)\)/),
		);
	});
});

describe("query plans: admin pages", () => {
	it("pages users newest first along users_created_idx, with no sort and no table scan", async () => {
		for (let i = 0; i < 3; i++) await signedInUser();
		recorder.clear();
		const first = await send("GET", "/v1/admin/users?limit=1", { token: ADMIN_KEY });
		const { next_cursor } = (await first.json()) as { next_cursor: string };
		const firstPage = recorder.statements.find(({ sql }) => /from "users"/.test(sql) && / limit \?$/.test(sql));
		const firstPlan = (await planOf(firstPage?.sql ?? "")).map((row) => row.detail);
		expect(firstPlan).toContain("SCAN users USING INDEX users_created_idx");
		expect(firstPlan.join("\n")).not.toMatch(/TEMP B-TREE/);
		recorder.clear();
		expect((await send("GET", `/v1/admin/users?limit=1&cursor=${next_cursor}`, { token: ADMIN_KEY })).status).toBe(200);
		const page = recorder.statements.find(({ sql }) => /from "users"/.test(sql) && / limit \?$/.test(sql));
		const plan = (await planOf(page?.sql ?? "")).map((row) => row.detail);
		expect(plan).toContainEqual(
			expect.stringMatching(/SEARCH users USING INDEX users_created_idx \(\(created_at,id\)<\(\?,\?\)\)/),
		);
	});
});

describe("query plans: errors", () => {
	it("reports a lookup on an unindexed column as a full scan", async () => {
		expect(fullScanIn(await planOf(`select id from audit_events where type = ?`))).toBe("SCAN audit_events");
		expect(fullScanIn(await planOf(`delete from sessions where ip = ?`))).toBe("SCAN sessions");
	});

	it("reports walking a whole index as a scan too, and a search as none", async () => {
		expect(fullScanIn(await planOf(`select id from users order by id`))).toMatch(/^SCAN users/);
		expect(fullScanIn(await planOf(`select id from users where email = ?`))).toBeNull();
	});

	it("counts placeholders outside quotes only", () => {
		expect(placeholders(`select '?' as "a?" from t where x = ? and y = ?`)).toBe(2);
	});
});
