import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { PAGE_HEADERS, renderPage } from "../lib/html";
import { directionOf } from "../lib/i18n";
import type { AppEnv } from "../types";

type PageBody = Parameters<typeof renderPage>[0]["body"];

/**
 * The one way an HTML page is answered (result pages of mailed links, the linking page, a form's
 * refusal): the request's language and direction, APP_NAME, and the page headers (CSP, no-store)
 * unless the caller widens them.
 */
export function pageResponse<S extends ContentfulStatusCode = 200>(
	c: Context<AppEnv>,
	title: string,
	body: PageBody,
	status?: S,
	headers: Record<string, string> = PAGE_HEADERS,
) {
	const lang = c.get("lang");
	const page = renderPage({ lang, dir: directionOf(lang), appName: c.get("deps").config.APP_NAME, title, body });
	return c.html(page, (status ?? 200) as S, headers);
}
