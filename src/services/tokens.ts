import type { TokenBody } from "../schemas";
import type { Config } from "../config";
import type { Session, User } from "../db/schema";
import { newId } from "../lib/crypto";
import { signAccessTokenWith } from "../lib/jwt";
import { accessTokenKeys } from "./token-keys";
import { presentUser } from "./users";

/** The body of a successful login, refresh or OAuth exchange. */
export async function issueTokenResponse(
	config: Config,
	input: { user: User; session: Session; refreshToken: string; fresh: boolean; providers?: string[] },
): Promise<TokenBody> {
	const iat = Math.floor(Date.now() / 1000);
	const accessToken = await signAccessTokenWith(await accessTokenKeys(config), {
		iss: config.JWT_ISSUER,
		aud: config.JWT_AUDIENCE,
		sub: input.user.id,
		sid: input.session.id,
		jti: newId(),
		iat,
		exp: iat + config.ACCESS_TOKEN_SECONDS,
		fresh: input.fresh,
	});
	return {
		access_token: accessToken,
		refresh_token: input.refreshToken,
		token_type: "Bearer" as const,
		expires_in: config.ACCESS_TOKEN_SECONDS,
		refresh_expires_at: input.session.expiresAt.toISOString(),
		user: presentUser(input.user, input.providers ?? [], config.appUrl),
	};
}
