import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createDb } from "../../src/db/client";
import { issueVerificationToken } from "../../src/services/verification";
import { PASSWORD, api, register, send, signedInUser } from "../helpers/api";
import { tokenFrom, waitForMail } from "../helpers/resend";

const PARALLEL = 10;

function statuses(responses: Response[]): number[] {
	return responses.map((res) => res.status).sort((a, b) => a - b);
}

async function resetToken(email: string, mailNumber: number): Promise<string> {
	expect((await send("POST", "/v1/auth/password/forgot", { body: { email } })).status).toBe(202);
	return tokenFrom(await waitForMail(email, mailNumber), "/v1/auth/password/reset");
}

describe("one token, many parallel uses: exactly one succeeds", () => {
	it("email confirmation (JSON and form posts mixed)", async () => {
		const { confirmToken } = await register();
		const results = await Promise.all(
			Array.from({ length: PARALLEL }, (_, i) =>
				i % 2 === 0
					? send("POST", "/v1/auth/confirm", { body: { token: confirmToken } })
					: api("/v1/auth/confirm", {
							method: "POST",
							headers: { "Content-Type": "application/x-www-form-urlencoded" },
							body: new URLSearchParams({ token: confirmToken }).toString(),
						}),
			),
		);
		expect(results.filter((res) => res.status === 200)).toHaveLength(1);
		// The losers learn the account is confirmed now (409), never a second success.
		expect(statuses(results).slice(1)).toEqual(Array(PARALLEL - 1).fill(409));
	});

	it("password reset: one new password wins, and it is the one that works", async () => {
		const { email } = await signedInUser();
		const token = await resetToken(email, 2);
		const passwords = Array.from({ length: PARALLEL }, (_, i) => `parallel new passphrase ${i}`);
		const results = await Promise.all(
			passwords.map((password) => send("POST", "/v1/auth/password/reset", { body: { token, password } })),
		);
		const winners = results.flatMap((res, i) => (res.status === 200 ? [passwords[i] as string] : []));
		expect(winners).toHaveLength(1);
		for (const res of results) if (res.status !== 200) expect(res.status).toBe(400);
		// One by one (parallel wrong guesses would trip the per-account login limit).
		const working: string[] = [];
		for (const password of [...passwords, PASSWORD]) {
			const res = await send("POST", "/v1/auth/login", { body: { email, password } });
			if (res.status === 200) working.push(password);
		}
		expect(working).toEqual(winners);
	});

	it("refresh token rotation: within the reuse interval every parallel use gets its own working pair", async () => {
		const { tokens } = await signedInUser();
		const results = await Promise.all(
			Array.from({ length: PARALLEL }, () =>
				send("POST", "/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } }),
			),
		);
		expect(statuses(results)).toEqual(Array(PARALLEL).fill(200));
		const bodies = (await Promise.all(results.map((res) => res.json()))) as { access_token: string }[];
		for (const body of bodies) expect((await send("GET", "/v1/me", { token: body.access_token })).status).toBe(200);
	});

	it("OAuth one-time login codes", async () => {
		const { userId } = await signedInUser();
		const code = await issueVerificationToken(createDb(env.DB), userId, "oauth_login", 60);
		const results = await Promise.all(
			Array.from({ length: PARALLEL }, () => send("POST", "/v1/auth/oauth/exchange", { body: { code } })),
		);
		expect(statuses(results)).toEqual([200, ...Array(PARALLEL - 1).fill(400)]);
		const winner = results.find((res) => res.status === 200) as Response;
		const body = (await winner.json()) as { access_token: string; user: { id: string } };
		expect(body.user.id).toBe(userId);
		expect((await send("GET", "/v1/me", { token: body.access_token })).status).toBe(200);
	});
});

describe("spent and misdirected tokens stay dead", () => {
	it("a spent token replayed later fails every time", async () => {
		const { email, confirmToken } = await register();
		expect((await send("POST", "/v1/auth/confirm", { body: { token: confirmToken } })).status).toBe(200);
		const token = await resetToken(email, 2);
		expect(
			(await send("POST", "/v1/auth/password/reset", { body: { token, password: "first new passphrase" } })).status,
		).toBe(200);
		for (let i = 0; i < 3; i++) {
			expect((await send("POST", "/v1/auth/confirm", { body: { token: confirmToken } })).status).toBe(409);
			const again = await send("POST", "/v1/auth/password/reset", {
				body: { token, password: `replayed passphrase ${i}` },
			});
			expect(again.status).toBe(400);
		}
		expect((await send("POST", "/v1/auth/login", { body: { email, password: "first new passphrase" } })).status).toBe(
			200,
		);
	});

	it("a token only works for its own purpose", async () => {
		const { email, confirmToken } = await register();
		const reset = await resetToken(email, 2);
		const db = createDb(env.DB);
		const user = await env.DB.prepare("select id from users where email = ?").bind(email).first<{ id: string }>();
		const code = await issueVerificationToken(db, user?.id ?? "", "oauth_login", 60);
		const attempts: [string, string, unknown][] = [
			["/v1/auth/password/reset", confirmToken, { token: confirmToken, password: "misdirected passphrase" }],
			["/v1/auth/password/reset", code, { token: code, password: "misdirected passphrase" }],
			["/v1/auth/confirm", reset, { token: reset }],
			["/v1/auth/confirm", code, { token: code }],
			["/v1/auth/oauth/exchange", confirmToken, { code: confirmToken }],
			["/v1/auth/oauth/exchange", reset, { code: reset }],
		];
		for (const [path, , body] of attempts) {
			const res = await send("POST", path, { body });
			expect({ path, status: res.status }).toEqual({ path, status: 400 });
			expect(((await res.json()) as { code: string }).code).toBe("token_invalid");
		}
		// None of them was spent by the misuse.
		expect((await send("POST", "/v1/auth/confirm", { body: { token: confirmToken } })).status).toBe(200);
		expect((await send("POST", "/v1/auth/oauth/exchange", { body: { code } })).status).toBe(200);
		expect(
			(await send("POST", "/v1/auth/password/reset", { body: { token: reset, password: "rightful passphrase" } }))
				.status,
		).toBe(200);
	});
});
