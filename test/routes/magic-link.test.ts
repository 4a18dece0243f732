import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import worker from "../../src/index";
import { afterEach, describe, expect, it, vi } from "vitest";
import { translator } from "../../src/lib/i18n";
import {
	BASE,
	PASSWORD,
	type TokenBody,
	api,
	expectProblem,
	login,
	register,
	send,
	signedInUser,
	uniqueEmail,
} from "../helpers/api";
import { enableTotp, pinClock } from "../helpers/mfa";
import { type SentMail, mailsTo, tokenFrom, waitForMail } from "../helpers/resend";
import { appWith } from "../helpers/worker";

const app = appWith({ APP_REDIRECT_URLS: "https://app.test/signed-in", APP_NAME: "Lumen" });

afterEach(() => {
	vi.useRealTimers();
});

/** POST /v1/auth/magic-link through `app` (which waits for the mail), expecting 202. */
async function requestLink(email: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
	const res = await app.send("POST", "/v1/auth/magic-link", { body: { email, ...extra }, headers });
	expect(res.status).toBe(202);
	return res;
}

/** The link token and the 6-digit code of a magic-link mail. */
function linkAndCode(mail: SentMail) {
	const code = /\b(\d{6})\b/.exec(mail.text)?.[1];
	if (!code) throw new Error(`no code in mail: ${mail.text}`);
	return { token: tokenFrom(mail, "/v1/auth/magic-link"), code };
}

function verify(body: Record<string, unknown>) {
	return send("POST", "/v1/auth/magic-link/verify", { body });
}

function postForm(path: string, fields: Record<string, string>) {
	return app.fetch(
		new Request(new URL(path, BASE), {
			method: "POST",
			headers: { "Content-Type": "application/x-www-form-urlencoded" },
			body: new URLSearchParams(fields).toString(),
		}),
	);
}

async function userRow(email: string) {
	return env.DB.prepare("select id, password_hash, email_confirmed_at, locale from users where email = ?")
		.bind(email)
		.first<{ id: string; password_hash: string | null; email_confirmed_at: number | null; locale: string }>();
}

async function activity(token: string): Promise<{ type: string; detail: Record<string, unknown> | null }[]> {
	const res = await send("GET", "/v1/me/activity?limit=100", { token });
	expect(res.status).toBe(200);
	return ((await res.json()) as { events: { type: string; detail: Record<string, unknown> | null }[] }).events;
}

describe("magic link: happy", () => {
	it("mails a confirmed user one message holding a link and a 6-digit code, in the account's locale", async () => {
		const { email } = await signedInUser({ locale: "de" });
		const res = await requestLink(email, { locale: "fr" }, { "Accept-Language": "es" });
		expect(await res.json()).toEqual({ message: expect.any(String) });
		const mail = await waitForMail(email, 2);
		expect(mailsTo(email)).toHaveLength(2);
		expect(mail.subject).toBe(translator("de")("email.magic_link.subject", { app: "Lumen" }));
		const { code } = linkAndCode(mail);
		expect(mail.text).toContain(translator("de")("email.code", { code }));
		expect(mail.html).toContain(code);
	});

	it("the link's token signs in (fresh tokens) and the code then no longer works (single-use together)", async () => {
		const { email, userId } = await signedInUser();
		await requestLink(email);
		const { token, code } = linkAndCode(await waitForMail(email, 2));
		const res = await verify({ token });
		expect(res.status).toBe(200);
		expect(res.headers.get("Cache-Control")).toBe("no-store");
		const body = (await res.json()) as TokenBody;
		expect(body.user.id).toBe(userId);
		expect(body.access_token).toEqual(expect.any(String));
		const me = await send("POST", "/v1/me/mfa/totp", { token: body.access_token });
		expect(me.status).toBe(200); // a fresh-token route accepts it
		await expectProblem(await verify({ email, code }), 400, "token_invalid");
		await expectProblem(await verify({ token }), 400, "token_invalid");
		const events = await activity(body.access_token);
		expect(events.some((e) => e.type === "login" && e.detail?.method === "magic_link")).toBe(true);
	});

	it("the code signs in (email matched case-insensitively) and the link then no longer works", async () => {
		const { email, userId } = await signedInUser();
		await requestLink(email);
		const { token, code } = linkAndCode(await waitForMail(email, 2));
		const res = await verify({ email: email.toUpperCase(), code });
		expect(res.status).toBe(200);
		expect(((await res.json()) as TokenBody).user.id).toBe(userId);
		await expectProblem(await verify({ token }), 400, "token_invalid");
	});

	it("an unknown address gets a sign-up link (request locale) that creates a confirmed account without password", async () => {
		const email = uniqueEmail("signup");
		await requestLink(email, { locale: "ja" });
		const mail = await waitForMail(email);
		expect(mail.subject).toBe(translator("ja")("email.magic_signup.subject", { app: "Lumen" }));
		expect(await userRow(email)).toBeNull();
		const res = await verify({ token: linkAndCode(mail).token });
		expect(res.status).toBe(200);
		const body = (await res.json()) as TokenBody;
		expect(body.user).toMatchObject({ email, locale: "ja", email_confirmed: true });
		const row = await userRow(email);
		expect(row).toMatchObject({ id: body.user.id, password_hash: null, locale: "ja" });
		expect(row?.email_confirmed_at).toEqual(expect.any(Number));
		expect((await activity(body.access_token)).map((e) => e.type)).toContain("register");
	});

	it("without locale a sign-up mail is in the request's language", async () => {
		const email = uniqueEmail("signup");
		await requestLink(email, {}, { "Accept-Language": "es" });
		expect((await waitForMail(email)).subject).toBe(translator("es")("email.magic_signup.subject", { app: "Lumen" }));
	});

	it("a newer request replaces the older link and code", async () => {
		const { email } = await signedInUser();
		await requestLink(email);
		const first = linkAndCode(await waitForMail(email, 2));
		await requestLink(email);
		const second = linkAndCode(await waitForMail(email, 3));
		await expectProblem(await verify({ token: first.token }), 400, "token_invalid");
		if (first.code !== second.code)
			await expectProblem(await verify({ email, code: first.code }), 400, "token_invalid");
		expect((await verify({ token: second.token })).status).toBe(200);
	});

	it("with TOTP on, the answer is mfa_required and no tokens", async () => {
		pinClock();
		const { email, token } = await signedInUser();
		await enableTotp(token);
		await requestLink(email);
		const res = await verify({ token: linkAndCode(await waitForMail(email, 3)).token });
		expect(res.status).toBe(200);
		expect(await res.json()).toEqual({
			mfa_required: true,
			mfa_token: expect.any(String),
			expires_in: 300,
			methods: ["totp", "recovery_code"],
		});
	});

	it("GET without redirect_to says to type the code, spends nothing, and speaks the recipient's locale", async () => {
		const { email } = await signedInUser({ locale: "fr" });
		await requestLink(email);
		const { token } = linkAndCode(await waitForMail(email, 2));
		const page = await api(`/v1/auth/magic-link?token=${token}`, { headers: { "Accept-Language": "en" } });
		expect(page.status).toBe(200);
		const text = await page.text();
		expect(text).toContain(translator("fr")("pages.magic.type_code"));
		expect(text).not.toContain("<form");
		expect((await verify({ token })).status).toBe(200);
	});

	it("GET with redirect_to shows a button; its post 302s to redirect_to?code= which the OAuth exchange turns into tokens", async () => {
		const { email, userId } = await signedInUser();
		await requestLink(email, { redirect_to: "https://app.test/signed-in?from=mail" });
		const { token } = linkAndCode(await waitForMail(email, 2));
		const page = await app.fetch(new Request(`${BASE}/v1/auth/magic-link?token=${token}`));
		expect(page.status).toBe(200);
		expect(page.headers.get("Content-Security-Policy")).toContain("form-action 'self' https://app.test;");
		expect(page.headers.get("Referrer-Policy")).toBe("no-referrer");
		const html = await page.text();
		expect(html).toContain('action="/v1/auth/magic-link/verify?lang=en"');
		expect(html).toContain(`value="${token}"`);
		const posted = await postForm("/v1/auth/magic-link/verify", { token });
		expect(posted.status).toBe(302);
		const location = new URL(posted.headers.get("Location") ?? "");
		expect(`${location.origin}${location.pathname}`).toBe("https://app.test/signed-in");
		expect(location.searchParams.get("from")).toBe("mail");
		const code = location.searchParams.get("code") ?? "";
		const exchanged = await send("POST", "/v1/auth/oauth/exchange", { body: { code } });
		expect(exchanged.status).toBe(200);
		expect(((await exchanged.json()) as TokenBody).user.id).toBe(userId);
		// The button worked once: the link is spent, and so is the login code.
		expect((await postForm("/v1/auth/magic-link/verify", { token })).status).toBe(400);
		await expectProblem(await send("POST", "/v1/auth/oauth/exchange", { body: { code } }), 400, "token_invalid");
	});

	it("the per-email limit counts known and unknown addresses alike", async () => {
		const limited = appWith({ RATE_LIMIT_MAIL_EMAIL: "2/3600" });
		const known = (await signedInUser()).email;
		const unknown = uniqueEmail("nobody");
		for (const email of [known, unknown]) {
			for (let i = 0; i < 2; i++) {
				expect((await limited.send("POST", "/v1/auth/magic-link", { body: { email } })).status).toBe(202);
			}
			const third = await limited.send("POST", "/v1/auth/magic-link", { body: { email } });
			await expectProblem(third, 429, "rate_limited");
			expect(third.headers.get("Retry-After")).toMatch(/^\d+$/);
		}
	});

	it("the per-IP limit applies across addresses", async () => {
		const limited = appWith({ RATE_LIMIT_MAIL_IP: "2/3600" });
		const headers = { "CF-Connecting-IP": "203.0.113.77" };
		for (let i = 0; i < 2; i++) {
			const res = await limited.send("POST", "/v1/auth/magic-link", { body: { email: uniqueEmail() }, headers });
			expect(res.status).toBe(202);
		}
		const third = await limited.send("POST", "/v1/auth/magic-link", { body: { email: uniqueEmail() }, headers });
		await expectProblem(third, 429, "rate_limited");
	});
});

describe("magic link: errors", () => {
	it("a redirect_to outside APP_REDIRECT_URLS is 400 redirect_uri_not_allowed and mails nothing", async () => {
		const email = uniqueEmail();
		const res = await app.send("POST", "/v1/auth/magic-link", {
			body: { email, redirect_to: "https://evil.test/signed-in" },
		});
		await expectProblem(res, 400, "redirect_uri_not_allowed");
		expect(mailsTo(email)).toHaveLength(0);
	});

	it("malformed bodies are 400 validation_failed, never 500", async () => {
		for (const body of [{}, { email: "not-an-email" }, { email: uniqueEmail(), locale: "xx" }]) {
			await expectProblem(await send("POST", "/v1/auth/magic-link", { body }), 400, "validation_failed");
		}
		for (const body of [
			{},
			{ token: "t", email: "a@example.com", code: "123456" },
			{ email: "a@example.com" },
			{ email: "a@example.com", code: "12345" },
		]) {
			await expectProblem(await verify(body), 400, "validation_failed");
		}
	});

	it("an unknown token is 400 token_invalid; an expired one 410 token_expired without WWW-Authenticate", async () => {
		await expectProblem(await verify({ token: "nope" }), 400, "token_invalid");
		const { email } = await signedInUser();
		await requestLink(email);
		const { token, code } = linkAndCode(await waitForMail(email, 2));
		vi.useFakeTimers({ toFake: ["Date"] });
		vi.setSystemTime(Date.now() + 601_000);
		const expired = await verify({ token });
		await expectProblem(expired, 410, "token_expired");
		expect(expired.headers.get("WWW-Authenticate")).toBeNull();
		await expectProblem(await verify({ email, code }), 410, "token_expired");
		const page = await (await api(`/v1/auth/magic-link?token=${token}`)).text();
		expect(page).toContain(translator("en")("pages.magic.expired"));
	});

	it("5 wrong codes spend the code: the right one is refused afterwards", async () => {
		const { email } = await signedInUser();
		await requestLink(email);
		const { token, code } = linkAndCode(await waitForMail(email, 2));
		const wrong = code === "000000" ? "111111" : "000000";
		for (let i = 0; i < 5; i++) await expectProblem(await verify({ email, code: wrong }), 400, "token_invalid");
		await expectProblem(await verify({ email, code }), 400, "token_invalid");
		await expectProblem(await verify({ token }), 400, "token_invalid");
		const tokens = await login(email);
		await vi.waitFor(async () => {
			const failed = (await activity(tokens.access_token)).filter((e) => e.type === "magic_link_failed");
			// Five wrong codes, then the right one refused because the code is spent: six failed tries.
			expect(failed).toHaveLength(6);
		});
	});

	it("4 wrong codes leave the right one working", async () => {
		const { email } = await signedInUser();
		await requestLink(email);
		const { code } = linkAndCode(await waitForMail(email, 2));
		const wrong = code === "000000" ? "111111" : "000000";
		for (let i = 0; i < 4; i++) await expectProblem(await verify({ email, code: wrong }), 400, "token_invalid");
		expect((await verify({ email, code })).status).toBe(200);
	});

	it("a form post of a dead link gets an HTML page (400), never JSON", async () => {
		const res = await postForm("/v1/auth/magic-link/verify", { token: "nope" });
		expect(res.status).toBe(400);
		expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
		expect(await res.text()).toContain(translator("en")("pages.magic.invalid"));
		const malformed = await postForm("/v1/auth/magic-link/verify", {});
		expect(malformed.status).toBe(400);
		expect(malformed.headers.get("Content-Type")).toMatch(/^text\/html/);
	});
});

describe("magic link: security", () => {
	it("known and unknown addresses get the same status, body and headers", async () => {
		const known = (await signedInUser()).email;
		const answers = [];
		for (const email of [known, uniqueEmail("nobody")]) {
			const res = await send("POST", "/v1/auth/magic-link", { body: { email } });
			const headers = Object.fromEntries(
				[...res.headers].filter(([name]) => !["x-request-id", "server-timing", "date"].includes(name)),
			);
			answers.push({ status: res.status, body: await res.text(), headers });
		}
		expect(answers[1]).toEqual(answers[0]);
	});

	it("MAGIC_LINK_SIGNUP=off: an unknown address gets nothing and the same 202", async () => {
		const off = appWith({ MAGIC_LINK_SIGNUP: "off" });
		const email = uniqueEmail("nobody");
		const res = await off.send("POST", "/v1/auth/magic-link", { body: { email } });
		expect(res.status).toBe(202);
		expect(mailsTo(email)).toHaveLength(0);
		expect(await env.DB.prepare("select count(*) as n from magic_links where email = ?").bind(email).first("n")).toBe(
			0,
		);
		const known = (await signedInUser()).email;
		expect((await off.send("POST", "/v1/auth/magic-link", { body: { email: known } })).status).toBe(202);
		expect(mailsTo(known)).toHaveLength(2);
	});

	it("concurrent spends of one link: exactly one success", async () => {
		const { email } = await signedInUser();
		await requestLink(email);
		const { token } = linkAndCode(await waitForMail(email, 2));
		const results = await Promise.all(Array.from({ length: 8 }, () => verify({ token })));
		expect(results.map((r) => r.status).sort()).toEqual([200, 400, 400, 400, 400, 400, 400, 400]);
	});

	it("concurrent spends of one code (and its link): exactly one success", async () => {
		const { email } = await signedInUser();
		await requestLink(email);
		const { token, code } = linkAndCode(await waitForMail(email, 2));
		const results = await Promise.all([
			...Array.from({ length: 4 }, () => verify({ email, code })),
			...Array.from({ length: 4 }, () => verify({ token })),
		]);
		expect(results.filter((r) => r.status === 200)).toHaveLength(1);
	});

	it("parallel wrong guesses are all counted: after 5 the code is dead even if the right one races them", async () => {
		const { email } = await signedInUser();
		await requestLink(email);
		const { code } = linkAndCode(await waitForMail(email, 2));
		const wrong = code === "000000" ? "111111" : "000000";
		await Promise.all(Array.from({ length: 7 }, () => verify({ email, code: wrong })));
		const row = await env.DB.prepare("select failures, spent_at from magic_links where email = ?")
			.bind(email)
			.first<{ failures: number; spent_at: number | null }>();
		expect(row?.failures).toBe(5);
		expect(row?.spent_at).not.toBeNull();
		await expectProblem(await verify({ email, code }), 400, "token_invalid");
	});

	it("the squatter case: an unconfirmed account loses its password, sessions and pending links to the mailbox owner", async () => {
		// Someone registers the victim's address with their own password and never confirms it.
		const { email, confirmToken } = await register({ name: "Squatter" });
		const squatterLogin = await send("POST", "/v1/auth/login", { body: { email, password: PASSWORD } });
		await expectProblem(squatterLogin, 403, "email_not_confirmed");
		await env.DB.prepare(
			"insert into sessions (id, user_id, expires_at) select 'squat-session-' || id, id, ? from users where email = ?",
		)
			.bind(Date.now() + 86_400_000, email)
			.run();
		// The mailbox owner signs in by magic link.
		await requestLink(email);
		const mail = await waitForMail(email, 2);
		expect(mail.text).not.toContain("Squatter");
		const res = await verify({ token: linkAndCode(mail).token });
		expect(res.status).toBe(200);
		const row = await userRow(email);
		expect(row?.password_hash).toBeNull();
		expect(row?.email_confirmed_at).toEqual(expect.any(Number));
		const live = await env.DB.prepare(
			"select count(*) as n from sessions where user_id = ? and revoked_at is null and id like 'squat-session-%'",
		)
			.bind(row?.id)
			.first("n");
		expect(live).toBe(0);
		await expectProblem(
			await send("POST", "/v1/auth/confirm", { body: { token: confirmToken } }),
			400,
			"token_invalid",
		);
		await expectProblem(
			await send("POST", "/v1/auth/login", { body: { email, password: PASSWORD } }),
			401,
			"invalid_credentials",
		);
		const events = await activity(((await res.clone().json()) as TokenBody).access_token);
		expect(events.some((e) => e.type === "email_confirmed" && e.detail?.claimed === true)).toBe(true);
	});

	it("a confirmed account keeps its password and sessions when a magic link is used", async () => {
		const { email, token } = await signedInUser();
		await requestLink(email);
		expect((await verify({ token: linkAndCode(await waitForMail(email, 2)).token })).status).toBe(200);
		expect((await send("GET", "/v1/me", { token })).status).toBe(200);
		expect((await send("POST", "/v1/auth/login", { body: { email, password: PASSWORD } })).status).toBe(200);
	});

	it("a sign-up link used after someone registered the address signs in to that account and strips it", async () => {
		const email = uniqueEmail("race");
		await requestLink(email);
		const { token } = linkAndCode(await waitForMail(email));
		expect((await send("POST", "/v1/auth/register", { body: { email, password: PASSWORD } })).status).toBe(202);
		const res = await verify({ token });
		expect(res.status).toBe(200);
		expect(await userRow(email)).toMatchObject({ password_hash: null });
		const count = await env.DB.prepare("select count(*) as n from users where email = ?").bind(email).first("n");
		expect(count).toBe(1);
	});

	it("the cron deletes links past their expiry and keeps live ones", async () => {
		const { email } = await signedInUser();
		await requestLink(email);
		await waitForMail(email, 2);
		const live = uniqueEmail("live");
		const count = (address: string) =>
			env.DB.prepare("select count(*) as n from magic_links where email = ?").bind(address).first("n");
		const ctx = createExecutionContext();
		// The prune runs on the first tick of an hour: the first one after the link expired.
		const later = Math.ceil((Date.now() + 601_000) / 3_600_000) * 3_600_000;
		vi.useFakeTimers({ toFake: ["Date"] });
		vi.setSystemTime(later);
		await requestLink(live);
		await worker.scheduled(createScheduledController({ scheduledTime: later }), env, ctx);
		await waitOnExecutionContext(ctx);
		expect(await count(email)).toBe(0);
		expect(await count(live)).toBe(1);
	});

	it("stores only hashes: neither the token nor the code appears in the table", async () => {
		const { email } = await signedInUser();
		await requestLink(email);
		const { token, code } = linkAndCode(await waitForMail(email, 2));
		const dump = JSON.stringify(await env.DB.prepare("select * from magic_links where email = ?").bind(email).all());
		expect(dump).not.toContain(token);
		expect(dump).not.toContain(`"${code}"`);
	});
});
