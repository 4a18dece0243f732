import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { PASSWORD, api, register, send, signedInUser, uniqueEmail } from "../helpers/api";
import { appWith } from "../helpers/worker";

/** Everything a client can observe of a response except the request id (which is unique by design). */
async function observable(res: Response) {
	const headers = [...res.headers.entries()].filter(([name]) => name.toLowerCase() !== "x-request-id");
	return { status: res.status, headers, body: await res.text() };
}

/** An account created by an OAuth login: it exists but has no password. */
async function oauthOnlyUser(): Promise<string> {
	const email = uniqueEmail("oauth-only");
	const now = Date.now();
	await env.DB.prepare(
		"insert into users (id, email, locale, password_hash, email_confirmed_at, updated_at) values (?, ?, 'en', null, ?, ?)",
	)
		.bind(crypto.randomUUID(), email, now, now)
		.run();
	return email;
}

/** One response per kind of address, all of which must look the same byte for byte. */
async function expectIdentical(responses: Promise<Response>[]) {
	const seen = await Promise.all((await Promise.all(responses)).map(observable));
	const [first, ...rest] = seen;
	for (const other of rest) expect(other).toEqual(first);
	return first;
}

describe("no account enumeration: same status, headers and bytes for known and unknown emails", () => {
	it("register: new address, confirmed account, unconfirmed account, password-less account", async () => {
		const confirmed = await signedInUser();
		const unconfirmed = await register();
		const passwordless = await oauthOnlyUser();
		const attempt = (email: string) =>
			send("POST", "/v1/auth/register", { body: { email, password: "a fresh passphrase 42" } });
		const first = await expectIdentical([
			attempt(uniqueEmail("new")),
			attempt(confirmed.email),
			attempt(unconfirmed.email),
			attempt(passwordless),
		]);
		expect(first?.status).toBe(202);
	});

	it("login: unknown email, wrong password, unconfirmed account with a wrong password, password-less account", async () => {
		const confirmed = await signedInUser();
		const unconfirmed = await register();
		const passwordless = await oauthOnlyUser();
		const attempt = (email: string) =>
			send("POST", "/v1/auth/login", { body: { email, password: "not the password 1" } });
		const first = await expectIdentical([
			attempt(uniqueEmail("nobody")),
			attempt(confirmed.email),
			attempt(unconfirmed.email),
			attempt(passwordless),
		]);
		expect(first?.status).toBe(401);
		expect(first?.body).toContain('"invalid_credentials"');
	});

	it("login: the per-account limit answers the same for a known and an unknown email", async () => {
		const app = appWith({ RATE_LIMIT_LOGIN_ACCOUNT: "1/900" });
		const { email } = await signedInUser();
		const nobody = uniqueEmail("nobody");
		for (const address of [email, nobody]) {
			await app.send("POST", "/v1/auth/login", { body: { email: address, password: "not the password 1" } });
		}
		const attempt = (address: string) =>
			app.send("POST", "/v1/auth/login", { body: { email: address, password: "not the password 2" } });
		const [known, unknown] = await Promise.all([attempt(email), attempt(nobody)]).then((all) =>
			Promise.all(all.map(observable)),
		);
		expect(known?.status).toBe(429);
		// Retry-After (and the detail sentence that repeats it) counts down from each window's own
		// start: the two windows opened a second apart at most, so only the seconds may differ, by one.
		const seconds = (o: typeof known) => Number(o?.headers.find(([name]) => name === "retry-after")?.[1]);
		expect(Math.abs(seconds(known) - seconds(unknown))).toBeLessThanOrEqual(1);
		const strip = (o: typeof known) => ({
			...o,
			body: o?.body.replace(/\d+ seconds/g, "N seconds"),
			headers: o?.headers.filter(([name]) => name !== "retry-after"),
		});
		expect(strip(known)).toEqual(strip(unknown));
	});

	it.each([["/v1/auth/confirm/resend"], ["/v1/auth/password/forgot"]])(
		"%s: unknown, unconfirmed, confirmed and password-less addresses (JSON and form)",
		async (path) => {
			const confirmed = await signedInUser();
			const unconfirmed = await register();
			const passwordless = await oauthOnlyUser();
			const emails = [uniqueEmail("nobody"), unconfirmed.email, confirmed.email, passwordless];
			const json = await expectIdentical(emails.map((email) => send("POST", path, { body: { email } })));
			expect(json?.status).toBe(202);
			const form = await expectIdentical(
				emails.map((email) =>
					api(path, {
						method: "POST",
						headers: { "Content-Type": "application/x-www-form-urlencoded" },
						body: new URLSearchParams({ email }).toString(),
					}),
				),
			);
			expect(form?.status).toBe(202);
			expect(form?.body).toContain("<html");
		},
	);
	it("magic-link: unknown, unconfirmed, confirmed and password-less addresses, sign-up on and off", async () => {
		const confirmed = await signedInUser();
		const unconfirmed = await register();
		const passwordless = await oauthOnlyUser();
		const emails = [uniqueEmail("nobody"), unconfirmed.email, confirmed.email, passwordless];
		const on = await expectIdentical(emails.map((email) => send("POST", "/v1/auth/magic-link", { body: { email } })));
		expect(on?.status).toBe(202);
		const off = appWith({ MAGIC_LINK_SIGNUP: "off" });
		const answers = await expectIdentical(
			emails.map((email) => off.send("POST", "/v1/auth/magic-link", { body: { email: email.toUpperCase() } })),
		);
		expect(answers).toEqual(on);
	});

	it("email change: a free new address and one another account uses get the same answer", async () => {
		const taken = await signedInUser();
		const unconfirmed = await register();
		const { token } = await signedInUser();
		const answers = [];
		for (const newEmail of [uniqueEmail("free"), taken.email, unconfirmed.email]) {
			const res = await send("POST", "/v1/me/email", { token, body: { new_email: newEmail } });
			const seen = await observable(res);
			// The D1 bookmark names the database position after each write: it differs per request by design.
			answers.push({ ...seen, headers: seen.headers.filter(([name]) => name.toLowerCase() !== "x-d1-bookmark") });
		}
		expect(answers[0]?.status).toBe(202);
		expect(answers[1]).toEqual(answers[0]);
		expect(answers[2]).toEqual(answers[0]);
	});
});

describe("the unknown-email path does the same work", () => {
	// Coarse on purpose: every path below must pay for one scrypt derivation (far slower than the
	// few D1 round trips of a lookup), which a shortcut for unknown or taken addresses would not.
	// Comparing medians within 10% needs hundreds of samples: bench/enumeration-timing.mjs.
	async function elapsed(request: () => Promise<Response>): Promise<number> {
		const started = performance.now();
		await request();
		return performance.now() - started;
	}

	it("register and login hash whether or not the email is known", async () => {
		const { email } = await signedInUser();
		const register = (address: string) => () =>
			send("POST", "/v1/auth/register", { body: { email: address, password: PASSWORD } });
		const login = (address: string) => () =>
			send("POST", "/v1/auth/login", { body: { email: address, password: "not the password 1" } });
		const lookupOnly = await elapsed(() => send("POST", "/v1/auth/confirm/resend", { body: { email } }));
		for (const request of [register(email), register(uniqueEmail()), login(email), login(uniqueEmail())]) {
			expect(await elapsed(request)).toBeGreaterThan(lookupOnly * 2);
		}
	});
});
