import type { UserBody } from "../schemas";
import { eq, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { oauthAccounts, type User, users } from "../db/schema";
import { newId } from "../lib/crypto";
import {
	getDummyHash,
	hashPassword,
	needsRehash,
	PASSWORD_PARAMS,
	type ScryptParams,
	verifyPassword,
} from "../lib/password";
import { type EventRecorder, eventStatements, userExists } from "./events";

/** The canonical form under which an email is stored and compared. */
export function normalizeEmail(email: string): string {
	return email.trim().toLowerCase();
}

/** Looks a user up by email (normalized). */
export async function findUserByEmail(db: Database, email: string): Promise<User | undefined> {
	return db
		.select()
		.from(users)
		.where(eq(users.email, normalizeEmail(email)))
		.get();
}

/**
 * A user and the providers linked to it in ONE statement (a sign-in's answer needs both), the
 * providers in the order `linkedProviders` gives them (linked first, then by name).
 */
export async function findUserWithProviders(
	db: Database,
	id: string,
): Promise<{ user: User; providers: string[] } | undefined> {
	const row = await db
		.select({
			user: users,
			providers: sql<string>`(select json_group_array(provider) from (select ${oauthAccounts.provider} as provider from ${oauthAccounts} where ${oauthAccounts.userId} = ${users.id} order by ${oauthAccounts.linkedAt}, ${oauthAccounts.provider}))`,
		})
		.from(users)
		.where(eq(users.id, id))
		.get();
	return row && { user: row.user, providers: JSON.parse(row.providers) as string[] };
}

/** Looks a user up by id. */
export async function findUserById(db: Database, id: string): Promise<User | undefined> {
	return db.select().from(users).where(eq(users.id, id)).get();
}

export type RegisterResult = { status: "created"; user: User } | { status: "exists"; user: User };

/**
 * Creates an unconfirmed account, and its user.created event in the same batch (recorded only if
 * the insert did not lose to a concurrent registration). When the email is taken nothing is
 * written, but the password is still hashed so both paths cost the same (the response must not
 * reveal which one ran).
 */
export async function registerUser(
	db: Database,
	events: EventRecorder,
	input: { email: string; password: string; name?: string | null; locale: string },
	passwordParams: ScryptParams = PASSWORD_PARAMS,
): Promise<RegisterResult> {
	const email = normalizeEmail(input.email);
	const [existing, passwordHash] = await Promise.all([
		findUserByEmail(db, email),
		hashPassword(input.password, passwordParams),
	]);
	if (existing) return { status: "exists", user: existing };
	const now = new Date();
	const id = newId();
	const insert = db
		.insert(users)
		.values({ id, email, name: input.name ?? null, locale: input.locale, passwordHash, updatedAt: now })
		.onConflictDoNothing()
		.returning();
	const created = { type: "user.created", userId: id, actor: "self", data: { email, via: "password" } } as const;
	const [inserted] = await db.batch([insert, ...(await eventStatements(db, events, created, userExists(id)))]);
	const user = inserted[0];
	if (user) return { status: "created", user };
	// Lost a race with a concurrent registration of the same address.
	const winner = await findUserByEmail(db, email);
	if (!winner) throw new Error("user vanished after a conflicting insert");
	return { status: "exists", user: winner };
}

export type PasswordCheck =
	| {
			ok: true /** Today's hash of the password, when the stored one has other parameters (to be written). */;
			rehashed?: string;
	  }
	| { ok: false };

/**
 * Checks a password against an account looked up by email (or none), with the same scrypt work
 * whether or not the account exists or has a password, so an unknown email takes as long as a
 * wrong password. A right password stored with older parameters comes back hashed anew.
 */
export async function checkPassword(
	user: User | undefined,
	password: string,
	passwordParams: ScryptParams = PASSWORD_PARAMS,
): Promise<PasswordCheck> {
	const stored = user?.passwordHash ?? (await getDummyHash(passwordParams));
	const valid = await verifyPassword(stored, password);
	if (!user?.passwordHash || !valid) return { ok: false };
	if (needsRehash(user.passwordHash, passwordParams)) {
		return { ok: true, rehashed: await hashPassword(password, passwordParams) };
	}
	return { ok: true };
}

/** Updates the editable profile fields. */
export async function updateProfile(
	db: Database,
	userId: string,
	changes: { name?: string | null; locale?: string },
): Promise<User> {
	const updated = await db
		.update(users)
		.set({ ...changes, updatedAt: new Date() })
		.where(eq(users.id, userId))
		.returning();
	const user = updated[0];
	if (!user) throw new Error("user not found while updating the profile");
	return user;
}

/** The public representation of a user (`GET /v1/me`). */
export function presentUser(user: User, providers: string[], appUrl: URL): UserBody {
	return {
		id: user.id,
		email: user.email,
		name: user.name,
		locale: user.locale,
		email_confirmed: user.emailConfirmedAt !== null,
		has_password: user.passwordHash !== null,
		avatar_url: user.avatarEtag
			? new URL(`/v1/users/${user.id}/avatar?v=${encodeURIComponent(user.avatarEtag)}`, appUrl).toString()
			: null,
		created_at: user.createdAt.toISOString(),
		accounts: providers.map((provider) => ({ provider })),
	};
}
