import type { Context } from "hono";
import { AppError } from "../lib/errors";
import { allowedAppRedirect } from "../lib/redirects";
import type { AppEnv } from "../types";

/**
 * The `redirect_to` of a request that mails a link: null when absent, the URL to remember when it
 * matches APP_REDIRECT_URLS, else 400 redirect_uri_not_allowed (before anything is mailed).
 */
export function appRedirect(c: Context<AppEnv>, value: string | undefined): string | null {
	if (value === undefined) return null;
	const allowed = allowedAppRedirect(c.get("deps").config.APP_REDIRECT_URLS, value);
	if (!allowed) throw new AppError("redirect_uri_not_allowed");
	return allowed;
}
