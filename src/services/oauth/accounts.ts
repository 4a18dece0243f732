import { and, asc, eq, isNull, sql } from "drizzle-orm";
import type { Database } from "../../db/client";
import { oauthAccounts, sessions, type User, users, verificationTokens } from "../../db/schema";
import { newId } from "../../lib/crypto";
import { type EventRecorder, confirmedEvent, eventStatements } from "../events";
import { otherLoginMethods } from "../login-methods";
import { findUserByEmail, normalizeEmail } from "../users";
import type { OAuthIdentity, ProviderId } from "./types";

export type OAuthLoginResult =
	| { ok: true; user: User; outcome: "returning" | "linked" | "claimed" | "created" }
	| { ok: false; reason: "email_in_use" | "no_email" };

/** True for a UNIQUE/PRIMARY KEY violation, however drizzle and D1 wrap it. */
function isUniqueViolation(error: unknown): boolean {
	for (let current = error; current instanceof Error; current = current.cause) {
		if (/UNIQUE constraint failed|SQLITE_CONSTRAINT/i.test(current.message)) return true;
	}
	return false;
}

async function findLinkedUser(db: Database, provider: ProviderId, providerUserId: string): Promise<User | undefined> {
	const row = await db
		.select({ user: users })
		.from(oauthAccounts)
		.innerJoin(users, eq(users.id, oauthAccounts.userId))
		.where(and(eq(oauthAccounts.provider, provider), eq(oauthAccounts.providerUserId, providerUserId)))
		.get();
	return row?.user;
}

function linkRow(userId: string, provider: ProviderId, identity: OAuthIdentity) {
	return {
		provider,
		providerUserId: identity.providerUserId,
		userId,
		email: identity.email ? normalizeEmail(identity.email) : null,
	};
}

/**
 * Decides which account a provider login signs in to (contract: "Accounts are matched by
 * (provider, provider user id)"):
 * - a known identity signs in to its account;
 * - a new identity whose email the provider verified is linked to the account with that email;
 *   if that account never confirmed its email, whoever registered it never proved they own the
 *   address, so their password, sessions and other links are dropped as the account is confirmed
 *   (this defeats pre-registering a victim's address and waiting for them to use OAuth);
 * - an unverified email that is already taken is refused (`email_in_use`);
 * - otherwise a new account is created, confirmed when the provider verified the email.
 * A concurrent login that wins a uniqueness race makes this one start over once.
 */
export async function resolveOAuthLogin(
	db: Database,
	provider: ProviderId,
	identity: OAuthIdentity,
	options: { locale: string; events: EventRecorder },
): Promise<OAuthLoginResult> {
	try {
		return await resolveOnce(db, provider, identity, options);
	} catch (error) {
		if (!isUniqueViolation(error)) throw error;
		try {
			return await resolveOnce(db, provider, identity, options);
		} catch (retryError) {
			if (isUniqueViolation(retryError)) return { ok: false, reason: "email_in_use" };
			throw retryError;
		}
	}
}

async function resolveOnce(
	db: Database,
	provider: ProviderId,
	identity: OAuthIdentity,
	options: { locale: string; events: EventRecorder },
): Promise<OAuthLoginResult> {
	const linked = await findLinkedUser(db, provider, identity.providerUserId);
	if (linked) return { ok: true, user: linked, outcome: "returning" };
	if (!identity.email) return { ok: false, reason: "no_email" };
	const email = normalizeEmail(identity.email);
	const existing = await findUserByEmail(db, email);

	if (!existing) {
		const now = new Date();
		const userId = newId();
		const signedUp = { type: "user.created", userId, actor: "self", data: { email, via: provider } } as const;
		const events = [
			...(await eventStatements(db, options.events, signedUp)),
			// Created confirmed: the provider verified the address.
			...(identity.emailVerified
				? await eventStatements(db, options.events, { type: "user.confirmed", userId, actor: "self" })
				: []),
		];
		const [created] = await db.batch([
			db
				.insert(users)
				.values({
					id: userId,
					email,
					name: identity.name?.trim().slice(0, 100) || null,
					locale: options.locale,
					passwordHash: null,
					emailConfirmedAt: identity.emailVerified ? now : null,
					updatedAt: now,
				})
				.returning(),
			db.insert(oauthAccounts).values(linkRow(userId, provider, identity)),
			...events,
		]);
		const user = created[0];
		if (!user) throw new Error("user insert returned no row");
		return { ok: true, user, outcome: "created" };
	}

	if (!identity.emailVerified) return { ok: false, reason: "email_in_use" };
	if (!existing.emailConfirmedAt) return claimUnconfirmedAccount(db, options.events, existing, provider, identity);
	const sameProvider = await db
		.select({ providerUserId: oauthAccounts.providerUserId })
		.from(oauthAccounts)
		.where(and(eq(oauthAccounts.userId, existing.id), eq(oauthAccounts.provider, provider)))
		.get();
	// The account already has another identity of this provider; one per provider and account.
	if (sameProvider) return { ok: false, reason: "email_in_use" };
	await db.insert(oauthAccounts).values(linkRow(existing.id, provider, identity));
	return { ok: true, user: existing, outcome: "linked" };
}

/**
 * Links a verified identity to an account whose email was never confirmed and strips everything
 * its registrant set up. Every statement is conditioned on the account still being unconfirmed,
 * so if the owner confirms by mail at the same moment, their password and sessions survive.
 */
async function claimUnconfirmedAccount(
	db: Database,
	events: EventRecorder,
	user: User,
	provider: ProviderId,
	identity: OAuthIdentity,
): Promise<OAuthLoginResult> {
	const stillUnconfirmed = sql`exists (select 1 from ${users} where ${users.id} = ${user.id} and ${users.emailConfirmedAt} is null)`;
	const now = new Date();
	const confirmed = await confirmedEvent(db, events, user.id);
	const results = await db.batch([
		db
			.update(sessions)
			.set({ revokedAt: now })
			.where(and(eq(sessions.userId, user.id), isNull(sessions.revokedAt), stillUnconfirmed)),
		db.delete(oauthAccounts).where(and(eq(oauthAccounts.userId, user.id), stillUnconfirmed)),
		db.delete(verificationTokens).where(and(eq(verificationTokens.userId, user.id), stillUnconfirmed)),
		db.insert(oauthAccounts).values(linkRow(user.id, provider, identity)),
		...confirmed,
		db
			.update(users)
			.set({ passwordHash: null, emailConfirmedAt: now, updatedAt: now })
			.where(and(eq(users.id, user.id), isNull(users.emailConfirmedAt)))
			.returning(),
	]);
	const updated = (results.at(-1) as User[])[0];
	if (updated) return { ok: true, user: updated, outcome: "claimed" };
	// The owner confirmed by mail meanwhile: the account is theirs either way, keep what they set.
	const current = await db.select().from(users).where(eq(users.id, user.id)).get();
	return { ok: true, user: current ?? user, outcome: "linked" };
}

export type LinkResult =
	| { ok: true; alreadyLinked: boolean }
	| { ok: false; reason: "identity_in_use" | "provider_in_use" };

/**
 * Links an identity to the signed-in user who started the flow. The email does not matter here:
 * the user proved both sides. An identity already linked elsewhere, or a second identity of the
 * same provider, is refused.
 */
export async function linkOAuthIdentity(
	db: Database,
	userId: string,
	provider: ProviderId,
	identity: OAuthIdentity,
): Promise<LinkResult> {
	const owner = await findLinkedUser(db, provider, identity.providerUserId);
	if (owner) return owner.id === userId ? { ok: true, alreadyLinked: true } : { ok: false, reason: "identity_in_use" };
	try {
		await db.insert(oauthAccounts).values(linkRow(userId, provider, identity));
	} catch (error) {
		if (!isUniqueViolation(error)) throw error;
		const winner = await findLinkedUser(db, provider, identity.providerUserId);
		if (winner?.id === userId) return { ok: true, alreadyLinked: true };
		return { ok: false, reason: winner ? "identity_in_use" : "provider_in_use" };
	}
	return { ok: true, alreadyLinked: false };
}

export type LinkedAccount = typeof oauthAccounts.$inferSelect;

/** The user's linked identities, oldest first. */
export async function listLinkedAccounts(db: Database, userId: string): Promise<LinkedAccount[]> {
	return db
		.select()
		.from(oauthAccounts)
		.where(eq(oauthAccounts.userId, userId))
		.orderBy(asc(oauthAccounts.linkedAt), asc(oauthAccounts.provider));
}

/** The provider ids linked to a user. */
export async function linkedProviders(db: Database, userId: string): Promise<string[]> {
	return (await listLinkedAccounts(db, userId)).map((account) => account.provider);
}

export type UnlinkResult = { ok: true } | { ok: false; reason: "not_linked" | "last_login_method" };

/**
 * Unlinks a provider unless that would leave the user no way to sign in (a password, a passkey, or
 * another linked provider that this deployment still offers: src/services/login-methods.ts). The
 * guard lives in the DELETE itself, so two concurrent unlinks of a user's last two providers cannot
 * both succeed.
 */
export async function unlinkOAuthIdentity(
	db: Database,
	userId: string,
	provider: string,
	enabledProviders: readonly string[],
): Promise<UnlinkResult> {
	const otherWays = otherLoginMethods(userId, { enabledProviders, exceptProvider: provider });
	const deleted = await db
		.delete(oauthAccounts)
		.where(and(eq(oauthAccounts.userId, userId), eq(oauthAccounts.provider, provider), otherWays))
		.returning({ provider: oauthAccounts.provider });
	if (deleted.length > 0) return { ok: true };
	const exists = await db
		.select({ provider: oauthAccounts.provider })
		.from(oauthAccounts)
		.where(and(eq(oauthAccounts.userId, userId), eq(oauthAccounts.provider, provider)))
		.get();
	return { ok: false, reason: exists ? "last_login_method" : "not_linked" };
}
