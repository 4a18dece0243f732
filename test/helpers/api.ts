import { exports } from "cloudflare:workers";
import { expect } from "vitest";
import { tokenFrom, waitForMail } from "./resend";

export const BASE = "https://atrium.test";
export const PASSWORD = "correct horse battery staple";

let counter = 0;
/** A fresh address per call, so tests sharing one file's database never collide. */
export function uniqueEmail(tag = "user"): string {
	counter += 1;
	return `${tag}-${counter}-${crypto.randomUUID().slice(0, 8)}@example.com`;
}

/** Sends a request through the Worker's real fetch handler. */
export function api(path: string, init: RequestInit = {}): Promise<Response> {
	return exports.default.fetch(new Request(new URL(path, BASE), init));
}

/** Sends JSON (or nothing) with an optional bearer token. */
export function send(
	method: string,
	path: string,
	options: { body?: unknown; token?: string; headers?: Record<string, string> } = {},
): Promise<Response> {
	const headers = new Headers(options.headers);
	if (options.body !== undefined) headers.set("Content-Type", "application/json");
	if (options.token) headers.set("Authorization", `Bearer ${options.token}`);
	return api(path, {
		method,
		headers,
		body: options.body === undefined ? undefined : JSON.stringify(options.body),
	});
}

export type TokenBody = {
	access_token: string;
	refresh_token: string;
	token_type: string;
	expires_in: number;
	user: { id: string; email: string; locale: string; email_confirmed: boolean };
};

/** Registers an account and returns the confirmation token from the mail Resend received. */
export async function register(input: { email?: string; password?: string; locale?: string; name?: string } = {}) {
	const email = input.email ?? uniqueEmail();
	const password = input.password ?? PASSWORD;
	const res = await send("POST", "/v1/auth/register", { body: { ...input, email, password } });
	expect(res.status).toBe(202);
	const mail = await waitForMail(email);
	return { email, password, confirmToken: tokenFrom(mail, "/v1/auth/confirm") };
}

/** Logs in and returns the token body (expects success). */
export async function login(email: string, password = PASSWORD): Promise<TokenBody> {
	const res = await send("POST", "/v1/auth/login", { body: { email, password } });
	expect(res.status).toBe(200);
	return res.json();
}

/** A confirmed, signed-in user. */
export async function signedInUser(input: { email?: string; password?: string; locale?: string; name?: string } = {}) {
	const { email, password, confirmToken } = await register(input);
	const confirmed = await send("POST", "/v1/auth/confirm", { body: { token: confirmToken } });
	expect(confirmed.status).toBe(200);
	const tokens = await login(email, password);
	return { email, password, tokens, token: tokens.access_token, userId: tokens.user.id };
}

/** Asserts a problem+json response with the given status and code, and returns its body. */
export async function expectProblem(res: Response, status: number, code: string) {
	expect(res.headers.get("Content-Type")).toMatch(/^application\/problem\+json/);
	const body = (await res.json()) as {
		code: string;
		status: number;
		title: string;
		detail: string;
		errors?: { path: string; code: string; message: string }[];
	};
	expect({ status: res.status, code: body.code }).toEqual({ status, code });
	expect(body.status).toBe(status);
	return body;
}
