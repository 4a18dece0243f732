import { and, eq, inArray, lte } from "drizzle-orm";
import type { Database } from "../db/client";
import { outbox } from "../db/schema";
import { newId } from "../lib/crypto";
import { log } from "../lib/log";
import type { MailMessage, MailTransport } from "./mail";

/** Attempts before a message is marked failed; with the backoff below that spans about a day. */
export const MAX_MAIL_ATTEMPTS = 8;

/** Delay before retry number `attempts` (1-based): 1, 2, 4 ... minutes, at most 6 hours. */
export function retryDelayMs(attempts: number): number {
	return Math.min(60_000 * 2 ** (attempts - 1), 6 * 3600_000);
}

/** Records a message durably; delivery happens later, so a mail outage never fails the request. */
export async function enqueueMail(db: Database, message: MailMessage): Promise<string> {
	const id = newId();
	await db.insert(outbox).values({ id, toAddress: message.to, ...message, nextAttemptAt: new Date() });
	return id;
}

/**
 * Tries to deliver pending messages. The outbox id is Resend's idempotency key, so a retry after
 * an unclear failure (timeout after the provider accepted) cannot send the message twice.
 */
export async function deliverMail(db: Database, transport: MailTransport, ids: string[]): Promise<void> {
	if (ids.length === 0) return;
	const rows = await db
		.select()
		.from(outbox)
		.where(and(inArray(outbox.id, ids), eq(outbox.status, "pending")));
	for (const row of rows) {
		let result: Awaited<ReturnType<MailTransport["send"]>>;
		try {
			result = await transport.send(
				{ to: row.toAddress, subject: row.subject, html: row.html, text: row.text },
				`atrium-outbox-${row.id}`,
			);
		} catch (error) {
			result = { ok: false, error: error instanceof Error ? error.message : String(error), retryable: true };
		}
		const attempts = row.attempts + 1;
		if (result.ok) {
			// The body may hold a live link: once delivered it has no reason to stay at rest.
			await db
				.update(outbox)
				.set({ status: "sent", attempts, sentAt: new Date(), html: "", text: "", lastError: null })
				.where(eq(outbox.id, row.id));
			continue;
		}
		const failed = !result.retryable || attempts >= MAX_MAIL_ATTEMPTS;
		log("warn", "mail_delivery_failed", {
			outboxId: row.id,
			attempts,
			failed,
			transport: transport.name,
			error: result.error,
		});
		await db
			.update(outbox)
			.set({
				status: failed ? "failed" : "pending",
				attempts,
				lastError: result.error.slice(0, 500),
				nextAttemptAt: new Date(Date.now() + retryDelayMs(attempts)),
			})
			.where(eq(outbox.id, row.id));
	}
}

/** Delivers every pending message whose retry time has come (the Cron Trigger's job). */
export async function deliverDueMail(db: Database, transport: MailTransport, limit = 50): Promise<number> {
	const due = await db
		.select({ id: outbox.id })
		.from(outbox)
		.where(and(eq(outbox.status, "pending"), lte(outbox.nextAttemptAt, new Date())))
		.orderBy(outbox.nextAttemptAt)
		.limit(limit);
	await deliverMail(
		db,
		transport,
		due.map((row) => row.id),
	);
	return due.length;
}
