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

/** A disabled account (admin API): no sign-in path may start a session for it. */
export type AccountDisabled = { mfa: false; disabled: true };

export type SignInOutcome =
	| { mfa: true; disabled?: false; body: MfaRequiredBody }
	| { mfa: false; disabled?: false; body: TokenBody }
	| AccountDisabled;

export type StartSessionOutcome = { disabled?: false; body: TokenBody } | AccountDisabled;

const DISABLED: AccountDisabled = { mfa: false, disabled: true };

/**
 * Ends a first factor (password, OAuth, magic link): with TOTP on, a challenge and the
 * `mfa_required` answer and no tokens; otherwise a new session with fresh tokens. A disabled
 * account gets neither; the result type makes every caller answer that case.
 */
export async function signInOrChallenge(db: Database, config: Config, input: SignInInput): Promise<SignInOutcome> {
	if (input.user.disabledAt) return DISABLED;
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
	const started = await startSession(db, config, input);
	return started.disabled ? started : { mfa: false, body: started.body };
}

/**
 * A new session with fresh tokens: the end of a completed sign-in (after the MFA step, a passkey),
 * refused for a disabled account. `input.user` is read by the same request; a disable landing in
 * between still wins, since findActiveSession never returns a session of a disabled user.
 */
export async function startSession(db: Database, config: Config, input: SignInInput): Promise<StartSessionOutcome> {
	if (input.user.disabledAt) return DISABLED;
	const { session, refreshToken } = await createSession(db, {
		userId: input.user.id,
		lifetimeSeconds: config.REFRESH_TOKEN_SECONDS,
		userAgent: input.userAgent,
		ip: input.ip,
	});
	const body = await issueTokenResponse(config, {
		user: input.user,
		session,
		refreshToken,
		fresh: true,
		providers: input.providers,
	});
	return { body };
}
