/** What the client keeps between calls: the token pair and when the access token expires. */
export type StoredTokens = {
	access_token: string;
	refresh_token: string;
	/** Epoch milliseconds at which the access token stops being accepted. */
	expires_at: number;
};

/**
 * Where tokens live. Sync or async, so a native keychain or an encrypted store can back it.
 * `set(null)` forgets them (sign-out, a revoked session).
 */
export interface TokenStorage {
	get(): StoredTokens | null | Promise<StoredTokens | null>;
	set(tokens: StoredTokens | null): void | Promise<void>;
}

/** Tokens in memory only: gone on reload (the safest default for a browser tab). */
export function memoryStorage(initial: StoredTokens | null = null): TokenStorage {
	let tokens = initial;
	return {
		get: () => tokens,
		set: (next) => {
			tokens = next;
		},
	};
}

/** Minimal Web Storage shape, so tests and non-browser hosts can pass their own. */
export type WebStorageLike = {
	getItem(key: string): string | null;
	setItem(key: string, value: string): void;
	removeItem(key: string): void;
};

/**
 * Tokens in `localStorage` (shared by the origin's tabs, survives reloads). Readable by any script
 * on the origin: use it only where that trade-off is acceptable.
 */
export function localStorageStorage(key = "atrium.tokens", store?: WebStorageLike): TokenStorage {
	const web = store ?? (globalThis as { localStorage?: WebStorageLike }).localStorage;
	if (!web) throw new Error("localStorageStorage: no localStorage here; pass a store or use memoryStorage()");
	return {
		get() {
			const raw = web.getItem(key);
			if (!raw) return null;
			try {
				const parsed = JSON.parse(raw) as StoredTokens;
				return typeof parsed.access_token === "string" && typeof parsed.refresh_token === "string" ? parsed : null;
			} catch {
				return null;
			}
		},
		set(tokens) {
			if (tokens) web.setItem(key, JSON.stringify(tokens));
			else web.removeItem(key);
		},
	};
}
