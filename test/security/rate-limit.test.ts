import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createDb } from "../../src/db/client";
import { clientIpBucket } from "../../src/lib/client-ip";
import { rateLimitKey } from "../../src/middleware/rate-limit";
import { clear, hit, pruneRateLimits } from "../../src/services/rate-limit";
import { PASSWORD, register, send, signedInUser, uniqueEmail } from "../helpers/api";
import { mailsTo, tokenFrom, waitForMail } from "../helpers/resend";
import { appWith, retryAfterOf } from "../helpers/worker";

const db = createDb(env.DB);
let ipCounter = 0;
/** A fresh documentation-range address per call, so tests never share a per-IP bucket. */
function uniqueIp(): string {
	ipCounter += 1;
	return `198.51.100.${ipCounter}`;
}

afterEach(() => {
	vi.useRealTimers();
});

describe("the counter (services/rate-limit)", () => {
	it("allows exactly `limit` hits per window and reports the time left", async () => {
		const key = `test:${crypto.randomUUID()}`;
		const now = 1_800_000_000_000;
		for (let i = 1; i <= 5; i++) {
			expect(await hit(db, key, 5, 60, now)).toMatchObject({ allowed: true, count: i });
		}
		expect(await hit(db, key, 5, 60, now + 10_000)).toEqual({ allowed: false, count: 6, retryAfterSeconds: 50 });
		// The window end never moves while it is exhausted; once it has passed, counting starts again.
		expect(await hit(db, key, 5, 60, now + 59_999)).toMatchObject({ allowed: false, retryAfterSeconds: 1 });
		expect(await hit(db, key, 5, 60, now + 60_000)).toEqual({ allowed: true, count: 1, retryAfterSeconds: 60 });
	});

	it("loses no increment under concurrency: 40 parallel hits on a limit of 10 let exactly 10 through", async () => {
		const key = `test:${crypto.randomUUID()}`;
		const results = await Promise.all(Array.from({ length: 40 }, () => hit(db, key, 10, 60)));
		expect(results.filter((r) => r.allowed)).toHaveLength(10);
		expect(results.map((r) => r.count).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
	});

	it("clear forgets a counter; pruning removes only ended windows", async () => {
		const live = `test:${crypto.randomUUID()}`;
		const ended = `test:${crypto.randomUUID()}`;
		const now = Date.now();
		await hit(db, live, 1, 60, now);
		await hit(db, live, 1, 60, now);
		await clear(db, live);
		expect(await hit(db, live, 1, 60, now)).toMatchObject({ allowed: true, count: 1 });
		await hit(db, ended, 1, 1, now - 5000);
		await pruneRateLimits(db, now);
		const keys = await env.DB.prepare("select key from rate_limits where key in (?, ?)").bind(live, ended).all();
		expect(keys.results).toEqual([{ key: live }]);
	});
});

describe("client address buckets", () => {
	it.each([
		["203.0.113.9", "203.0.113.9"],
		["2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"],
		["2001:db8:1:2::ffff", "2001:db8:1:2::/64"],
		["::ffff:203.0.113.9", "203.0.113.9"],
		[undefined, "unknown"],
		["", "unknown"],
		["not an address", "unknown"],
		["1.2.3.4, 5.6.7.8", "unknown"],
	])("%s -> %s", (header, bucket) => {
		expect(clientIpBucket(header)).toBe(bucket);
	});
});

describe("login limits", () => {
	it("per account: the Nth failure is answered, the next attempt is 429 even with the right password", async () => {
		const { email } = await signedInUser();
		const app = appWith({ RATE_LIMIT_LOGIN_ACCOUNT: "3/900" });
		for (let i = 0; i < 3; i++) {
			const res = await app.send("POST", "/v1/auth/login", { body: { email, password: `wrong password ${i}` } });
			expect(res.status).toBe(401);
		}
		const blocked = await app.send("POST", "/v1/auth/login", { body: { email, password: PASSWORD } });
		const retryAfter = await retryAfterOf(blocked);
		expect(retryAfter).toBeGreaterThan(890);
		expect(retryAfter).toBeLessThanOrEqual(900);
	});

	it("per account: counts failures only (a success forgets them) and reopens when the window ends", async () => {
		const { email } = await signedInUser();
		const app = appWith({ RATE_LIMIT_LOGIN_ACCOUNT: "2/900" });
		const attempt = (password: string) => app.send("POST", "/v1/auth/login", { body: { email, password } });
		expect((await attempt("wrong password 1")).status).toBe(401);
		expect((await attempt(PASSWORD)).status).toBe(200);
		expect((await attempt("wrong password 2")).status).toBe(401);
		expect((await attempt("wrong password 3")).status).toBe(401);
		vi.useFakeTimers({ toFake: ["Date"] });
		vi.setSystemTime(Date.now() + 600_000);
		expect(await retryAfterOf(await attempt(PASSWORD))).toBeLessThanOrEqual(300);
		vi.setSystemTime(Date.now() + 300_000);
		expect((await attempt(PASSWORD)).status).toBe(200);
	});

	it("per account: a password reset lifts the lockout (the owner proved control of the mailbox)", async () => {
		const { email } = await signedInUser();
		const app = appWith({ RATE_LIMIT_LOGIN_ACCOUNT: "1/900" });
		expect((await app.send("POST", "/v1/auth/login", { body: { email, password: "guess number 1" } })).status).toBe(
			401,
		);
		await retryAfterOf(await app.send("POST", "/v1/auth/login", { body: { email, password: PASSWORD } }));
		expect((await app.send("POST", "/v1/auth/password/forgot", { body: { email } })).status).toBe(202);
		const token = tokenFrom(await waitForMail(email, 2), "/v1/auth/password/reset");
		const reset = await app.send("POST", "/v1/auth/password/reset", {
			body: { token, password: "a brand new passphrase" },
		});
		expect(reset.status).toBe(200);
		const login = await app.send("POST", "/v1/auth/login", { body: { email, password: "a brand new passphrase" } });
		expect(login.status).toBe(200);
	});

	it("per account: an unknown email is limited exactly like a known one (email case ignored)", async () => {
		const email = uniqueEmail("nobody");
		const app = appWith({ RATE_LIMIT_LOGIN_ACCOUNT: "2/900" });
		expect((await app.send("POST", "/v1/auth/login", { body: { email, password: "wrong password 1" } })).status).toBe(
			401,
		);
		const upper = email.toUpperCase();
		expect(
			(await app.send("POST", "/v1/auth/login", { body: { email: upper, password: "wrong password 2" } })).status,
		).toBe(401);
		await retryAfterOf(await app.send("POST", "/v1/auth/login", { body: { email, password: "wrong password 3" } }));
	});

	it("per account: parallel guesses cannot overshoot the limit", async () => {
		const { email } = await signedInUser();
		const app = appWith({ RATE_LIMIT_LOGIN_ACCOUNT: "3/900" });
		const results = await Promise.all(
			Array.from({ length: 8 }, (_, i) =>
				app.send("POST", "/v1/auth/login", { body: { email, password: `parallel guess ${i}` } }),
			),
		);
		expect(results.filter((res) => res.status === 401)).toHaveLength(3);
		expect(results.filter((res) => res.status === 429)).toHaveLength(5);
	});

	it("per client address: counts every attempt, one bucket per IPv4 address or IPv6 /64", async () => {
		const app = appWith({ RATE_LIMIT_LOGIN_IP: "4/900" });
		const ip = uniqueIp();
		const from = (address: string | undefined, i: number) =>
			app.send("POST", "/v1/auth/login", {
				body: { email: uniqueEmail("spray"), password: `spray password ${i}` },
				headers: address ? { "CF-Connecting-IP": address } : {},
			});
		for (let i = 0; i < 4; i++) expect((await from(ip, i)).status).toBe(401);
		await retryAfterOf(await from(ip, 4));
		// Another address is unaffected.
		expect((await from(uniqueIp(), 5)).status).toBe(401);
		// Addresses of one IPv6 /64 share their bucket.
		const prefix = `2001:db8:${ipCounter}:1`;
		for (let i = 0; i < 4; i++) expect((await from(`${prefix}::${i + 1}`, i)).status).toBe(401);
		await retryAfterOf(await from(`${prefix}:ffff:ffff:ffff:ffff`, 9));
	});

	it("without CF-Connecting-IP every caller shares the one 'unknown' bucket, the per-account limit still applies", async () => {
		const app = appWith({ RATE_LIMIT_LOGIN_IP: "2/900" });
		// Earlier tests of this file sent no address either: start this bucket from zero.
		await clear(db, rateLimitKey("login_ip", "unknown"));
		const attempt = () =>
			app.send("POST", "/v1/auth/login", { body: { email: uniqueEmail("anon"), password: "whatever password" } });
		expect((await attempt()).status).toBe(401);
		expect((await attempt()).status).toBe(401);
		await retryAfterOf(await attempt());
		// A real client address is a bucket of its own.
		const res = await app.send("POST", "/v1/auth/login", {
			body: { email: uniqueEmail("anon"), password: "whatever password" },
			headers: { "CF-Connecting-IP": uniqueIp() },
		});
		expect(res.status).toBe(401);
	});
});

describe("login limits: one batch", () => {
	it("per client address: malformed bodies (never reaching the handler) still count and get 429 past the limit", async () => {
		const app = appWith({ RATE_LIMIT_LOGIN_IP: "2/900" });
		const headers = { "CF-Connecting-IP": uniqueIp() };
		const malformed = () => app.send("POST", "/v1/auth/login", { body: { email: "not an email" }, headers });
		expect((await malformed()).status).toBe(400);
		expect((await malformed()).status).toBe(400);
		await retryAfterOf(await malformed());
		// A well-formed attempt from the same address is refused as well: the count is shared.
		const valid = await app.send("POST", "/v1/auth/login", {
			body: { email: uniqueEmail("late"), password: "some password here" },
			headers,
		});
		await retryAfterOf(valid);
	});

	it("an attempt refused by the per-address limit does not use up the account's", async () => {
		const { email } = await signedInUser();
		const app = appWith({ RATE_LIMIT_LOGIN_IP: "1/900", RATE_LIMIT_LOGIN_ACCOUNT: "2/900" });
		const headers = { "CF-Connecting-IP": uniqueIp() };
		expect(
			(await app.send("POST", "/v1/auth/login", { body: { email, password: "wrong one 1" }, headers })).status,
		).toBe(401);
		for (let i = 0; i < 3; i++) {
			await retryAfterOf(
				await app.send("POST", "/v1/auth/login", { body: { email, password: "wrong again" }, headers }),
			);
		}
		const account = await env.DB.prepare("select count from rate_limits where key = ?")
			.bind(rateLimitKey("login_account", email))
			.first<{ count: number }>();
		expect(account).toEqual({ count: 1 });
		// From another address the owner still gets in: one failure of two is used.
		const res = await app.send("POST", "/v1/auth/login", {
			body: { email, password: PASSWORD },
			headers: { "CF-Connecting-IP": uniqueIp() },
		});
		expect(res.status).toBe(200);
	});
});

describe("registration and mail limits", () => {
	it("register per client address: the Nth is accepted, the next is 429, malformed ones count too", async () => {
		const app = appWith({ RATE_LIMIT_REGISTER_IP: "3/3600" });
		const headers = { "CF-Connecting-IP": uniqueIp() };
		const registerOne = (body: unknown) => app.send("POST", "/v1/auth/register", { body, headers });
		expect((await registerOne({ email: uniqueEmail(), password: PASSWORD })).status).toBe(202);
		expect((await registerOne({ email: "not an email", password: PASSWORD })).status).toBe(400);
		expect((await registerOne({ email: uniqueEmail(), password: PASSWORD })).status).toBe(202);
		const retryAfter = await retryAfterOf(await registerOne({ email: uniqueEmail(), password: PASSWORD }));
		expect(retryAfter).toBeLessThanOrEqual(3600);
	});

	it("repeated registrations of one address mail its owner at most RATE_LIMIT_MAIL_EMAIL times, with the same answer", async () => {
		const { email } = await signedInUser();
		const app = appWith({ RATE_LIMIT_MAIL_EMAIL: "2/3600" });
		const bodies = new Set<string>();
		for (let i = 0; i < 4; i++) {
			const res = await app.send("POST", "/v1/auth/register", { body: { email, password: `another password ${i}` } });
			expect(res.status).toBe(202);
			bodies.add(await res.text());
		}
		expect(bodies.size).toBe(1);
		// The first registration counted too: its confirmation mail, then one notice; the other three
		// registrations were answered the same way but not mailed.
		expect(mailsTo(email)).toHaveLength(2);
	});

	it.each([
		["/v1/auth/confirm/resend", "resend"],
		["/v1/auth/password/forgot", "forgot"],
	])("%s per email: N accepted, then 429 with Retry-After; another email is unaffected", async (path) => {
		const { email } = await register();
		const app = appWith({ RATE_LIMIT_MAIL_EMAIL: "2/3600" });
		const ask = (address: string) => app.send("POST", path, { body: { email: address } });
		expect((await ask(email)).status).toBe(202);
		expect((await ask(email.toUpperCase())).status).toBe(202);
		await retryAfterOf(await ask(email));
		expect((await ask(uniqueEmail())).status).toBe(202);
		// After the window, the same address is accepted again.
		vi.useFakeTimers({ toFake: ["Date"] });
		vi.setSystemTime(Date.now() + 3600_000);
		expect((await ask(email)).status).toBe(202);
	});

	it.each([["/v1/auth/confirm/resend"], ["/v1/auth/password/forgot"]])(
		"%s per client address: N accepted, then 429",
		async (path) => {
			const app = appWith({ RATE_LIMIT_MAIL_IP: "3/3600" });
			const headers = { "CF-Connecting-IP": uniqueIp() };
			for (let i = 0; i < 3; i++) {
				expect((await app.send("POST", path, { body: { email: uniqueEmail() }, headers })).status).toBe(202);
			}
			await retryAfterOf(await app.send("POST", path, { body: { email: uniqueEmail() }, headers }));
		},
	);

	it("the limits are configuration: a malformed value is a clear configuration error", async () => {
		const app = appWith({ RATE_LIMIT_LOGIN_IP: "ten per minute" });
		const errors = vi.spyOn(console, "error").mockImplementation(() => {});
		try {
			const res = await app.send("GET", "/v1/locales");
			expect(res.status).toBe(500);
			const logged = errors.mock.calls.map((call) => String(call[0])).join("\n");
			expect(logged).toContain("RATE_LIMIT_LOGIN_IP");
		} finally {
			errors.mockRestore();
		}
	});

	it("the default limits apply through the real worker too", async () => {
		const email = uniqueEmail();
		for (let i = 0; i < 5; i++) {
			expect((await send("POST", "/v1/auth/password/forgot", { body: { email } })).status).toBe(202);
		}
		await retryAfterOf(await send("POST", "/v1/auth/password/forgot", { body: { email } }));
	});
});
