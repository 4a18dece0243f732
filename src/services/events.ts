import { type SQL, and, eq, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Database } from "../db/client";
import { outbox, users } from "../db/schema";
import { newId } from "../lib/crypto";
import { encryptText, purposeKey } from "../lib/encryption";
import type { EventActor, EventRecorder, EventType } from "../lib/webhooks";

export type { EventActor, EventRecorder, EventType };

/** One change to report: its type, whose account, who made it, and anything the type adds. */
export type EventInput = {
	type: EventType;
	userId: string;
	actor: EventActor;
	data?: Record<string, string | boolean | null>;
};

/**
 * The statements recording one event as a webhook row of the outbox, to run IN THE SAME D1 batch as
 * the change it reports: the batch is one transaction, so either both land or neither does. With
 * `when`, the row is written only if that SQL condition holds at its place in the batch (put it
 * before the change it inspects: "this email was not confirmed yet"), so an event is recorded once,
 * when the state really flips. Webhooks off: no statements.
 *
 * The event JSON is sealed with the outbox key (it may carry an email address) and the row has no
 * user_id: deleting the account leaves pending events, user.deleted above all, to be delivered.
 */
export async function eventStatements(
	db: Database,
	recorder: EventRecorder,
	event: EventInput,
	when?: SQL,
): Promise<BatchItem<"sqlite">[]> {
	if (!recorder.webhook) return [];
	const id = `evt_${newId()}`;
	const now = new Date();
	const body = JSON.stringify({
		id,
		type: event.type,
		created_at: now.toISOString(),
		data: { user_id: event.userId, actor: event.actor, ...event.data },
	});
	const sealed = await encryptText(await purposeKey(recorder.encryptionKey, "outbox-body"), body, id);
	recorder.recorded.push(id);
	const insert = db.insert(outbox).values({
		id,
		kind: "webhook",
		userId: null,
		toAddress: "",
		subject: event.type,
		html: sealed,
		text: "",
		nextAttemptAt: now,
	});
	// A conditional event is written, then taken back at once unless its condition holds (null counts
	// as false): the condition is read at this point of the batch, before the change that follows.
	// (An INSERT ... SELECT ... WHERE would be one statement, but drizzle's raw statements lose their
	// parameters inside a D1 batch.)
	return when ? [insert, db.delete(outbox).where(and(eq(outbox.id, id), sql`not coalesce((${when}), 0)`))] : [insert];
}

/**
 * user.confirmed for `userId`, recorded only while the email is still unconfirmed (and `guard`
 * holds): placed before the statement that confirms it, it makes the event once-only whichever
 * path (link, reset, verified OAuth email, magic link, email change) gets there first.
 */
export function confirmedEvent(
	db: Database,
	recorder: EventRecorder,
	userId: string,
	guard?: SQL,
): Promise<BatchItem<"sqlite">[]> {
	const unconfirmed = sql`exists (select 1 from ${users} where ${users.id} = ${userId} and ${users.emailConfirmedAt} is null)`;
	return eventStatements(
		db,
		recorder,
		{ type: "user.confirmed", userId, actor: "self" },
		guard ? sql`${unconfirmed} and ${guard}` : unconfirmed,
	);
}

/** Condition: the account exists at this point of the batch (after its insert, before its delete). */
export function userExists(userId: string): SQL {
	return sql`exists (select 1 from ${users} where ${users.id} = ${userId})`;
}
