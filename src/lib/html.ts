import { sha256 } from "@oslojs/crypto/sha2";
import { encodeBase64 } from "@oslojs/encoding";
import { html, raw } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import type { Direction } from "./i18n";

const STYLE = `body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a}
h1{font-size:1.5rem}button{font:inherit;padding:.6rem 1.2rem;border-radius:.4rem;border:0;background:#2b59c3;color:#fff;cursor:pointer}
button:focus-visible,input:focus-visible{outline:3px solid #f5a623;outline-offset:2px}
input{font:inherit;padding:.5rem;width:100%;box-sizing:border-box;margin:.25rem 0 1rem}
.app{font-weight:600;color:#555;margin:0}.status{padding:.75rem 1rem;border-radius:.4rem;background:#eef3ff}.status.error{background:#fdecea}`;

const styleHash = `'sha256-${encodeBase64(sha256(new TextEncoder().encode(STYLE)))}'`;

/**
 * The pages run no script at all: only our one stylesheet, forms posting back to us. A form whose
 * post we answer with a redirect elsewhere names that origin too: browsers (Chromium) check
 * `form-action` against every redirect of the submission, not just its first URL.
 */
export function pageCsp(formTargets: readonly string[] = []): string {
	const targets = ["'self'", ...formTargets].join(" ");
	return `default-src 'none'; style-src ${styleHash}; form-action ${targets}; base-uri 'none'; frame-ancestors 'none'`;
}

export const PAGE_CSP = pageCsp();

/**
 * The page CSP with more targets its forms may post to (or be redirected to after posting):
 * Chromium checks form-action along the redirect chain of a form submission.
 */
export function pageCspWithFormTargets(origins: readonly string[]): string {
	return PAGE_CSP.replace("form-action 'self'", ["form-action 'self'", ...origins].join(" "));
}

/** Headers every HTML page sends: strict CSP, no referrer (the URL carries a token), no caching. */
export const PAGE_HEADERS: Record<string, string> = {
	"Content-Security-Policy": PAGE_CSP,
	"Referrer-Policy": "no-referrer",
	"Cache-Control": "no-store",
	"X-Frame-Options": "DENY",
	"Content-Type": "text/html; charset=utf-8",
};

/** A complete, small, accessible HTML document in the given language and direction. */
export function renderPage(input: {
	lang: string;
	dir: Direction;
	/** APP_NAME: whose page this is, in the tab title and above the heading. */
	appName: string;
	title: string;
	body: HtmlEscapedString | Promise<HtmlEscapedString>;
}) {
	return html`<!doctype html>
<html lang="${input.lang}" dir="${input.dir}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${input.title} · ${input.appName}</title>
<style>${raw(STYLE)}</style>
</head>
<body>
<main>
<p class="app">${input.appName}</p>
<h1>${input.title}</h1>
${input.body}
</main>
</body>
</html>`;
}

/** A status paragraph announced to assistive technology. */
export function statusMessage(text: string, kind: "ok" | "error" = "ok") {
	return html`<p class="status${kind === "error" ? " error" : ""}" role="${kind === "error" ? "alert" : "status"}">${text}</p>`;
}

/**
 * An address as a page may show it to whoever holds the URL: the first character of the local
 * part and the whole domain (`a***@example.com`), enough for the owner to recognise.
 */
export function maskEmail(email: string): string {
	const at = email.lastIndexOf("@");
	if (at < 1) return "***";
	return `${Array.from(email.slice(0, at))[0]}***${email.slice(at)}`;
}
