import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type TokenBody, expectProblem, login, send, signedInUser } from "../helpers/api";
import { enableTotp, firstStep, nextStep, pinClock, secondStep, totpCode } from "../helpers/mfa";
import { APP_CALLBACK, FakeIdentityProviders, fakeUser, loginWith, redirectParams } from "../helpers/oauth-fakes";
import { mailsTo, waitForMail } from "../helpers/resend";
import { createDb } from "../../src/db/client";
import { pruneMfaChallenges } from "../../src/services/mfa";

beforeEach(() => pinClock());
afterEach(() => vi.useRealTimers());

async function me(token: string) {
	const res = await send("GET", "/v1/me", { token });
	expect(res.status).toBe(200);
	return (await res.json()) as { mfa: { totp: boolean; recovery_codes_left: number; passkeys: number } };
}

async function activity(token: string): Promise<string[]> {
	const res = await send("GET", "/v1/me/activity?limit=100", { token });
	const body = (await res.json()) as { events: { type: string }[] };
	return body.events.map((event) => event.type);
}

/** A signed-in user with TOTP on, and a fresh token from the completed second step. */
async function userWithTotp() {
	const user = await signedInUser();
	const totp = await enableTotp(user.token);
	return { ...user, ...totp };
}

describe("TOTP enrolment", () => {
	it("answers a secret and an otpauth URI, and stays off until a code verifies", async () => {
		const { token, email } = await signedInUser();
		const res = await send("POST", "/v1/me/mfa/totp", { token });
		expect(res.status).toBe(200);
		const body = (await res.json()) as { secret: string; otpauth_uri: string };
		expect(body.secret).toMatch(/^[A-Z2-7]{32}$/);
		const uri = new URL(body.otpauth_uri);
		expect(uri.protocol).toBe("otpauth:");
		expect(uri.searchParams.get("secret")).toBe(body.secret);
		expect(decodeURIComponent(uri.pathname)).toContain(email);
		expect((await me(token)).mfa).toEqual({ totp: false, recovery_codes_left: 0, passkeys: 0 });
		// Still pending: a password login gets tokens straight away.
		expect(await login(email)).toHaveProperty("access_token");
	});

	it("turns TOTP on with a first code, answers 10 recovery codes, mails a notice and audits it", async () => {
		const { token, email, recoveryCodes } = await userWithTotp();
		expect(recoveryCodes).toHaveLength(10);
		expect(new Set(recoveryCodes).size).toBe(10);
		expect((await me(token)).mfa).toEqual({ totp: true, recovery_codes_left: 10, passkeys: 0 });
		const notice = await waitForMail(email, 2);
		expect(notice.subject).toMatch(/two-factor/i);
		expect(await activity(token)).toContain("mfa_enabled");
	});

	it("stores the secret encrypted and the recovery codes only as hashes", async () => {
		const { userId, secret, recoveryCodes } = await userWithTotp();
		const row = await env.DB.prepare("select secret from mfa_totp where user_id = ?")
			.bind(userId)
			.first<{ secret: string }>();
		expect(row?.secret).toMatch(/^v1\./);
		expect(row?.secret).not.toContain(secret);
		const codes = await env.DB.prepare("select code_hash from mfa_recovery_codes where user_id = ?")
			.bind(userId)
			.all<{ code_hash: string }>();
		expect(codes.results).toHaveLength(10);
		const stored = JSON.stringify(codes.results);
		for (const code of recoveryCodes) {
			expect(stored).not.toContain(code);
			expect(stored).not.toContain(code.replaceAll("-", ""));
		}
	});

	it("refuses a wrong first code (400 mfa_code_invalid) and leaves TOTP off", async () => {
		const { token } = await signedInUser();
		const { secret } = (await (await send("POST", "/v1/me/mfa/totp", { token })).json()) as { secret: string };
		const wrong = totpCode(secret, 5);
		await expectProblem(
			await send("POST", "/v1/me/mfa/totp/verify", { token, body: { code: wrong } }),
			400,
			"mfa_code_invalid",
		);
		await expectProblem(
			await send("POST", "/v1/me/mfa/totp/verify", { token, body: { code: "12ab" } }),
			400,
			"mfa_code_invalid",
		);
		expect((await me(token)).mfa.totp).toBe(false);
	});

	it("answers 409 mfa_already_enabled to a second enrolment, which keeps the factor", async () => {
		const { token, email, secret } = await userWithTotp();
		await expectProblem(await send("POST", "/v1/me/mfa/totp", { token }), 409, "mfa_already_enabled");
		const { mfa_token } = await firstStep(email);
		expect((await secondStep({ mfa_token, code: totpCode(secret) })).status).toBe(200);
	});

	it("needs a fresh token to start", async () => {
		const { tokens } = await signedInUser();
		const refreshed = await send("POST", "/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } });
		const stale = ((await refreshed.json()) as TokenBody).access_token;
		await expectProblem(await send("POST", "/v1/me/mfa/totp", { token: stale }), 401, "fresh_token_required");
	});
});

describe("Sign-in with TOTP on", () => {
	it("password login answers mfa_required and no tokens; the second step answers fresh tokens", async () => {
		const { email, secret } = await userWithTotp();
		const first = await firstStep(email);
		expect(first).not.toHaveProperty("access_token");
		const res = await secondStep({ mfa_token: first.mfa_token, code: totpCode(secret) });
		expect(res.status).toBe(200);
		expect(res.headers.get("Cache-Control")).toBe("no-store");
		const tokens = (await res.json()) as TokenBody;
		expect(tokens).toMatchObject({ token_type: "Bearer", user: { email } });
		// Fresh: a fresh-token route accepts it.
		expect((await send("POST", "/v1/me/mfa/recovery-codes", { token: tokens.access_token })).status).toBe(200);
		expect(await activity(tokens.access_token)).toContain("login");
	});

	it("spends the mfa_token on success", async () => {
		const { email, secret } = await userWithTotp();
		const { mfa_token } = await firstStep(email);
		expect((await secondStep({ mfa_token, code: totpCode(secret) })).status).toBe(200);
		nextStep();
		await expectProblem(await secondStep({ mfa_token, code: totpCode(secret) }), 401, "mfa_token_invalid");
	});

	it("accepts a TOTP code once: the same code on a new sign-in is a replay", async () => {
		const { email, secret } = await userWithTotp();
		const code = totpCode(secret);
		expect((await secondStep({ mfa_token: (await firstStep(email)).mfa_token, code })).status).toBe(200);
		const again = await firstStep(email);
		await expectProblem(await secondStep({ mfa_token: again.mfa_token, code }), 401, "mfa_code_invalid");
		// An earlier step's code is a replay too; the next step's code works.
		await expectProblem(
			await secondStep({ mfa_token: again.mfa_token, code: totpCode(secret, -1) }),
			401,
			"mfa_code_invalid",
		);
		nextStep();
		expect((await secondStep({ mfa_token: again.mfa_token, code: totpCode(secret) })).status).toBe(200);
	});

	it("spends the mfa_token after 5 wrong codes, even for a right code after", async () => {
		const { email, secret, token } = await userWithTotp();
		const { mfa_token } = await firstStep(email);
		const wrong = totpCode(secret, 3);
		for (let i = 0; i < 5; i++) {
			await expectProblem(await secondStep({ mfa_token, code: wrong }), 401, "mfa_code_invalid");
		}
		await expectProblem(await secondStep({ mfa_token, code: totpCode(secret) }), 401, "mfa_token_invalid");
		expect((await activity(token)).filter((type) => type === "mfa_failed")).toHaveLength(5);
	});

	it("refuses an expired mfa_token (5 minutes)", async () => {
		const { email, secret } = await userWithTotp();
		const { mfa_token } = await firstStep(email);
		vi.setSystemTime(Date.now() + 301_000);
		await expectProblem(await secondStep({ mfa_token, code: totpCode(secret) }), 401, "mfa_token_invalid");
	});

	it("refuses an unknown mfa_token and a body with both or neither code", async () => {
		await expectProblem(await secondStep({ mfa_token: "made-up", code: "123456" }), 401, "mfa_token_invalid");
		const both = await secondStep({ mfa_token: "x", code: "123456", recovery_code: "abcd" });
		const problem = await expectProblem(both, 400, "validation_failed");
		expect(problem.errors?.[0]).toMatchObject({ path: "code", code: "code_or_recovery_code" });
		await expectProblem(await secondStep({ mfa_token: "x" }), 400, "validation_failed");
	});

	it("throttles code attempts per account past 10 in 15 minutes (after the 5-try rule)", async () => {
		const { email, secret } = await userWithTotp();
		const wrong = totpCode(secret, 3);
		for (let round = 0; round < 2; round++) {
			const { mfa_token } = await firstStep(email);
			for (let i = 0; i < 5; i++) {
				await expectProblem(await secondStep({ mfa_token, code: wrong }), 401, "mfa_code_invalid");
			}
		}
		const { mfa_token } = await firstStep(email);
		const res = await secondStep({ mfa_token, code: totpCode(secret) });
		await expectProblem(res, 429, "rate_limited");
		expect(Number(res.headers.get("Retry-After"))).toBeGreaterThan(0);
		vi.setSystemTime(Date.now() + 901_000);
		const later = await firstStep(email);
		expect((await secondStep({ mfa_token: later.mfa_token, code: totpCode(secret) })).status).toBe(200);
	});
});

describe("Recovery codes", () => {
	it("sign in once each, in any case and spacing; a used one is refused", async () => {
		const { email, recoveryCodes } = await userWithTotp();
		const [code] = recoveryCodes as [string];
		const res = await secondStep({ mfa_token: (await firstStep(email)).mfa_token, recovery_code: code.toUpperCase() });
		expect(res.status).toBe(200);
		const tokens = (await res.json()) as TokenBody;
		expect((await me(tokens.access_token)).mfa.recovery_codes_left).toBe(9);
		expect(await activity(tokens.access_token)).toContain("recovery_code_used");
		await expectProblem(
			await secondStep({ mfa_token: (await firstStep(email)).mfa_token, recovery_code: code }),
			401,
			"mfa_code_invalid",
		);
	});

	it("concurrent use of one code gives exactly one success", async () => {
		const { email, recoveryCodes } = await userWithTotp();
		const tokens = [await firstStep(email), await firstStep(email), await firstStep(email)];
		const answers = await Promise.all(
			tokens.map(({ mfa_token }) => secondStep({ mfa_token, recovery_code: recoveryCodes[0] })),
		);
		expect(answers.map((res) => res.status).sort()).toEqual([200, 401, 401]);
		for (const res of answers) await res.body?.cancel();
	});

	it("regenerating replaces them (fresh token), mails a notice and audits it", async () => {
		const { token, email, recoveryCodes } = await userWithTotp();
		const res = await send("POST", "/v1/me/mfa/recovery-codes", { token });
		expect(res.status).toBe(200);
		const fresh = ((await res.json()) as { recovery_codes: string[] }).recovery_codes;
		expect(fresh).toHaveLength(10);
		expect(fresh.some((code) => recoveryCodes.includes(code))).toBe(false);
		await expectProblem(
			await secondStep({ mfa_token: (await firstStep(email)).mfa_token, recovery_code: recoveryCodes[1] }),
			401,
			"mfa_code_invalid",
		);
		expect((await secondStep({ mfa_token: (await firstStep(email)).mfa_token, recovery_code: fresh[1] })).status).toBe(
			200,
		);
		await waitForMail(email, 3);
		expect(mailsTo(email)[2]?.subject).toMatch(/recovery codes/i);
		expect(await activity(token)).toContain("recovery_codes_regenerated");
	});

	it("regenerating without TOTP on is 409 mfa_not_enabled", async () => {
		const { token } = await signedInUser();
		await expectProblem(await send("POST", "/v1/me/mfa/recovery-codes", { token }), 409, "mfa_not_enabled");
	});
});

describe("Turning TOTP off", () => {
	it("with a TOTP code: sign-in needs only the password again, a notice is mailed", async () => {
		const { token, email, secret, userId } = await userWithTotp();
		const res = await send("DELETE", "/v1/me/mfa/totp", { token, body: { code: totpCode(secret) } });
		expect(res.status).toBe(204);
		expect(await login(email)).toHaveProperty("access_token");
		expect((await me(token)).mfa).toEqual({ totp: false, recovery_codes_left: 0, passkeys: 0 });
		const left = await env.DB.prepare("select count(*) as n from mfa_recovery_codes where user_id = ?")
			.bind(userId)
			.first<{ n: number }>();
		expect(left?.n).toBe(0);
		await waitForMail(email, 3);
		expect(mailsTo(email)[2]?.subject).toMatch(/off/i);
		expect(await activity(token)).toContain("mfa_disabled");
	});

	it("with a recovery code", async () => {
		const { token, recoveryCodes } = await userWithTotp();
		const res = await send("DELETE", "/v1/me/mfa/totp", { token, body: { code: recoveryCodes[4] } });
		expect(res.status).toBe(204);
	});

	it("refuses a wrong code (400 mfa_code_invalid), and answers 409 when TOTP is off", async () => {
		const { token, secret } = await userWithTotp();
		await expectProblem(
			await send("DELETE", "/v1/me/mfa/totp", { token, body: { code: totpCode(secret, 4) } }),
			400,
			"mfa_code_invalid",
		);
		expect((await me(token)).mfa.totp).toBe(true);
		const other = await signedInUser();
		await expectProblem(
			await send("DELETE", "/v1/me/mfa/totp", { token: other.token, body: { code: "123456" } }),
			409,
			"mfa_not_enabled",
		);
	});
});

describe("mfa_required on OAuth", () => {
	let idp: FakeIdentityProviders;
	beforeEach(() => {
		idp = new FakeIdentityProviders();
		idp.install();
	});

	async function oauthUserWithTotp() {
		const user = fakeUser();
		const res = await loginWith(idp, "github", user, APP_CALLBACK);
		const exchanged = await send("POST", "/v1/auth/oauth/exchange", {
			body: { code: redirectParams(res).get("code") },
		});
		const tokens = (await exchanged.json()) as TokenBody;
		const { secret } = await enableTotp(tokens.access_token);
		return { user, secret };
	}

	it("the exchange of a login code answers mfa_required, completed by the second step", async () => {
		const { user, secret } = await oauthUserWithTotp();
		const res = await loginWith(idp, "github", user, APP_CALLBACK);
		const exchanged = await send("POST", "/v1/auth/oauth/exchange", {
			body: { code: redirectParams(res).get("code") },
		});
		expect(exchanged.status).toBe(200);
		const body = (await exchanged.json()) as { mfa_required: boolean; mfa_token: string };
		expect(body).toMatchObject({ mfa_required: true, methods: ["totp", "recovery_code"] });
		expect(body).not.toHaveProperty("access_token");
		expect((await secondStep({ mfa_token: body.mfa_token, code: totpCode(secret) })).status).toBe(200);
	});

	it("the callback's token JSON (no redirect_uri) answers mfa_required", async () => {
		const { user } = await oauthUserWithTotp();
		const res = await loginWith(idp, "github", user);
		expect(res.status).toBe(200);
		const body = (await res.json()) as Record<string, unknown>;
		expect(body).toMatchObject({ mfa_required: true, mfa_token: expect.any(String), expires_in: 300 });
		expect(body).not.toHaveProperty("access_token");
		expect(body).not.toHaveProperty("refresh_token");
	});
});

describe("Challenge clean-up", () => {
	it("the cron's prune deletes spent and expired challenges and keeps live ones", async () => {
		const { email, secret, userId } = await userWithTotp();
		const used = await firstStep(email);
		expect((await secondStep({ mfa_token: used.mfa_token, code: totpCode(secret) })).status).toBe(200);
		await firstStep(email);
		const count = async () =>
			(
				await env.DB.prepare("select count(*) as n from mfa_challenges where user_id = ?")
					.bind(userId)
					.first<{ n: number }>()
			)?.n;
		expect(await count()).toBe(2);
		await pruneMfaChallenges(createDb(env.DB));
		expect(await count()).toBe(1);
		await pruneMfaChallenges(createDb(env.DB), Date.now() + 301_000);
		expect(await count()).toBe(0);
	});
});

describe("Account data", () => {
	it("the export says whether TOTP is on, never the secret or the codes", async () => {
		const { token, secret, recoveryCodes } = await userWithTotp();
		const res = await send("GET", "/v1/me/export", { token });
		const text = await res.text();
		const body = JSON.parse(text) as { mfa: unknown };
		expect(body.mfa).toEqual({ totp: true, totp_enabled_at: expect.any(String), recovery_codes_left: 10 });
		expect(text).not.toContain(secret);
		for (const code of recoveryCodes) expect(text).not.toContain(code);
	});

	it("deleting the account removes the factor, the codes and pending challenges", async () => {
		const { token, email, userId } = await userWithTotp();
		await firstStep(email);
		expect((await send("DELETE", "/v1/me", { token })).status).toBe(204);
		for (const table of ["mfa_totp", "mfa_recovery_codes", "mfa_challenges"]) {
			const row = await env.DB.prepare(`select count(*) as n from ${table} where user_id = ?`)
				.bind(userId)
				.first<{ n: number }>();
			expect(row?.n).toBe(0);
		}
	});
});
