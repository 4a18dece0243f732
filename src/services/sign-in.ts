import type { Config } from "../config";
import type { Database } from "../db/client";
import type { User } from "../db/schema";
import type { MfaRequiredBody, TokenBody } from "../schemas";
import { createMfaChallenge, totpEnabled } from "./mfa";
import { createSession } from "./sessions";
import { issueTokenResponse } from "./tokens";

/** One-time login codes handed to an app in a redirect: short, since they travel in a URL. */
export const LOGIN_CODE_SECONDS = 60;

/** An `mfa_token` lives 5 minutes (the contract's number, not a setting). */
export const MFA_TOKEN_SECONDS = 300;

export type SignInInput = {
	user: User;
	providers?: string[];
	/** The first factor passed: "password" or a provider id (kept on the challenge for the audit trail). */
	method: string;
	userAgent?: string | null;
	ip?: string | null;
};

/**
 * Ends a first factor (password, OAuth): with TOTP on, a challenge and the `mfa_required` answer
 * and no tokens; otherwise a new session with fresh tokens.
 */
export async function signInOrChallenge(
	db: Database,
	config: Config,
	input: SignInInput,
): Promise<{ mfa: true; body: MfaRequiredBody } | { mfa: false; body: TokenBody }> {
	if (await totpEnabled(db, input.user.id)) {
		const token = await createMfaChallenge(db, {
			userId: input.user.id,
			method: input.method,
			ttlSeconds: MFA_TOKEN_SECONDS,
		});
		return {
			mfa: true,
			body: { mfa_required: true, mfa_token: token, expires_in: MFA_TOKEN_SECONDS, methods: ["totp", "recovery_code"] },
		};
	}
	return { mfa: false, body: await startSession(db, config, input) };
}

/** A new session with fresh tokens: the end of a completed sign-in. */
export async function startSession(db: Database, config: Config, input: SignInInput): Promise<TokenBody> {
	const { session, refreshToken } = await createSession(db, {
		userId: input.user.id,
		lifetimeSeconds: config.REFRESH_TOKEN_SECONDS,
		userAgent: input.userAgent,
		ip: input.ip,
	});
	return issueTokenResponse(config, {
		user: input.user,
		session,
		refreshToken,
		fresh: true,
		providers: input.providers,
	});
}
