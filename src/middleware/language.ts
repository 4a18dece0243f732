import { createMiddleware } from "hono/factory";
import type { Context } from "hono";
import { defaultLocale, matchLocale, negotiateLocale, translator } from "../lib/i18n";
import type { AppEnv, LanguageSource } from "../types";

/**
 * Sets the request's language: `?lang=` first, then Accept-Language, then DEFAULT_LOCALE (the
 * signed-in user's saved locale slots in between later, see `preferUserLocale`). An unknown
 * `?lang=` falls through instead of failing.
 */
export const detectLanguage = () =>
	createMiddleware<AppEnv>(async (c, next) => {
		const fallback = defaultLocale(c.env.DEFAULT_LOCALE);
		const fromQuery = matchLocale(c.req.query("lang") ?? "");
		const fromHeader = fromQuery ? null : negotiateLocale(c.req.header("Accept-Language"), fallback);
		const source: LanguageSource = fromQuery ? "query" : fromHeader ? "header" : "default";
		setLanguage(c, fromQuery ?? fromHeader ?? fallback, source);
		await next();
		const type = c.res.headers.get("Content-Type") ?? "";
		// Stored bytes (images, avatars) are the same in every language.
		if (type.startsWith("image/") || type.startsWith("application/octet-stream")) return;
		c.header("Content-Language", c.get("lang"));
		const vary = c.res.headers.get("Vary") ?? "";
		if (!/(^|,)\s*(accept-language|\*)\s*(,|$)/i.test(vary)) c.header("Vary", "Accept-Language", { append: true });
	});

/** Switches the request's language (e.g. to the signed-in user's saved locale). */
export function setLanguage(c: Context<AppEnv>, locale: string, source: LanguageSource): void {
	c.set("lang", locale);
	c.set("langSource", source);
	c.set("t", translator(locale));
}

/** The signed-in user's saved locale beats Accept-Language and the default, never `?lang=`. */
export function preferUserLocale(c: Context<AppEnv>, userLocale: string): void {
	if (c.get("langSource") === "query") return;
	const locale = matchLocale(userLocale);
	if (locale) setLanguage(c, locale, "user");
}
