import { type Problem, problemOf } from "./errors";
import type { StoredTokens, TokenStorage } from "./storage";

/** The token JSON of login, refresh, the MFA step and the code exchange. */
export type TokenBody = { access_token: string; refresh_token: string; expires_in: number };

/** The result of one refresh: new tokens, or the problem that ended the session. */
export type RefreshOutcome = { ok: true; tokens: StoredTokens } | { ok: false; problem: Problem; ended: boolean };

type LockManagerLike = { request<T>(name: string, callback: () => Promise<T>): Promise<T> };

export type TokenKeeperOptions = {
	storage: TokenStorage;
	/** Posts `{refresh_token}` to /v1/auth/refresh without going through the keeper. */
	postRefresh: (refreshToken: string) => Promise<Response>;
	now: () => number;
	/** Refresh this many milliseconds before the access token expires. */
	leewayMs: number;
	/** Web Locks name shared by the origin's tabs; false turns cross-tab coordination off. */
	lockName: string | false;
	onChange: (tokens: StoredTokens | null, reason: TokenChange) => void;
};

export type TokenChange = "signed_in" | "refreshed" | "signed_out" | "session_ended";

/** Codes of a refresh answer that mean the session is over (not a transient failure). */
const SESSION_ENDED = new Set(["invalid_refresh_token", "refresh_token_reused", "account_disabled"]);

/**
 * Keeps the token pair and refreshes it. Concurrent callers share one in-flight refresh, and with
 * the Web Locks API tabs of one origin take turns, so a rotated refresh token is never presented
 * twice by a well-behaved client (the server would take that for reuse after its grace interval).
 */
export function createTokenKeeper(options: TokenKeeperOptions) {
	let inflight: Promise<RefreshOutcome> | null = null;

	async function save(body: TokenBody, reason: TokenChange): Promise<StoredTokens> {
		const tokens: StoredTokens = {
			access_token: body.access_token,
			refresh_token: body.refresh_token,
			expires_at: options.now() + body.expires_in * 1000,
		};
		await options.storage.set(tokens);
		options.onChange(tokens, reason);
		return tokens;
	}

	async function clear(reason: TokenChange): Promise<void> {
		await options.storage.set(null);
		options.onChange(null, reason);
	}

	/** One network refresh, unless someone else already rotated the token this caller saw. */
	async function rotate(seen: string | undefined): Promise<RefreshOutcome> {
		const stored = await options.storage.get();
		if (!stored) return { ok: false, ended: true, problem: notSignedIn() };
		if (seen !== undefined && stored.refresh_token !== seen) return { ok: true, tokens: stored };
		let response: Response;
		try {
			response = await options.postRefresh(stored.refresh_token);
		} catch (error) {
			return { ok: false, ended: false, problem: networkProblem(error) };
		}
		if (response.ok) return { ok: true, tokens: await save((await response.json()) as TokenBody, "refreshed") };
		const problem = await problemOf(response);
		const ended = SESSION_ENDED.has(problem.code);
		if (ended) await clear("session_ended");
		return { ok: false, ended, problem };
	}

	function withLock(seen: string | undefined): Promise<RefreshOutcome> {
		const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
		if (!options.lockName || !locks) return rotate(seen);
		return locks.request(options.lockName, () => rotate(seen));
	}

	/**
	 * Refreshes once for every caller waiting now. `seen` is the refresh token the caller's failed
	 * request went out with: if storage already holds another one, that one is the answer.
	 */
	function refresh(seen?: string): Promise<RefreshOutcome> {
		if (!inflight) {
			inflight = withLock(seen).finally(() => {
				inflight = null;
			});
		}
		return inflight;
	}

	/** The pair to send now, refreshed first when the access token is (nearly) expired. */
	async function fresh(): Promise<StoredTokens | null> {
		const stored = await options.storage.get();
		if (!stored) return null;
		if (stored.expires_at - options.leewayMs > options.now()) return stored;
		const outcome = await refresh(stored.refresh_token);
		// A transient failure (network, 503) still lets the call go out with the old token: the server decides.
		if (outcome.ok) return outcome.tokens;
		return outcome.ended ? null : stored;
	}

	return { save, clear, refresh, fresh, current: async () => await options.storage.get() };
}

export type TokenKeeper = ReturnType<typeof createTokenKeeper>;

function notSignedIn(): Problem {
	return { title: "Not signed in", status: 401, code: "unauthorized" };
}

function networkProblem(error: unknown): Problem {
	return {
		title: "Network error",
		status: 0,
		code: "network_error",
		detail: error instanceof Error ? error.message : String(error),
	};
}
