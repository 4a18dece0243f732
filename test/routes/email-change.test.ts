import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { translator } from "../../src/lib/i18n";
import { PASSWORD, type TokenBody, api, expectProblem, send, signedInUser, uniqueEmail } from "../helpers/api";
import { FakeIdentityProviders, fakeUser, loginWith } from "../helpers/oauth-fakes";
import { mailsTo, tokenFrom, waitForMail } from "../helpers/resend";
import { appWith } from "../helpers/worker";

/** Waits for each request's mail before it returns. */
const app = appWith({});

let idp: FakeIdentityProviders;

beforeEach(() => {
	idp = new FakeIdentityProviders();
	idp.install();
});

afterEach(() => {
	vi.useRealTimers();
});

function requestChange(token: string, newEmail: string) {
	return app.send("POST", "/v1/me/email", { token, body: { new_email: newEmail } });
}

/** Asks for a change and returns the link's token from the mail to the new address. */
async function changeLink(token: string, newEmail: string, count = 1) {
	expect((await requestChange(token, newEmail)).status).toBe(202);
	return tokenFrom(await waitForMail(newEmail, count), "/v1/auth/email/confirm");
}

function confirm(token: string) {
	return send("POST", "/v1/auth/email/confirm", { body: { token } });
}

function postForm(path: string, fields: Record<string, string>) {
	return api(path, {
		method: "POST",
		headers: { "Content-Type": "application/x-www-form-urlencoded" },
		body: new URLSearchParams(fields).toString(),
	});
}

async function me(token: string) {
	const res = await send("GET", "/v1/me", { token });
	expect(res.status).toBe(200);
	return (await res.json()) as { email: string; email_confirmed: boolean };
}

describe("email change: happy", () => {
	it("mails a link to the new address and a notice to the old one, in the user's locale; nothing changes yet", async () => {
		const { email, token } = await signedInUser({ locale: "fr" });
		const newEmail = uniqueEmail("new");
		const res = await requestChange(token, newEmail);
		expect(res.status).toBe(202);
		expect(await res.json()).toEqual({ message: expect.any(String) });
		const link = await waitForMail(newEmail);
		expect(link.subject).toBe(translator("fr")("email.email_change.subject", { app: "Atrium" }));
		const notice = await waitForMail(email, 2);
		expect(notice.subject).toBe(translator("fr")("email.notice.email_change_requested.subject", { app: "Atrium" }));
		expect(notice.text).toContain(newEmail);
		expect(notice.text).not.toContain("/v1/auth/email/confirm");
		expect((await me(token)).email).toBe(email);
	});

	it("confirming by JSON moves the account: login with the new address, not the old; audited", async () => {
		const { email, token } = await signedInUser();
		const newEmail = uniqueEmail("new");
		const res = await confirm(await changeLink(token, newEmail));
		expect(res.status).toBe(200);
		expect(await res.json()).toEqual({ message: translator("en")("messages.email_changed") });
		expect((await me(token)).email).toBe(newEmail);
		expect((await send("POST", "/v1/auth/login", { body: { email: newEmail, password: PASSWORD } })).status).toBe(200);
		await expectProblem(
			await send("POST", "/v1/auth/login", { body: { email, password: PASSWORD } }),
			401,
			"invalid_credentials",
		);
		await vi.waitFor(async () => {
			const activity = await send("GET", "/v1/me/activity?limit=100", { token });
			const types = ((await activity.json()) as { events: { type: string }[] }).events.map((e) => e.type);
			expect(types).toEqual(expect.arrayContaining(["email_change_requested", "email_changed"]));
		});
	});

	it("the GET page shows a button and spends nothing; its form post changes the email (HTML page)", async () => {
		const { token } = await signedInUser({ locale: "de" });
		const newEmail = uniqueEmail("new");
		const link = await changeLink(token, newEmail);
		const page = await api(`/v1/auth/email/confirm?token=${link}`, { headers: { "Accept-Language": "en" } });
		expect(page.status).toBe(200);
		const html = await page.text();
		expect(html).toContain(translator("de")("pages.email_change.button"));
		expect(html).toContain('action="/v1/auth/email/confirm?lang=de"');
		expect((await me(token)).email).not.toBe(newEmail);
		const posted = await postForm("/v1/auth/email/confirm?lang=de", { token: link });
		expect(posted.status).toBe(200);
		expect(posted.headers.get("Content-Type")).toMatch(/^text\/html/);
		expect(await posted.text()).toContain(translator("de")("pages.email_change.success"));
		expect((await me(token)).email).toBe(newEmail);
	});

	it("after a change, OAuth link-by-email sees the new address", async () => {
		const { token, userId } = await signedInUser();
		const newEmail = uniqueEmail("new");
		expect((await confirm(await changeLink(token, newEmail))).status).toBe(200);
		const res = await loginWith(idp, "github", fakeUser({ email: newEmail, emailVerified: true }));
		expect(res.status).toBe(200);
		expect(((await res.json()) as TokenBody).user.id).toBe(userId);
	});

	it("the same address as now: 202 and no mail", async () => {
		const { email, token } = await signedInUser();
		expect((await requestChange(token, email.toUpperCase())).status).toBe(202);
		expect(mailsTo(email)).toHaveLength(1);
	});
});

describe("email change: errors", () => {
	it("needs a fresh token (401 fresh_token_required) and a signed-in user (401 unauthorized)", async () => {
		const { tokens } = await signedInUser();
		const refreshed = await send("POST", "/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } });
		const stale = ((await refreshed.json()) as TokenBody).access_token;
		await expectProblem(await requestChange(stale, uniqueEmail()), 401, "fresh_token_required");
		await expectProblem(
			await send("POST", "/v1/me/email", { body: { new_email: uniqueEmail() } }),
			401,
			"unauthorized",
		);
	});

	it("malformed bodies are 400 validation_failed", async () => {
		const { token } = await signedInUser();
		for (const body of [{}, { new_email: "nope" }, { new_email: 5 }, []]) {
			await expectProblem(await send("POST", "/v1/me/email", { token, body }), 400, "validation_failed");
		}
		await expectProblem(await send("POST", "/v1/auth/email/confirm", { body: {} }), 400, "validation_failed");
	});

	it("unknown token 400 token_invalid; expired 410 token_expired without WWW-Authenticate", async () => {
		await expectProblem(await confirm("nope"), 400, "token_invalid");
		const { token } = await signedInUser();
		const link = await changeLink(token, uniqueEmail("new"));
		vi.useFakeTimers({ toFake: ["Date"] });
		vi.setSystemTime(Date.now() + 1801_000);
		const res = await confirm(link);
		await expectProblem(res, 410, "token_expired");
		expect(res.headers.get("WWW-Authenticate")).toBeNull();
		expect(await (await api(`/v1/auth/email/confirm?token=${link}`)).text()).toContain(
			translator("en")("pages.email_change.expired"),
		);
	});

	it("an address taken by the time of the confirm: 409 email_in_use, nothing changes, the form gets an HTML 409", async () => {
		const { email, token } = await signedInUser();
		const target = uniqueEmail("target");
		const link = await changeLink(token, target);
		// Someone else registers the address (and confirms it) before the link is used.
		expect((await send("POST", "/v1/auth/register", { body: { email: target, password: PASSWORD } })).status).toBe(202);
		const registered = tokenFrom(await waitForMail(target, 2), "/v1/auth/confirm");
		expect((await send("POST", "/v1/auth/confirm", { body: { token: registered } })).status).toBe(200);
		await expectProblem(await confirm(link), 409, "email_in_use");
		const form = await postForm("/v1/auth/email/confirm", { token: link });
		expect(form.status).toBe(409);
		expect(form.headers.get("Content-Type")).toMatch(/^text\/html/);
		expect((await me(token)).email).toBe(email);
	});
});

describe("email change: security", () => {
	it("a taken new address gets the same 202 and no mail; the old address gets the same notice", async () => {
		const owner = await signedInUser();
		const { email, token } = await signedInUser();
		const free = await requestChange(token, uniqueEmail("free"));
		const taken = await requestChange(token, owner.email);
		expect(taken.status).toBe(free.status);
		expect(await taken.text()).toBe(await free.text());
		expect(mailsTo(owner.email)).toHaveLength(1); // only its own confirmation mail
		expect(mailsTo(email).map((mail) => mail.subject)).toEqual([
			expect.any(String),
			translator("en")("email.notice.email_change_requested.subject", { app: "Atrium" }),
			translator("en")("email.notice.email_change_requested.subject", { app: "Atrium" }),
		]);
	});

	it("a completed change ends every outstanding mailed link: reset, magic links (old and new address), other changes", async () => {
		const { email, token } = await signedInUser();
		const newEmail = uniqueEmail("new");
		expect((await send("POST", "/v1/auth/password/forgot", { body: { email } })).status).toBe(202);
		const reset = tokenFrom(await waitForMail(email, 2), "/v1/auth/password/reset");
		expect((await app.send("POST", "/v1/auth/magic-link", { body: { email } })).status).toBe(202);
		const magicOld = tokenFrom(await waitForMail(email, 3), "/v1/auth/magic-link");
		expect((await app.send("POST", "/v1/auth/magic-link", { body: { email: newEmail } })).status).toBe(202);
		const magicNew = tokenFrom(await waitForMail(newEmail), "/v1/auth/magic-link");
		const first = await changeLink(token, uniqueEmail("other"));
		const link = await changeLink(token, newEmail, 2);
		// The newer request replaced the first link already.
		await expectProblem(await confirm(first), 400, "token_invalid");
		expect((await confirm(link)).status).toBe(200);
		await expectProblem(
			await send("POST", "/v1/auth/password/reset", { body: { token: reset, password: "a brand new passphrase" } }),
			400,
			"token_invalid",
		);
		await expectProblem(
			await send("POST", "/v1/auth/magic-link/verify", { body: { token: magicOld } }),
			400,
			"token_invalid",
		);
		await expectProblem(
			await send("POST", "/v1/auth/magic-link/verify", { body: { token: magicNew } }),
			400,
			"token_invalid",
		);
		await expectProblem(await confirm(link), 400, "token_invalid");
	});

	it("concurrent confirms of one link: exactly one success", async () => {
		const { token } = await signedInUser();
		const link = await changeLink(token, uniqueEmail("new"));
		const results = await Promise.all(Array.from({ length: 6 }, () => confirm(link)));
		expect(results.map((r) => r.status).sort()).toEqual([200, 400, 400, 400, 400, 400]);
	});

	it("two accounts racing for one address: one gets it, the other 409, never both", async () => {
		const a = await signedInUser();
		const b = await signedInUser();
		const target = uniqueEmail("contested");
		const linkA = await changeLink(a.token, target);
		const linkB = await changeLink(b.token, target, 2);
		const results = await Promise.all([confirm(linkA), confirm(linkB)]);
		expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
		const count = await env.DB.prepare("select count(*) as n from users where email = ?").bind(target).first("n");
		expect(count).toBe(1);
	});

	it("stores only the hash of the link", async () => {
		const { token, userId } = await signedInUser();
		const link = await changeLink(token, uniqueEmail("new"));
		const rows = JSON.stringify(
			await env.DB.prepare("select * from verification_tokens where user_id = ?").bind(userId).all(),
		);
		expect(rows).not.toContain(link);
	});
});
