import { env } from "cloudflare:workers";
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import worker from "../../src/index";
import { afterEach, describe, expect, it, vi } from "vitest";
import { PASSWORD, api, expectProblem, login, register, send, signedInUser, uniqueEmail } from "../helpers/api";
import { fakeResend, mailsTo, tokenFrom, waitForMail } from "../helpers/resend";

afterEach(() => {
	vi.useRealTimers();
});

const confirm = (token: string) => send("POST", "/v1/auth/confirm", { body: { token } });

/** Runs the Worker's Cron Trigger, as Cloudflare would every five minutes. */
async function runCron() {
	const ctx = createExecutionContext();
	await worker.scheduled(createScheduledController({ scheduledTime: new Date(), cron: "*/5 * * * *" }), env, ctx);
	await waitOnExecutionContext(ctx);
}

describe("confirmation: happy path", () => {
	it("Resend receives the exact message: recipient, subject and the APP_URL link", async () => {
		const email = uniqueEmail();
		await send("POST", "/v1/auth/register", {
			body: { email, password: PASSWORD, name: "Ada" },
			headers: { Host: "evil.example", "X-Forwarded-Host": "evil.example" },
		});
		const mail = await waitForMail(email);
		expect(mail.to).toEqual(email);
		expect(mail.subject).toBe("Confirm your email address for Atrium");
		// The address is not confirmed yet: the greeting names the address, never the typed-in name.
		expect(mail.text.startsWith(`Hello ${email},`)).toBe(true);
		expect(mail.text).toMatch(/https:\/\/atrium\.test\/v1\/auth\/confirm\?token=[A-Za-z0-9_-]{43}\b/);
		expect(mail.html).toContain('href="https://atrium.test/v1/auth/confirm?token=');
		expect(mail.text).not.toContain("evil.example");
	});

	it("a GET shows a button and spends nothing; the POST confirms; the second POST is 409", async () => {
		const { email, confirmToken } = await register();
		const page = await api(`/v1/auth/confirm?token=${confirmToken}`, { headers: { Accept: "text/html" } });
		expect(page.status).toBe(200);
		expect(page.headers.get("Referrer-Policy")).toBe("no-referrer");
		expect(page.headers.get("Content-Security-Policy")).toContain("default-src 'none'");
		const html = await page.text();
		expect(html).toContain('<form method="post" action="/v1/auth/confirm');
		expect(html).toContain(`value="${confirmToken}"`);
		const status = await api(`/v1/auth/confirm?token=${confirmToken}`, { headers: { Accept: "application/json" } });
		expect(await status.json()).toEqual({ status: "valid" });

		const res = await confirm(confirmToken);
		expect(res.status).toBe(200);
		expect(await res.json()).toEqual({ message: expect.any(String) });
		await login(email);
		await expectProblem(await confirm(confirmToken), 409, "already_confirmed");
		const after = await api(`/v1/auth/confirm?token=${confirmToken}`, { headers: { Accept: "application/json" } });
		expect(await after.json()).toEqual({ status: "confirmed" });
	});

	it("accepts a form post and answers with an HTML page", async () => {
		const { confirmToken } = await register();
		const res = await api("/v1/auth/confirm", {
			method: "POST",
			headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "text/html" },
			body: new URLSearchParams({ token: confirmToken }),
		});
		expect(res.status).toBe(200);
		expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
		expect(await res.text()).toContain("Your email address is confirmed");
	});
});

describe("confirmation: expiry and replacement", () => {
	it("an expired link gives 410 and a resend gives a working one", async () => {
		const { email, confirmToken } = await register();
		vi.useFakeTimers({ toFake: ["Date"] });
		vi.setSystemTime(Date.now() + 1801_000);
		await expectProblem(await confirm(confirmToken), 410, "token_expired");
		const status = await api(`/v1/auth/confirm?token=${confirmToken}`, { headers: { Accept: "application/json" } });
		expect(await status.json()).toEqual({ status: "expired" });
		vi.useRealTimers();

		expect((await send("POST", "/v1/auth/confirm/resend", { body: { email } })).status).toBe(202);
		const fresh = tokenFrom(await waitForMail(email, 2), "/v1/auth/confirm");
		expect((await confirm(fresh)).status).toBe(200);
	});

	it("a new link makes every older link invalid", async () => {
		const { email, confirmToken } = await register();
		await send("POST", "/v1/auth/confirm/resend", { body: { email } });
		const second = tokenFrom(await waitForMail(email, 2), "/v1/auth/confirm");
		await expectProblem(await confirm(confirmToken), 400, "token_invalid");
		expect((await confirm(second)).status).toBe(200);
	});

	it("the link still works one second before the TTL", async () => {
		const { confirmToken } = await register();
		vi.useFakeTimers({ toFake: ["Date"] });
		vi.setSystemTime(Date.now() + 1799_000);
		expect((await confirm(confirmToken)).status).toBe(200);
	});
});

describe("confirmation: errors", () => {
	it("an unknown token is 400 token_invalid", async () => {
		await expectProblem(await confirm("not-a-real-token"), 400, "token_invalid");
	});

	it("a missing token is a validation error", async () => {
		await expectProblem(await send("POST", "/v1/auth/confirm", { body: {} }), 400, "validation_failed");
	});

	it("the GET page of an invalid token offers to send a new link", async () => {
		const res = await api("/v1/auth/confirm?token=nope", { headers: { Accept: "text/html" } });
		const html = await res.text();
		expect(html).toContain('action="/v1/auth/confirm/resend?lang=en"');
	});
});

describe("confirmation: security", () => {
	it("two concurrent confirms of one token give exactly one success", async () => {
		const { confirmToken } = await register();
		const results = await Promise.all(Array.from({ length: 6 }, () => confirm(confirmToken)));
		expect(results.filter((r) => r.status === 200)).toHaveLength(1);
		expect(results.filter((r) => r.status === 409)).toHaveLength(5);
	});

	it("resend and forgot answer the same for known, confirmed and unknown addresses", async () => {
		const unconfirmed = await register();
		const confirmed = await signedInUser();
		const bodies = new Set<string>();
		for (const email of [unconfirmed.email, confirmed.email, uniqueEmail("nobody")]) {
			const res = await send("POST", "/v1/auth/confirm/resend", { body: { email } });
			expect(res.status).toBe(202);
			bodies.add(await res.text());
		}
		expect(bodies.size).toBe(1);
		const forgot = new Set<string>();
		for (const email of [confirmed.email, uniqueEmail("nobody")]) {
			const res = await send("POST", "/v1/auth/password/forgot", { body: { email } });
			expect(res.status).toBe(202);
			forgot.add(await res.text());
		}
		expect(forgot.size).toBe(1);
	});

	it("tokens are stored only as hashes", async () => {
		const { confirmToken } = await register();
		const row = await env.DB.prepare("select count(*) as n from verification_tokens where token_hash = ?")
			.bind(confirmToken)
			.first<{ n: number }>();
		expect(row?.n).toBe(0);
	});
});

describe("delivery through the outbox", () => {
	it("Resend failing with 500 is retried by the cron with the same idempotency key", async () => {
		fakeResend((_mail, attempt) =>
			attempt === 1 ? Response.json({ message: "boom", name: "internal_server_error" }, { status: 500 }) : undefined,
		);
		const email = uniqueEmail();
		const res = await send("POST", "/v1/auth/register", { body: { email, password: PASSWORD } });
		expect(res.status).toBe(202);
		await waitForMail(email);
		await vi.waitFor(async () => {
			const row = await env.DB.prepare("select attempts from outbox where to_address = ?")
				.bind(email)
				.first<{ attempts: number }>();
			expect(row?.attempts).toBe(1);
		});
		vi.useFakeTimers({ toFake: ["Date"] });
		vi.setSystemTime(Date.now() + 61_000);
		await runCron();
		vi.useRealTimers();
		const mails = await vi.waitFor(() => {
			const all = mailsTo(email);
			expect(all).toHaveLength(2);
			return all;
		});
		expect(mails[1]?.idempotencyKey).toBe(mails[0]?.idempotencyKey);
		const row = await env.DB.prepare("select status, html from outbox where to_address = ?").bind(email).first();
		expect(row).toEqual({ status: "sent", html: "" });
		expect((await confirm(tokenFrom(mails[1]!, "/v1/auth/confirm"))).status).toBe(200);
	});

	it("Resend down for good: the account stays, the message ends failed, and resend still works", async () => {
		fakeResend(() => new Response("down", { status: 503 }));
		const email = uniqueEmail();
		expect((await send("POST", "/v1/auth/register", { body: { email, password: PASSWORD } })).status).toBe(202);
		await waitForMail(email);
		vi.useFakeTimers({ toFake: ["Date"] });
		for (let i = 0; i < 10; i++) {
			vi.setSystemTime(Date.now() + 7 * 3600_000);
			await runCron();
			await new Promise((resolve) => setTimeout(resolve, 20));
		}
		vi.useRealTimers();
		await vi.waitFor(async () => {
			// Given up on (its 30-minute link expired long before the eighth attempt), with nothing left at rest.
			const row = await env.DB.prepare("select status, html, text from outbox where to_address = ?")
				.bind(email)
				.first();
			expect(row).toEqual({ status: "failed", html: "", text: "" });
		});
		const user = await env.DB.prepare("select count(*) as n from users where email = ?")
			.bind(email)
			.first<{ n: number }>();
		expect(user?.n).toBe(1);

		fakeResend();
		const before = mailsTo(email).length;
		await send("POST", "/v1/auth/confirm/resend", { body: { email } });
		const mail = await waitForMail(email, before + 1);
		expect((await confirm(tokenFrom(mail, "/v1/auth/confirm"))).status).toBe(200);
	});
});

describe("password reset", () => {
	it("resets the password, revokes every session, and spends the link", async () => {
		const { email, token } = await signedInUser();
		await send("POST", "/v1/auth/password/forgot", { body: { email } });
		const mail = await waitForMail(email, 2);
		expect(mail.subject).toBe("Reset your Atrium password");
		const resetToken = tokenFrom(mail, "/v1/auth/password/reset");
		const page = await api(`/v1/auth/password/reset?token=${resetToken}`, { headers: { Accept: "text/html" } });
		expect(await page.text()).toContain('type="password"');

		const res = await send("POST", "/v1/auth/password/reset", {
			body: { token: resetToken, password: "my new passphrase!" },
		});
		expect(res.status).toBe(200);
		await expectProblem(await send("GET", "/v1/me", { token }), 401, "unauthorized");
		await login(email, "my new passphrase!");
		await expectProblem(
			await send("POST", "/v1/auth/password/reset", {
				body: { token: resetToken, password: "yet another passphrase" },
			}),
			400,
			"token_invalid",
		);
	});

	it("refuses a weak password without spending the link, and an expired link with 410", async () => {
		const { email } = await signedInUser();
		await send("POST", "/v1/auth/password/forgot", { body: { email } });
		const resetToken = tokenFrom(await waitForMail(email, 2), "/v1/auth/password/reset");
		await expectProblem(
			await send("POST", "/v1/auth/password/reset", { body: { token: resetToken, password: "short" } }),
			400,
			"validation_failed",
		);
		await expectProblem(
			await send("POST", "/v1/auth/password/reset", { body: { token: resetToken, password: email } }),
			400,
			"validation_failed",
		);
		vi.useFakeTimers({ toFake: ["Date"] });
		vi.setSystemTime(Date.now() + 1801_000);
		await expectProblem(
			await send("POST", "/v1/auth/password/reset", { body: { token: resetToken, password: "long enough pass" } }),
			410,
			"token_expired",
		);
	});

	it("concurrent resets with one link give exactly one success", async () => {
		const { email } = await signedInUser();
		await send("POST", "/v1/auth/password/forgot", { body: { email } });
		const resetToken = tokenFrom(await waitForMail(email, 2), "/v1/auth/password/reset");
		const results = await Promise.all(
			Array.from({ length: 4 }, (_, i) =>
				send("POST", "/v1/auth/password/reset", { body: { token: resetToken, password: `new passphrase ${i}!` } }),
			),
		);
		expect(results.filter((r) => r.status === 200)).toHaveLength(1);
	});
});
