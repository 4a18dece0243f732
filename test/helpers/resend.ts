import { vi } from "vitest";
import { fakeOrigin, recorded } from "./network";

/** The origin tests point RESEND_BASE_URL at (see vitest.config.ts). */
export const RESEND_ORIGIN = "https://resend.test";

export type SentMail = {
	from: string;
	to: string | string[];
	subject: string;
	html: string;
	text: string;
	idempotencyKey: string | null;
};

/**
 * Fakes Resend's `POST /emails`. `respond` can fail deliveries (e.g. a 500) to exercise retries;
 * by default every message is accepted.
 */
export function fakeResend(respond?: (mail: SentMail, attempt: number) => Response | undefined): void {
	let attempt = 0;
	fakeOrigin(RESEND_ORIGIN, async (request) => {
		const url = new URL(request.url);
		if (request.method !== "POST" || url.pathname !== "/emails") return new Response("not found", { status: 404 });
		const mail = parseMail(await request.text(), request.headers);
		attempt += 1;
		return respond?.(mail, attempt) ?? Response.json({ id: `fake-${attempt}` });
	});
}

function parseMail(body: string, headers: Headers): SentMail {
	return { ...(JSON.parse(body) as Omit<SentMail, "idempotencyKey">), idempotencyKey: headers.get("Idempotency-Key") };
}

/** Every message Resend received for `to` (including failed attempts), oldest first. */
export function mailsTo(to: string): SentMail[] {
	return recorded
		.filter((r) => r.url.startsWith(RESEND_ORIGIN))
		.map((r) => parseMail(r.body, r.headers))
		.filter((mail) => (Array.isArray(mail.to) ? mail.to : [mail.to]).includes(to));
}

/** Waits for the `count`-th message to `to` (delivery runs after the response, in waitUntil). */
export async function waitForMail(to: string, count = 1): Promise<SentMail> {
	return vi.waitFor(
		() => {
			const mails = mailsTo(to);
			if (mails.length < count) throw new Error(`waiting for mail #${count} to ${to}`);
			return mails[count - 1] as SentMail;
		},
		{ timeout: 5000, interval: 10 },
	);
}

/** The token of the first link with `path` in a mail's plain-text body. */
export function tokenFrom(mail: SentMail, path: string): string {
	const match = new RegExp(`https?://[^\\s]+${path.replace(/\//g, "\\/")}\\?token=([A-Za-z0-9_-]+)`).exec(mail.text);
	if (!match?.[1]) throw new Error(`no ${path} link in mail: ${mail.text}`);
	return match[1];
}
