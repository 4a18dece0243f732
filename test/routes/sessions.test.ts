import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { type TokenBody, expectProblem, send, signedInUser } from "../helpers/api";

type SessionItem = {
	id: string;
	current: boolean;
	created_at: string;
	last_used_at: string | null;
	user_agent: string | null;
	ip: string | null;
};

async function sessionsOf(token: string): Promise<SessionItem[]> {
	const res = await send("GET", "/v1/me/sessions", { token });
	expect(res.status).toBe(200);
	expect(res.headers.get("Cache-Control")).toBe("no-store");
	return ((await res.json()) as { sessions: SessionItem[] }).sessions;
}

/** A password login from a named device. */
async function loginFrom(email: string, password: string, device: { ua: string; ip: string }): Promise<TokenBody> {
	const res = await send("POST", "/v1/auth/login", {
		body: { email, password },
		headers: { "User-Agent": device.ua, "CF-Connecting-IP": device.ip },
	});
	expect(res.status).toBe(200);
	return res.json();
}

describe("GET /v1/me/sessions", () => {
	it("lists live sessions newest first, the current one marked, with device and times", async () => {
		const { email, password } = await signedInUser();
		const phone = await loginFrom(email, password, { ua: "Phone/1.0", ip: "203.0.113.7" });
		const laptop = await loginFrom(email, password, { ua: "Laptop/2.0", ip: "198.51.100.4" });
		const list = await sessionsOf(laptop.access_token);
		expect(list).toHaveLength(3);
		expect(list[0]).toEqual({
			id: expect.any(String),
			current: true,
			created_at: expect.stringMatching(/Z$/),
			last_used_at: null,
			user_agent: "Laptop/2.0",
			ip: "198.51.100.4",
		});
		expect(list[1]).toMatchObject({ current: false, user_agent: "Phone/1.0", ip: "203.0.113.7" });
		expect(list.filter((session) => session.current)).toHaveLength(1);
		expect((await sessionsOf(phone.access_token))[1]?.current).toBe(true);
	});

	it("writes last_used_at on refresh, not on ordinary requests", async () => {
		const { tokens } = await signedInUser();
		await sessionsOf(tokens.access_token);
		await send("GET", "/v1/me", { token: tokens.access_token });
		expect((await sessionsOf(tokens.access_token))[0]?.last_used_at).toBeNull();
		const refreshed = await send("POST", "/v1/auth/refresh", { body: { refresh_token: tokens.refresh_token } });
		const next = (await refreshed.json()) as TokenBody;
		const [session] = await sessionsOf(next.access_token);
		expect(session?.last_used_at).toEqual(expect.stringMatching(/Z$/));
		expect(session?.current).toBe(true);
	});

	it("leaves out revoked sessions", async () => {
		const { email, password, token } = await signedInUser();
		const other = await loginFrom(email, password, { ua: "Other", ip: "192.0.2.1" });
		expect((await send("POST", "/v1/auth/logout", { token: other.access_token })).status).toBe(204);
		const list = await sessionsOf(token);
		expect(list).toHaveLength(1);
		expect(list[0]?.current).toBe(true);
	});
});

describe("DELETE /v1/me/sessions/:id", () => {
	it("revokes that session: its access and refresh tokens fail at once, the caller's keep working", async () => {
		const { email, password, token } = await signedInUser();
		const other = await loginFrom(email, password, { ua: "Stolen laptop", ip: "192.0.2.9" });
		const target = (await sessionsOf(token)).find((session) => session.user_agent === "Stolen laptop");
		expect(target).toBeDefined();
		const res = await send("DELETE", `/v1/me/sessions/${target?.id}`, { token });
		expect(res.status).toBe(204);
		await expectProblem(await send("GET", "/v1/me", { token: other.access_token }), 401, "unauthorized");
		await expectProblem(
			await send("POST", "/v1/auth/refresh", { body: { refresh_token: other.refresh_token } }),
			401,
			"invalid_refresh_token",
		);
		expect((await send("GET", "/v1/me", { token })).status).toBe(200);
		const events = (await (await send("GET", "/v1/me/activity", { token })).json()) as { events: { type: string }[] };
		expect(events.events.map((event) => event.type)).toContain("session_revoked");
	});

	it("can revoke the caller's own session", async () => {
		const { token } = await signedInUser();
		const [own] = await sessionsOf(token);
		expect((await send("DELETE", `/v1/me/sessions/${own?.id}`, { token })).status).toBe(204);
		await expectProblem(await send("GET", "/v1/me", { token }), 401, "unauthorized");
	});

	it("answers 404 session_not_found for an unknown id and an already revoked one", async () => {
		const { email, password, token } = await signedInUser();
		await expectProblem(await send("DELETE", "/v1/me/sessions/nosuchsession", { token }), 404, "session_not_found");
		const other = await loginFrom(email, password, { ua: "x", ip: "192.0.2.2" });
		const id = (await sessionsOf(other.access_token))[0]?.id;
		expect((await send("DELETE", `/v1/me/sessions/${id}`, { token })).status).toBe(204);
		await expectProblem(await send("DELETE", `/v1/me/sessions/${id}`, { token }), 404, "session_not_found");
	});

	it("another user's session is not found, and stays live", async () => {
		const alice = await signedInUser();
		const bob = await signedInUser();
		const [bobSession] = await sessionsOf(bob.token);
		await expectProblem(
			await send("DELETE", `/v1/me/sessions/${bobSession?.id}`, { token: alice.token }),
			404,
			"session_not_found",
		);
		expect((await send("GET", "/v1/me", { token: bob.token })).status).toBe(200);
		const row = await env.DB.prepare("select revoked_at from sessions where id = ?")
			.bind(bobSession?.id)
			.first<{ revoked_at: number | null }>();
		expect(row?.revoked_at).toBeNull();
	});

	it("needs a bearer token", async () => {
		await expectProblem(await send("DELETE", "/v1/me/sessions/abc"), 401, "unauthorized");
		await expectProblem(await send("GET", "/v1/me/sessions"), 401, "unauthorized");
	});
});
