import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { createApp } from "../../src/app";
import { BASE } from "./api";

export type SendOptions = { body?: unknown; token?: string; headers?: Record<string, string> };

/** Names of the Worker's plain string variables (the ones a test may override). */
type VarName = {
	[K in keyof Cloudflare.Env]-?: NonNullable<Cloudflare.Env[K]> extends string ? K : never;
}[keyof Cloudflare.Env];

/**
 * The app with some variables overridden (small rate limits, request logging on), over the same D1,
 * R2 and fake network as every other test of the file. Each call waits for the request's waitUntil
 * work (mail, audit events) before it returns, so tests can look at its effects at once.
 */
export function appWith(vars: Partial<Record<VarName, string>>) {
	const app = createApp();
	const custom: Cloudflare.Env = { ...env, ...vars };
	/** Rejections of waitUntil work: the runtime would only log them, tests may look. */
	const backgroundErrors: unknown[] = [];
	async function fetch(request: Request): Promise<Response> {
		const ctx = createExecutionContext();
		const res = await app.fetch(request, custom, ctx);
		await waitOnExecutionContext(ctx).catch((error: unknown) => backgroundErrors.push(error));
		return res;
	}
	function send(method: string, path: string, options: SendOptions = {}): Promise<Response> {
		const headers = new Headers(options.headers);
		if (options.body !== undefined) headers.set("Content-Type", "application/json");
		if (options.token) headers.set("Authorization", `Bearer ${options.token}`);
		const body = options.body === undefined ? undefined : JSON.stringify(options.body);
		return fetch(new Request(new URL(path, BASE), { method, headers, body }));
	}
	return { fetch, send, env: custom, backgroundErrors };
}

/** Asserts a 429 `rate_limited` problem with a whole-seconds Retry-After, and returns that number. */
export async function retryAfterOf(res: Response): Promise<number> {
	const body = (await res.json()) as { code?: string; status?: number };
	if (res.status !== 429 || body.code !== "rate_limited") {
		throw new Error(`expected 429 rate_limited, got ${res.status} ${JSON.stringify(body)}`);
	}
	const header = res.headers.get("Retry-After") ?? "";
	if (!/^\d+$/.test(header)) throw new Error(`Retry-After is not whole seconds: ${JSON.stringify(header)}`);
	return Number(header);
}
