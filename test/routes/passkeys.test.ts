import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { type TokenBody, expectProblem, login, send, signedInUser } from "../helpers/api";
import { enableTotp, pinClock } from "../helpers/mfa";
import { FakeIdentityProviders, fakeUser, loginWith } from "../helpers/oauth-fakes";
import { waitForMail } from "../helpers/resend";
import {
	type Algorithm,
	SoftwareAuthenticator,
	addPasskey,
	registrationOptions,
	signInOptions,
	signInWithPasskey,
} from "../helpers/webauthn";
import { createDb } from "../../src/db/client";
import { prunePasskeyChallenges } from "../../src/services/passkeys";

type Passkeys = { passkeys: { id: string; name: string; created_at: string; last_used_at: string | null }[] };

async function passkeysOf(token: string): Promise<Passkeys> {
	const res = await send("GET", "/v1/me/passkeys", { token });
	expect(res.status).toBe(200);
	return res.json();
}

async function activity(token: string): Promise<{ type: string; detail: Record<string, unknown> }[]> {
	const res = await send("GET", "/v1/me/activity?limit=100", { token });
	return ((await res.json()) as { events: { type: string; detail: Record<string, unknown> }[] }).events;
}

/** A signed-in user with one passkey of `algorithm`. */
async function userWithPasskey(algorithm: Algorithm = "ES256") {
	const user = await signedInUser();
	const authenticator = new SoftwareAuthenticator(algorithm);
	const passkey = await addPasskey(user.token, authenticator, "Laptop");
	return { ...user, authenticator, passkey };
}

/** Registration through the API with a falsified ceremony; answers the response. */
async function registerWith(token: string, authenticator: SoftwareAuthenticator, overrides = {}) {
	const { challenge_id, options } = await registrationOptions(token);
	const credential = await authenticator.create(options, overrides);
	return send("POST", "/v1/me/passkeys", { token, body: { challenge_id, credential } });
}

describe("passkeys: registration and sign-in", () => {
	it("offers creation options for a discoverable, user-verified ES256/RS256 credential with an opaque handle", async () => {
		const { token, email, userId } = await signedInUser({ name: "Ada" });
		const { challenge_id, options } = await registrationOptions(token);
		expect(challenge_id).toMatch(/^[a-z2-7]{24}$/);
		expect(options).toMatchObject({
			rp: { id: "atrium.test", name: "Atrium" },
			user: { name: email, displayName: "Ada" },
			pubKeyCredParams: [
				{ type: "public-key", alg: -7 },
				{ type: "public-key", alg: -257 },
			],
			excludeCredentials: [],
			authenticatorSelection: { residentKey: "required", requireResidentKey: true, userVerification: "required" },
			attestation: "none",
			timeout: 300_000,
		});
		expect(options.challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
		// The handle is random bytes: neither the email nor the user id.
		expect(options.user.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
		expect(options.user.id).not.toContain(userId);
		expect(atob(`${options.user.id.replaceAll("-", "+").replaceAll("_", "/")}=`)).not.toContain(email);
	});

	for (const algorithm of ["ES256", "RS256"] as const) {
		it(`registers an ${algorithm} passkey and signs in with it (fresh tokens, no email asked)`, async () => {
			const { token, userId, email, authenticator, passkey } = await userWithPasskey(algorithm);
			expect(passkey).toEqual({
				id: expect.any(String),
				name: "Laptop",
				created_at: expect.any(String),
				last_used_at: null,
			});
			const res = await signInWithPasskey(authenticator);
			expect(res.status).toBe(200);
			const tokens = (await res.json()) as TokenBody;
			expect(tokens.user).toMatchObject({ id: userId, email });
			// A passkey sign-in is a fresh login: the token may add another passkey at once.
			expect((await send("POST", "/v1/me/passkeys/options", { token: tokens.access_token })).status).toBe(200);
			const [listed] = (await passkeysOf(token)).passkeys;
			expect(listed?.last_used_at).not.toBeNull();
			const row = await env.DB.prepare("select algorithm, sign_count, public_key from passkeys where id = ?")
				.bind(passkey.id)
				.first<{ algorithm: number; sign_count: number; public_key: string }>();
			expect(row).toMatchObject({ algorithm: algorithm === "ES256" ? -7 : -257, sign_count: 2 });
		});
	}

	it("counts passkeys in GET /v1/me, lists them, audits and mails the addition", async () => {
		const { token, email, passkey, authenticator } = await userWithPasskey();
		const me = (await (await send("GET", "/v1/me", { token })).json()) as { mfa: { passkeys: number } };
		expect(me.mfa.passkeys).toBe(1);
		expect((await passkeysOf(token)).passkeys).toEqual([passkey]);
		const notice = await waitForMail(email, 2);
		expect(notice.subject).toMatch(/passkey was added/i);
		const events = await activity(token);
		expect(events.find((event) => event.type === "passkey_added")?.detail).toMatchObject({ passkey_id: passkey.id });
		await signInWithPasskey(authenticator);
		expect((await activity(token)).find((event) => event.type === "login")?.detail).toMatchObject({
			method: "passkey",
			passkey_id: passkey.id,
		});
	});

	it("excludes the user's registered credentials and reuses the same user handle", async () => {
		const { token, authenticator } = await userWithPasskey();
		const { options } = await registrationOptions(token);
		expect(options.excludeCredentials).toEqual([{ type: "public-key", id: authenticator.credentialId }]);
		expect(options.user.id).toBe(authenticator.userHandle);
	});

	it("satisfies two-factor: a TOTP user gets tokens straight from the passkey", async () => {
		pinClock();
		try {
			const { token, authenticator } = await userWithPasskey();
			await enableTotp(token);
			const res = await signInWithPasskey(authenticator);
			expect(res.status).toBe(200);
			expect(await res.json()).toHaveProperty("access_token");
		} finally {
			vi.useRealTimers();
		}
	});

	it("accepts an authenticator without a counter (0 after 0)", async () => {
		const { token } = await signedInUser();
		const counterless = new SoftwareAuthenticator("ES256", undefined, undefined, false);
		await addPasskey(token, counterless);
		expect((await signInWithPasskey(counterless)).status).toBe(200);
		expect((await signInWithPasskey(counterless)).status).toBe(200);
	});

	it("removes a passkey (fresh token): mailed, audited, and it no longer signs in", async () => {
		const { token, email, passkey, authenticator } = await userWithPasskey();
		await waitForMail(email, 2);
		expect((await send("DELETE", `/v1/me/passkeys/${passkey.id}`, { token })).status).toBe(204);
		expect((await passkeysOf(token)).passkeys).toEqual([]);
		expect((await waitForMail(email, 3)).subject).toMatch(/passkey was removed/i);
		expect((await activity(token)).map((event) => event.type)).toContain("passkey_removed");
		await expectProblem(await signInWithPasskey(authenticator), 401, "passkey_invalid");
	});

	it("lists passkeys in the export without key material, and deletes them with the account", async () => {
		const { token, passkey, userId } = await userWithPasskey("RS256");
		const exported = (await (await send("GET", "/v1/me/export", { token })).json()) as { passkeys: unknown[] };
		expect(exported.passkeys).toEqual([{ ...passkey, algorithm: "RS256" }]);
		expect(JSON.stringify(exported)).not.toMatch(/public_key|publicKey|user_handle/);
		await registrationOptions(token);
		expect((await send("DELETE", "/v1/me", { token })).status).toBe(204);
		for (const table of ["passkeys", "passkey_challenges"]) {
			const left = await env.DB.prepare(`select count(*) as n from ${table} where user_id = ?`)
				.bind(userId)
				.first<{ n: number }>();
			expect(left?.n).toBe(0);
		}
	});

	it("an OAuth-only user with a passkey may unlink the provider, and then keeps the passkey", async () => {
		const idp = new FakeIdentityProviders();
		idp.install();
		const res = await loginWith(idp, "github", fakeUser());
		const { access_token: token } = (await res.json()) as TokenBody;
		const authenticator = new SoftwareAuthenticator();
		const passkey = await addPasskey(token, authenticator);
		expect((await send("DELETE", "/v1/me/accounts/github", { token })).status).toBe(204);
		// Now the passkey is the only way in.
		const problem = await expectProblem(
			await send("DELETE", `/v1/me/passkeys/${passkey.id}`, { token }),
			409,
			"last_login_method",
		);
		expect(problem.detail).toMatch(/only way to sign in/);
		expect((await signInWithPasskey(authenticator)).status).toBe(200);
	});

	it("the cron prunes challenges past their 5 minutes", async () => {
		const { challenge_id } = await signInOptions();
		const db = createDb(env.DB);
		await prunePasskeyChallenges(db, Date.now() + 301_000);
		const row = await env.DB.prepare("select id from passkey_challenges where id = ?").bind(challenge_id).first();
		expect(row).toBeNull();
	});
});

describe("passkeys: errors", () => {
	it("needs a bearer token for the account routes and a fresh one for options and removal", async () => {
		await expectProblem(await send("GET", "/v1/me/passkeys"), 401, "unauthorized");
		await expectProblem(await send("POST", "/v1/me/passkeys/options"), 401, "unauthorized");
		const { token, passkey } = await userWithPasskey();
		vi.useFakeTimers({ toFake: ["Date"] });
		try {
			vi.setSystemTime(Date.now() + 11 * 60_000);
			await expectProblem(await send("POST", "/v1/me/passkeys/options", { token }), 401, "fresh_token_required");
			await expectProblem(
				await send("DELETE", `/v1/me/passkeys/${passkey.id}`, { token }),
				401,
				"fresh_token_required",
			);
		} finally {
			vi.useRealTimers();
		}
	});

	it("400 validation_failed for a malformed registration or sign-in body, with nothing stored", async () => {
		const { token, userId } = await signedInUser();
		const bad = { challenge_id: "x", credential: { id: "not base64url!", type: "public-key", response: {} } };
		await expectProblem(await send("POST", "/v1/me/passkeys", { token, body: bad }), 400, "validation_failed");
		await expectProblem(await send("POST", "/v1/auth/passkey", { body: bad }), 400, "validation_failed");
		const count = await env.DB.prepare("select count(*) as n from passkeys where user_id = ?")
			.bind(userId)
			.first<{ n: number }>();
		expect(count?.n).toBe(0);
	});

	it("400 passkey_invalid for garbage that is valid base64url (no 500)", async () => {
		const { token } = await signedInUser();
		const { challenge_id } = await registrationOptions(token);
		const credential = {
			id: "AAAA",
			type: "public-key",
			response: { clientDataJSON: "AAAA", attestationObject: "AAAA" },
		};
		await expectProblem(
			await send("POST", "/v1/me/passkeys", { token, body: { challenge_id, credential } }),
			400,
			"passkey_invalid",
		);
	});

	it("404 passkey_not_found for an unknown id or another user's passkey", async () => {
		const owner = await userWithPasskey();
		const other = await signedInUser();
		await expectProblem(await send("DELETE", "/v1/me/passkeys/nope", { token: other.token }), 404, "passkey_not_found");
		await expectProblem(
			await send("DELETE", `/v1/me/passkeys/${owner.passkey.id}`, { token: other.token }),
			404,
			"passkey_not_found",
		);
		expect((await passkeysOf(owner.token)).passkeys).toHaveLength(1);
	});
});

describe("passkeys: security", () => {
	it("refuses a registration from another origin, for another RP ID, of the wrong type or without UV", async () => {
		const { token } = await signedInUser();
		const authenticator = new SoftwareAuthenticator();
		for (const overrides of [
			{ origin: "https://evil.test" },
			{ origin: "https://atrium.test:8443" },
			{ rpId: "evil.test" },
			{ type: "webauthn.get" },
			{ userVerified: false },
			{ crossOrigin: true },
		]) {
			await expectProblem(await registerWith(token, authenticator, overrides), 400, "passkey_invalid");
		}
		expect((await passkeysOf(token)).passkeys).toEqual([]);
	});

	it("refuses a registration with an unissued challenge, a spent one, or another user's", async () => {
		const { token } = await signedInUser();
		const other = await signedInUser();
		const authenticator = new SoftwareAuthenticator();
		await expectProblem(
			await registerWith(token, authenticator, { challenge: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }),
			400,
			"passkey_invalid",
		);
		// The refused attempt spent its challenge: sending the same credential again fails too.
		const { challenge_id, options } = await registrationOptions(token);
		const credential = await authenticator.create(options);
		await expectProblem(
			await send("POST", "/v1/me/passkeys", { token: other.token, body: { challenge_id, credential } }),
			400,
			"passkey_invalid",
		);
		expect((await send("POST", "/v1/me/passkeys", { token, body: { challenge_id, credential } })).status).toBe(201);
		await expectProblem(
			await send("POST", "/v1/me/passkeys", { token, body: { challenge_id, credential } }),
			400,
			"passkey_invalid",
		);
	});

	it("refuses to register a credential id that is already registered (to anyone)", async () => {
		const owner = await userWithPasskey();
		const other = await signedInUser();
		await expectProblem(await registerWith(other.token, owner.authenticator), 400, "passkey_invalid");
		await expectProblem(await registerWith(owner.token, owner.authenticator), 400, "passkey_invalid");
	});

	it("refuses a sign-in from another origin, for another RP ID, of the wrong type or without UV", async () => {
		const { authenticator } = await userWithPasskey();
		for (const overrides of [
			{ origin: "https://evil.test" },
			{ origin: "http://atrium.test" },
			{ rpId: "evil.test" },
			{ type: "webauthn.create" },
			{ userVerified: false },
			{ crossOrigin: true },
		]) {
			await expectProblem(await signInWithPasskey(authenticator, overrides), 401, "passkey_invalid");
		}
		expect((await signInWithPasskey(authenticator)).status).toBe(200);
	});

	it("refuses a replayed assertion, an unissued challenge and an unknown challenge id", async () => {
		const { authenticator } = await userWithPasskey();
		const { challenge_id, options } = await signInOptions();
		const credential = await authenticator.get(options);
		expect((await send("POST", "/v1/auth/passkey", { body: { challenge_id, credential } })).status).toBe(200);
		await expectProblem(
			await send("POST", "/v1/auth/passkey", { body: { challenge_id, credential } }),
			401,
			"passkey_invalid",
		);
		// The same assertion with a new challenge id: its signed challenge is not the one issued.
		const fresh = await signInOptions();
		await expectProblem(
			await send("POST", "/v1/auth/passkey", { body: { challenge_id: fresh.challenge_id, credential } }),
			401,
			"passkey_invalid",
		);
		const unissued = await authenticator.get({ ...options, challenge: "B".repeat(43) });
		await expectProblem(
			await send("POST", "/v1/auth/passkey", { body: { challenge_id: "unknown", credential: unissued } }),
			401,
			"passkey_invalid",
		);
	});

	it("refuses a challenge older than 5 minutes", async () => {
		const { authenticator } = await userWithPasskey();
		const { challenge_id, options } = await signInOptions();
		const credential = await authenticator.get(options);
		vi.useFakeTimers({ toFake: ["Date"] });
		try {
			vi.setSystemTime(Date.now() + 301_000);
			await expectProblem(
				await send("POST", "/v1/auth/passkey", { body: { challenge_id, credential } }),
				401,
				"passkey_invalid",
			);
		} finally {
			vi.useRealTimers();
		}
	});

	it("refuses a foreign key: an unknown credential, or another key claiming a registered credential id", async () => {
		const victim = await userWithPasskey();
		const stranger = new SoftwareAuthenticator();
		await expectProblem(await signInWithPasskey(stranger), 401, "passkey_invalid");
		await expectProblem(
			await signInWithPasskey(stranger, {
				credentialId: victim.authenticator.credentialId,
				userHandle: victim.authenticator.userHandle,
			}),
			401,
			"passkey_invalid",
		);
		expect((await activity(victim.token)).find((event) => event.type === "login_failed")?.detail).toMatchObject({
			method: "passkey",
			reason: "bad_signature",
		});
	});

	it("refuses another user's handle on a valid signature", async () => {
		const { authenticator } = await userWithPasskey();
		const other = await userWithPasskey();
		await expectProblem(
			await signInWithPasskey(authenticator, { userHandle: other.authenticator.userHandle }),
			401,
			"passkey_invalid",
		);
	});

	it("refuses a signature counter that goes backwards or stands still", async () => {
		const { authenticator } = await userWithPasskey();
		expect((await signInWithPasskey(authenticator, { counter: 10 })).status).toBe(200);
		await expectProblem(await signInWithPasskey(authenticator, { counter: 9 }), 401, "passkey_invalid");
		await expectProblem(await signInWithPasskey(authenticator, { counter: 10 }), 401, "passkey_invalid");
		await expectProblem(await signInWithPasskey(authenticator, { counter: 0 }), 401, "passkey_invalid");
		expect((await signInWithPasskey(authenticator, { counter: 11 })).status).toBe(200);
	});

	it("a password login is unchanged for a passkey user", async () => {
		const { email } = await userWithPasskey();
		expect(await login(email)).toHaveProperty("access_token");
	});
});
