import { Resend } from "resend";
import type { Config } from "../config";
import type { MailMessage, MailTransport, SendResult } from "../lib/mail-types";

export type { MailMessage, MailTransport, SendResult };

/** Local development transport: prints the whole message, links included, to the console. */
export function createConsoleTransport(from: string): MailTransport {
	return {
		name: "console",
		async send(message) {
			console.log(
				[
					"──────── mail (console transport: RESEND_API_KEY is not set) ────────",
					`From: ${from}`,
					`To: ${message.to}`,
					`Subject: ${message.subject}`,
					"",
					message.text,
					"──────────────────────────────────────────────────────────────────────",
				].join("\n"),
			);
			return { ok: true };
		},
	};
}

/** Production transport through Resend's API (base URL configurable for tests and proxies). */
export function createResendTransport(apiKey: string, from: string, baseUrl: string): MailTransport {
	const client = new Resend(apiKey, { baseUrl: baseUrl.replace(/\/+$/, "") });
	return {
		name: "resend",
		async send(message, idempotencyKey) {
			const { data, error } = await client.emails.send(
				{ from, to: message.to, subject: message.subject, html: message.html, text: message.text },
				{ idempotencyKey },
			);
			if (error) {
				const status = (error as { statusCode?: number | null }).statusCode ?? null;
				// 4xx other than 409/429 means the message itself is wrong: retrying cannot help.
				const retryable = status === null || status >= 500 || status === 429 || status === 409;
				return { ok: false, error: `${error.name}: ${error.message}`, retryable };
			}
			return { ok: true, providerId: data?.id };
		},
	};
}

/** Resend when an API key is configured, otherwise the console. */
export function createMailTransport(config: Config): MailTransport {
	return config.RESEND_API_KEY
		? createResendTransport(config.RESEND_API_KEY, config.MAIL_FROM, config.RESEND_BASE_URL)
		: createConsoleTransport(config.MAIL_FROM);
}
