import { and, eq, gt, isNull, lte } from "drizzle-orm";
import type { Database } from "../../db/client";
import { oauthLinkTickets, users } from "../../db/schema";
import { hashToken, newSecretToken } from "../../lib/crypto";
import type { ProviderId } from "./types";

/** How long a linking URL can wait before someone opens it and presses the button. */
export const LINK_TICKET_SECONDS = 600;

export type LinkTicketState = "valid" | "spent" | "expired" | "invalid";

/** What spending a ticket hands to the provider flow of the browser that spent it. */
export type LinkTicket = { userId: string; sessionId: string; redirectUri: string | null };

/**
 * Issues the single-use ticket of a linking URL for the signed-in `sessionId` (only its hash is
 * stored). Nothing about the browser is recorded: the ticket is what any browser brings.
 */
export async function issueLinkTicket(
	db: Database,
	input: { userId: string; sessionId: string; provider: ProviderId; redirectUri: string | null },
	now = Date.now(),
): Promise<string> {
	const ticket = newSecretToken();
	await db.insert(oauthLinkTickets).values({
		ticketHash: hashToken(ticket),
		userId: input.userId,
		sessionId: input.sessionId,
		provider: input.provider,
		redirectUri: input.redirectUri,
		expiresAt: new Date(now + LINK_TICKET_SECONDS * 1000),
	});
	return ticket;
}

/**
 * Reads a ticket without spending it (the consent page: link previewers open URLs too), with what
 * the page shows: the account's email and saved locale. A ticket of another provider is invalid.
 */
export async function inspectLinkTicket(
	db: Database,
	ticket: string,
	provider: ProviderId,
	now = Date.now(),
): Promise<{ state: LinkTicketState; email?: string; locale?: string }> {
	const found = await db
		.select({
			expiresAt: oauthLinkTickets.expiresAt,
			spentAt: oauthLinkTickets.spentAt,
			email: users.email,
			locale: users.locale,
		})
		.from(oauthLinkTickets)
		.innerJoin(users, eq(users.id, oauthLinkTickets.userId))
		.where(and(eq(oauthLinkTickets.ticketHash, hashToken(ticket)), eq(oauthLinkTickets.provider, provider)))
		.get();
	if (!found) return { state: "invalid" };
	const { email, locale } = found;
	if (found.spentAt) return { state: "spent", email, locale };
	if (found.expiresAt.getTime() <= now) return { state: "expired", email, locale };
	return { state: "valid", email, locale };
}

/**
 * Spends a ticket with one conditional UPDATE: exactly one caller gets the ticket's user, session
 * and redirect_uri; every other one (second use, expired, unknown, other provider) gets its state.
 */
export async function spendLinkTicket(
	db: Database,
	ticket: string,
	provider: ProviderId,
	now = Date.now(),
): Promise<
	| ({ ok: true } & LinkTicket & { locale: string | null })
	| { ok: false; state: Exclude<LinkTicketState, "valid">; locale?: string }
> {
	const spent = await db
		.update(oauthLinkTickets)
		.set({ spentAt: new Date(now) })
		.where(
			and(
				eq(oauthLinkTickets.ticketHash, hashToken(ticket)),
				eq(oauthLinkTickets.provider, provider),
				isNull(oauthLinkTickets.spentAt),
				gt(oauthLinkTickets.expiresAt, new Date(now)),
			),
		)
		.returning({
			userId: oauthLinkTickets.userId,
			sessionId: oauthLinkTickets.sessionId,
			redirectUri: oauthLinkTickets.redirectUri,
		})
		.get();
	if (spent) {
		const user = await db.select({ locale: users.locale }).from(users).where(eq(users.id, spent.userId)).get();
		return { ok: true, ...spent, locale: user?.locale ?? null };
	}
	const { state, locale } = await inspectLinkTicket(db, ticket, provider, now);
	return { ok: false, state: state === "valid" ? "spent" : state, locale };
}

/** Deletes tickets past their expiry, spent or not (the cron); returns how many. */
export async function pruneLinkTickets(db: Database, now = new Date()): Promise<number> {
	const removed = await db
		.delete(oauthLinkTickets)
		.where(lte(oauthLinkTickets.expiresAt, now))
		.returning({ ticketHash: oauthLinkTickets.ticketHash });
	return removed.length;
}
