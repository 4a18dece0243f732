/**
 * `redirect_to` of register, resend and forgot: allowed when its origin and path equal those of
 * an APP_REDIRECT_URLS entry (its own query string is kept, a fragment is dropped). Returns the
 * URL to remember, or null when it is not allowed.
 */
export function allowedAppRedirect(allowlist: readonly string[], candidate: string): string | null {
	const url = parseWebUrl(candidate);
	if (!url) return null;
	const allowed = allowlist.some((entry) => {
		const known = parseWebUrl(entry);
		return known !== null && known.origin === url.origin && known.pathname === url.pathname;
	});
	if (!allowed) return null;
	url.hash = "";
	return url.toString();
}

/** Where a result page's "continue" link goes: `redirectTo` with `status` added to its query. */
export function continueUrl(redirectTo: string, status: "confirmed" | "password_reset"): string {
	const url = new URL(redirectTo);
	url.searchParams.set("status", status);
	return url.toString();
}

function parseWebUrl(value: string): URL | null {
	let url: URL;
	try {
		url = new URL(value);
	} catch {
		return null;
	}
	// Credentials in a URL are a phishing device, and only web schemes can be app pages.
	if (url.username || url.password) return null;
	return url.protocol === "https:" || url.protocol === "http:" ? url : null;
}
