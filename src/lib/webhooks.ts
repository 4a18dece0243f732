// Signed events for the app's own backend (Standard Webhooks, https://www.standardwebhooks.com):
// the event shapes, the signing key and the signature. Pure: the outbox (services) sends them.
import { hmac } from "@oslojs/crypto/hmac";
import { SHA256 } from "@oslojs/crypto/sha2";
import { decodeBase64, encodeBase64 } from "@oslojs/encoding";

/** Every event type of the contract (API.md, "Events (webhooks)"); nothing else is ever sent. */
export const EVENT_TYPES = [
	"user.created",
	"user.confirmed",
	"user.email_changed",
	"user.deleted",
	"user.disabled",
	"user.password_changed",
	"user.mfa_changed",
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** Who made the change: the user (any self-service path) or the app's backend (admin API). */
export type EventActor = "self" | "admin";

/** Where events go and the key that signs them. */
export type WebhookTarget = { url: string; signingKey: Uint8Array };

/**
 * A request's events: where they go (null: webhooks are off, nothing is recorded), the root key
 * their outbox bodies are sealed under, and the ids recorded so far, which the request delivers
 * after its response.
 */
export type EventRecorder = { webhook: WebhookTarget | null; encryptionKey: string; recorded: string[] };

/**
 * The signing key of a WEBHOOK_SECRET: a `whsec_` secret is the base64 after the prefix (as
 * Standard Webhooks libraries read it), any other secret its UTF-8 bytes. Null for bad base64.
 */
export function webhookSigningKey(secret: string): Uint8Array | null {
	if (!secret.startsWith("whsec_")) return new TextEncoder().encode(secret);
	try {
		return decodeBase64(secret.slice("whsec_".length));
	} catch {
		return null;
	}
}

/** `webhook-signature` for one attempt: `v1,` and the base64 HMAC-SHA256 of `<id>.<timestamp>.<body>`. */
export function webhookSignature(key: Uint8Array, id: string, timestampSeconds: number, body: string): string {
	const signed = new TextEncoder().encode(`${id}.${timestampSeconds}.${body}`);
	return `v1,${encodeBase64(hmac(SHA256, key, signed))}`;
}

/** The headers of one delivery attempt: the id stays across retries, the timestamp and signature are fresh. */
export function webhookHeaders(key: Uint8Array, id: string, body: string, now = Date.now()): Record<string, string> {
	const timestamp = Math.floor(now / 1000);
	return {
		"content-type": "application/json",
		"webhook-id": id,
		"webhook-timestamp": String(timestamp),
		"webhook-signature": webhookSignature(key, id, timestamp, body),
	};
}
