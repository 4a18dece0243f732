import { env } from "cloudflare:workers";

/**
 * Moves a spent refresh token's rotation `seconds` into the past, past the reuse interval
 * (REFRESH_REUSE_SECONDS, 10 by default), so presenting it again is reuse. Throws when the token
 * is unknown or not spent yet.
 */
export async function ageRefreshRotation(refreshToken: string, seconds = 11): Promise<void> {
	const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(refreshToken));
	const hash = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
	const result = await env.DB.prepare(
		"update refresh_tokens set spent_at = spent_at - ? where token_hash = ? and spent_at is not null",
	)
		.bind(seconds * 1000, hash)
		.run();
	if (result.meta.changes !== 1) throw new Error("no spent refresh token to age");
}
