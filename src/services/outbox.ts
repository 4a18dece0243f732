import { and, eq, inArray, lte, ne } from "drizzle-orm";
import type { Database } from "../db/client";
import { outbox } from "../db/schema";
import { newId } from "../lib/crypto";
import { decryptText, encryptText, purposeKey } from "../lib/encryption";
import { log } from "../lib/log";
import type { MailMessage, Mailer, MailTransport } from "../lib/mail-types";
import { type WebhookTarget, webhookHeaders } from "../lib/webhooks";

/**
 * What delivering mail needs: the transport, and the root key the outbox bodies are encrypted
 * under (ENCRYPTION_KEY; the outbox derives its own purpose key from it).
 */
export type { Mailer };

function bodyKey(mailer: Pick<Mailer, "encryptionKey">): Promise<CryptoKey> {
	return purposeKey(mailer.encryptionKey, "outbox-body");
}

/** Attempts before a message (mail or event) is marked failed; with the backoff below that spans about a day. */
export const MAX_MAIL_ATTEMPTS = 8;

/** Delay before retry number `attempts` (1-based): 1, 2, 4 ... minutes, at most 6 hours. */
export function retryDelayMs(attempts: number): number {
	return Math.min(60_000 * 2 ** (attempts - 1), 6 * 3600_000);
}

/**
 * Records a message durably; delivery happens later, so a mail outage never fails the request. The
 * bodies (which hold the live link) are encrypted with the outbox key, bound to the row id; the
 * row belongs to `userId` (deleted with the account) and is pointless after `expiresAt`.
 */
export async function enqueueMail(
	db: Database,
	mailer: Pick<Mailer, "encryptionKey">,
	message: MailMessage,
	owner: { userId: string | null; expiresAt: Date | null },
): Promise<string> {
	const id = newId();
	const key = await bodyKey(mailer);
	const [html, text] = await Promise.all([encryptText(key, message.html, id), encryptText(key, message.text, id)]);
	await db.insert(outbox).values({
		id,
		userId: owner.userId,
		toAddress: message.to,
		subject: message.subject,
		html,
		text,
		expiresAt: owner.expiresAt,
		nextAttemptAt: new Date(),
	});
	return id;
}

/**
 * Tries to deliver pending messages. The outbox id is Resend's idempotency key, so a retry after
 * an unclear failure (timeout after the provider accepted) cannot send the message twice.
 */
export async function deliverMail(db: Database, mailer: Mailer, ids: string[]): Promise<void> {
	if (ids.length === 0) return;
	const { transport } = mailer;
	const rows = await db
		.select()
		.from(outbox)
		.where(and(inArray(outbox.id, ids), eq(outbox.status, "pending"), eq(outbox.kind, "mail")));
	const key = rows.length > 0 ? await bodyKey(mailer) : null;
	for (const row of rows) {
		let result: Awaited<ReturnType<MailTransport["send"]>>;
		try {
			const message = await openBodies(key as CryptoKey, row);
			result = message
				? await transport.send({ to: row.toAddress, subject: row.subject, ...message }, `atrium-outbox-${row.id}`)
				: // Encrypted under another key (ENCRYPTION_KEY was changed) or altered: cannot ever be sent.
					{ ok: false, error: "body cannot be decrypted", retryable: false };
		} catch (error) {
			result = { ok: false, error: error instanceof Error ? error.message : String(error), retryable: true };
		}
		await settle(db, row, result, { event: "mail_delivery_failed", transport: transport.name });
	}
}

/**
 * Records the outcome of one attempt on its row. Delivered or failed for good, the body is
 * emptied: a mail's may hold a live link, an event's an email address; neither has a reason to
 * stay at rest once it will never be sent again.
 */
async function settle(
	db: Database,
	row: { id: string; attempts: number },
	result: { ok: true } | { ok: false; error: string; retryable: boolean },
	logged: { event: string } & Record<string, string>,
): Promise<void> {
	const attempts = row.attempts + 1;
	if (result.ok) {
		await db
			.update(outbox)
			.set({ status: "sent", attempts, sentAt: new Date(), html: "", text: "", lastError: null })
			.where(eq(outbox.id, row.id));
		return;
	}
	const failed = !result.retryable || attempts >= MAX_MAIL_ATTEMPTS;
	const { event, ...fields } = logged;
	log("warn", event, { outboxId: row.id, attempts, failed, ...fields, error: result.error });
	await db
		.update(outbox)
		.set({
			status: failed ? "failed" : "pending",
			attempts,
			lastError: result.error.slice(0, 500),
			nextAttemptAt: new Date(Date.now() + retryDelayMs(attempts)),
			...(failed ? { html: "", text: "" } : {}),
		})
		.where(eq(outbox.id, row.id));
}

/** How long one webhook attempt may take before it counts as failed (and is retried). */
export const WEBHOOK_TIMEOUT_MS = 10_000;

/** What delivering events needs: the receiver and its signing key, and the root of the outbox key. */
export type WebhookSender = WebhookTarget & { encryptionKey: string };

/**
 * Posts pending events, each signed the Standard Webhooks way: `webhook-id` is the event id on
 * every attempt (receivers deduplicate by it), the timestamp and signature are made per attempt.
 * Any 2xx accepts; anything else, a network error or the timeout leaves the row for the retry.
 * Never throws for a receiver's sake: it runs after the response and must not touch it.
 */
export async function deliverWebhooks(db: Database, sender: WebhookSender, ids: string[]): Promise<void> {
	if (ids.length === 0) return;
	const rows = await db
		.select()
		.from(outbox)
		.where(and(inArray(outbox.id, ids), eq(outbox.status, "pending"), eq(outbox.kind, "webhook")));
	const key = rows.length > 0 ? await purposeKey(sender.encryptionKey, "outbox-body") : null;
	for (const row of rows) {
		let result: { ok: true } | { ok: false; error: string; retryable: boolean };
		let body: string | null = null;
		try {
			body = await decryptText(key as CryptoKey, row.html, row.id);
		} catch {
			body = null;
		}
		if (body === null) {
			result = { ok: false, error: "body cannot be decrypted", retryable: false };
		} else {
			result = await postEvent(sender, row.id, body);
		}
		await settle(db, row, result, { event: "webhook_delivery_failed", type: row.subject });
	}
}

async function postEvent(
	sender: WebhookTarget,
	id: string,
	body: string,
): Promise<{ ok: true } | { ok: false; error: string; retryable: boolean }> {
	try {
		const res = await fetch(sender.url, {
			method: "POST",
			headers: webhookHeaders(sender.signingKey, id, body),
			body,
			// A redirect is not an acceptance: the receiver's address should be fixed instead.
			redirect: "manual",
			signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
		});
		// The receiver's answer is not read beyond its status; cancel it so the connection is freed.
		await res.body?.cancel();
		if (res.status >= 200 && res.status < 300) return { ok: true };
		return { ok: false, error: `receiver answered ${res.status}`, retryable: true };
	} catch (error) {
		const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
		return { ok: false, error: message, retryable: true };
	}
}

/** Posts every pending event whose retry time has come (the Cron Trigger's job). */
export async function deliverDueWebhooks(db: Database, sender: WebhookSender, limit = 50): Promise<number> {
	const due = await db
		.select({ id: outbox.id })
		.from(outbox)
		.where(and(eq(outbox.status, "pending"), eq(outbox.kind, "webhook"), lte(outbox.nextAttemptAt, new Date())))
		.orderBy(outbox.nextAttemptAt)
		.limit(limit);
	await deliverWebhooks(
		db,
		sender,
		due.map((row) => row.id),
	);
	return due.length;
}

async function openBodies(
	key: CryptoKey,
	row: { id: string; html: string; text: string },
): Promise<{ html: string; text: string } | null> {
	try {
		const [html, text] = await Promise.all([decryptText(key, row.html, row.id), decryptText(key, row.text, row.id)]);
		return { html, text };
	} catch {
		return null;
	}
}

/** Delivers every pending message whose retry time has come (the Cron Trigger's job). */
export async function deliverDueMail(db: Database, mailer: Mailer, limit = 50): Promise<number> {
	const due = await db
		.select({ id: outbox.id })
		.from(outbox)
		.where(and(eq(outbox.status, "pending"), eq(outbox.kind, "mail"), lte(outbox.nextAttemptAt, new Date())))
		.orderBy(outbox.nextAttemptAt)
		.limit(limit);
	await deliverMail(
		db,
		mailer,
		due.map((row) => row.id),
	);
	return due.length;
}

/**
 * Gives up on pending messages whose link has expired and empties their bodies (the cron's job):
 * such a mail could only deliver a dead link, and its body must not wait at rest. Returns how many.
 */
export async function expireStaleMail(db: Database, now = new Date()): Promise<number> {
	const result = await db
		.update(outbox)
		.set({ status: "failed", html: "", text: "", lastError: "link expired before delivery" })
		.where(and(ne(outbox.status, "sent"), lte(outbox.expiresAt, now), ne(outbox.html, "")));
	return result.meta.changes;
}

/**
 * Deletes settled rows (sent, or failed for good) whose last scheduled attempt is older than
 * `before` (the cron's retention job). Their bodies are already empty; what is left is a delivery
 * log no one reads past the audit retention, and webhook rows, keyed to no user, would otherwise
 * outlive every account. Pending rows are never taken. Returns how many were deleted.
 */
export async function pruneSettledOutbox(db: Database, before: Date): Promise<number> {
	const result = await db
		.delete(outbox)
		.where(and(inArray(outbox.status, ["sent", "failed"]), lte(outbox.nextAttemptAt, before)));
	return result.meta.changes;
}
