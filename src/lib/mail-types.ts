// The shapes mail takes on its way out, shared by the templates (lib), the transports and the
// outbox (services) and the request context (types.ts), so none of them imports another layer.

/** One rendered message. */
export type MailMessage = {
	to: string;
	subject: string;
	html: string;
	text: string;
};

export type SendResult = { ok: true; providerId?: string } | { ok: false; error: string; retryable: boolean };

/** Where mail leaves the system. Implementations must be safe to retry with the same key. */
export interface MailTransport {
	readonly name: string;
	send(message: MailMessage, idempotencyKey: string): Promise<SendResult>;
}

/** A request's mail: its transport, and the root key that seals outbox bodies at rest. */
export type Mailer = { transport: MailTransport; encryptionKey: string };
