import type { UserBody } from "../schemas";
import { eq } from "drizzle-orm";
import type { Database } from "../db/client";
import { type User, users } from "../db/schema";
import { newId } from "../lib/crypto";
import {
	getDummyHash,
	hashPassword,
	needsRehash,
	PASSWORD_PARAMS,
	type ScryptParams,
	verifyPassword,
} from "../lib/password";

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

/** Looks a user up by id. */
export async function findUserById(db: Database, id: string): Promise<User | undefined> {
	return db.select().from(users).where(eq(users.id, id)).get();
}

export type RegisterResult = { status: "created"; user: User } | { status: "exists"; user: User };

/**
 * Creates an unconfirmed account. When the email is taken nothing is written, but the password is
 * still hashed so both paths cost the same (the response must not reveal which one ran).
 */
export async function registerUser(
	db: Database,
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
	const inserted = await db
		.insert(users)
		.values({
			id: newId(),
			email,
			name: input.name ?? null,
			locale: input.locale,
			passwordHash,
			updatedAt: now,
		})
		.onConflictDoNothing()
		.returning();
	const user = inserted[0];
	if (user) return { status: "created", user };
	// Lost a race with a concurrent registration of the same address.
	const winner = await findUserByEmail(db, email);
	if (!winner) throw new Error("user vanished after a conflicting insert");
	return { status: "exists", user: winner };
}

export type AuthenticateResult =
	| { ok: true; user: User }
	/** `userId` names the account when there is one (for its audit trail; never shown to the caller). */
	| { ok: false; reason: "invalid_credentials"; userId?: string };

/**
 * Checks an email and password with the same scrypt work whether or not the account exists or
 * has a password, and upgrades the stored hash when today's parameters differ.
 */
export async function authenticate(
	db: Database,
	email: string,
	password: string,
	passwordParams: ScryptParams = PASSWORD_PARAMS,
): Promise<AuthenticateResult> {
	const user = await findUserByEmail(db, email);
	const stored = user?.passwordHash ?? (await getDummyHash(passwordParams));
	const valid = await verifyPassword(stored, password);
	if (!user?.passwordHash || !valid) return { ok: false, reason: "invalid_credentials", userId: user?.id };
	if (needsRehash(user.passwordHash, passwordParams)) {
		const passwordHash = await hashPassword(password, passwordParams);
		await db.update(users).set({ passwordHash, updatedAt: new Date() }).where(eq(users.id, user.id));
		return { ok: true, user: { ...user, passwordHash } };
	}
	return { ok: true, user };
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
