import { encodeBase64urlNoPadding, decodeBase64urlIgnorePadding } from "@oslojs/encoding";
import { and, asc, count, eq, gt, lt, or, sql } from "drizzle-orm";
import type { Config } from "../config";
import type { PasskeyBody } from "../schemas";
import type { Database } from "../db/client";
import { type Passkey, type User, passkeyChallenges, passkeys } from "../db/schema";
import { hashToken, newId, randomBytes } from "../lib/crypto";
import {
	type CeremonyFailure,
	PASSKEY_ALGORITHMS,
	counterAdvances,
	verifyAssertion,
	verifyRegistration,
} from "../lib/webauthn";
import type { BatchItem } from "drizzle-orm/batch";
import { type EventRecorder, eventStatements } from "./events";
import { otherLoginMethods } from "./login-methods";

/** A challenge lives 5 minutes (the contract's number, not a setting). */
export const PASSKEY_CHALLENGE_SECONDS = 300;
const CHALLENGE_BYTES = 32;

/** The base64url fields of a RegistrationResponseJSON that the ceremony reads. */
export type RegistrationCredential = {
	id: string;
	response: { clientDataJSON: string; attestationObject: string };
};

/** The base64url fields of an AuthenticationResponseJSON that the ceremony reads. */
export type AssertionCredential = {
	id: string;
	response: { clientDataJSON: string; authenticatorData: string; signature: string; userHandle?: string | null };
};

export type CreationOptions = {
	rp: { id: string; name: string };
	user: { id: string; name: string; displayName: string };
	challenge: string;
	pubKeyCredParams: { type: "public-key"; alg: number }[];
	timeout: number;
	excludeCredentials: { type: "public-key"; id: string }[];
	authenticatorSelection: { residentKey: "required"; requireResidentKey: true; userVerification: "required" };
	attestation: "none";
};

export type RequestOptions = {
	challenge: string;
	rpId: string;
	timeout: number;
	userVerification: "required";
	allowCredentials: never[];
};

/** Stores a new challenge and answers its id and the challenge itself (base64url). */
async function issueChallenge(
	db: Database,
	input: { purpose: "register" | "sign_in"; userId?: string; userHandle?: string },
): Promise<{ challengeId: string; challenge: string }> {
	const challenge = encodeBase64urlNoPadding(randomBytes(CHALLENGE_BYTES));
	const challengeId = newId();
	await db.insert(passkeyChallenges).values({
		id: challengeId,
		challengeHash: hashToken(challenge),
		purpose: input.purpose,
		userId: input.userId ?? null,
		userHandle: input.userHandle ?? null,
		expiresAt: new Date(Date.now() + PASSKEY_CHALLENGE_SECONDS * 1000),
	});
	return { challengeId, challenge };
}

/**
 * Spends a challenge with one conditional DELETE, so two requests racing with the same id cannot
 * both get it; a wrong purpose or user leaves it in place. Answers the challenge's hash and handle.
 */
async function spendChallenge(
	db: Database,
	input: { challengeId: string; purpose: "register" | "sign_in"; userId?: string },
) {
	const conditions = [
		eq(passkeyChallenges.id, input.challengeId),
		eq(passkeyChallenges.purpose, input.purpose),
		gt(passkeyChallenges.expiresAt, new Date()),
	];
	if (input.userId) conditions.push(eq(passkeyChallenges.userId, input.userId));
	const [row] = await db
		.delete(passkeyChallenges)
		.where(and(...conditions))
		.returning({ challengeHash: passkeyChallenges.challengeHash, userHandle: passkeyChallenges.userHandle });
	return row;
}

/** The challenge carried in a clientDataJSON, if it matches the spent challenge's hash. */
function challengeMatching(clientDataJSON: string, challengeHash: string): Uint8Array | null {
	try {
		const clientData = JSON.parse(new TextDecoder().decode(decodeBase64urlIgnorePadding(clientDataJSON))) as {
			challenge?: unknown;
		};
		if (typeof clientData.challenge !== "string") return null;
		if (hashToken(clientData.challenge) !== challengeHash) return null;
		return decodeBase64urlIgnorePadding(clientData.challenge);
	} catch {
		return null;
	}
}

/** The user's passkeys, oldest first. */
export async function listPasskeys(db: Database, userId: string): Promise<Passkey[]> {
	return db
		.select()
		.from(passkeys)
		.where(eq(passkeys.userId, userId))
		.orderBy(asc(passkeys.createdAt), asc(passkeys.id));
}

/** How many passkeys the user has (GET /v1/me `mfa.passkeys`). */
export async function countPasskeys(db: Database, userId: string): Promise<number> {
	const row = await db.select({ n: count() }).from(passkeys).where(eq(passkeys.userId, userId)).get();
	return row?.n ?? 0;
}

/**
 * Registration options for a signed-in user: a discoverable credential with user verification,
 * ES256 or RS256, no attestation; the user's existing passkeys are excluded. The user handle is
 * the one the user's passkeys already carry, or a new random one: never the email or the user id.
 */
export async function startPasskeyRegistration(
	db: Database,
	config: Config,
	user: User,
): Promise<{ challengeId: string; options: CreationOptions }> {
	const existing = await listPasskeys(db, user.id);
	const userHandle = existing[0]?.userHandle ?? encodeBase64urlNoPadding(randomBytes(32));
	const { challengeId, challenge } = await issueChallenge(db, { purpose: "register", userId: user.id, userHandle });
	return {
		challengeId,
		options: {
			rp: { id: config.webauthn.rpId, name: config.APP_NAME },
			user: { id: userHandle, name: user.email, displayName: user.name ?? user.email },
			challenge,
			pubKeyCredParams: PASSKEY_ALGORITHMS.map((alg) => ({ type: "public-key" as const, alg })),
			timeout: PASSKEY_CHALLENGE_SECONDS * 1000,
			excludeCredentials: existing.map((passkey) => ({ type: "public-key" as const, id: passkey.credentialId })),
			authenticatorSelection: { residentKey: "required", requireResidentKey: true, userVerification: "required" },
			attestation: "none",
		},
	};
}

export type RegisterResult =
	| { ok: true; passkey: Passkey }
	| { ok: false; reason: CeremonyFailure | "challenge" | "duplicate" };

/**
 * Finishes a registration: spends the challenge, verifies the credential, stores the passkey with
 * its user.mfa_changed event (passkeys count among the account's second factors, as in /v1/me).
 */
export async function finishPasskeyRegistration(
	db: Database,
	config: Config,
	events: EventRecorder,
	input: { userId: string; challengeId: string; credential: RegistrationCredential; name: string },
): Promise<RegisterResult> {
	const spent = await spendChallenge(db, { challengeId: input.challengeId, purpose: "register", userId: input.userId });
	if (!spent?.userHandle) return { ok: false, reason: "challenge" };
	const expectedChallenge = challengeMatching(input.credential.response.clientDataJSON, spent.challengeHash);
	if (!expectedChallenge) return { ok: false, reason: "wrong_challenge" };
	const verified = verifyRegistration({
		...config.webauthn,
		credentialId: input.credential.id,
		clientDataJSON: input.credential.response.clientDataJSON,
		attestationObject: input.credential.response.attestationObject,
		expectedChallenge,
	});
	if (!verified.ok) return verified;
	const { credential } = verified;
	const id = newId();
	const insert = db
		.insert(passkeys)
		.values({
			id,
			userId: input.userId,
			credentialId: credential.credentialId,
			userHandle: spent.userHandle,
			algorithm: credential.algorithm,
			publicKey: encodeBase64urlNoPadding(credential.publicKey),
			signCount: credential.signCount,
			name: input.name,
		})
		.onConflictDoNothing({ target: passkeys.credentialId })
		.returning();
	const added = {
		type: "user.mfa_changed",
		userId: input.userId,
		actor: "self",
		data: { change: "passkey_added" },
	} as const;
	const stored = sql`exists (select 1 from ${passkeys} where ${passkeys.id} = ${id})`;
	const [[passkey]] = await db.batch([insert, ...(await eventStatements(db, events, added, stored))]);
	// A credential id already registered (to this user or another) is not registered twice.
	if (!passkey) return { ok: false, reason: "duplicate" };
	return { ok: true, passkey };
}

/** Options for a discoverable sign-in: no email and no credential list, the authenticator picks. */
export async function startPasskeySignIn(
	db: Database,
	config: Config,
): Promise<{ challengeId: string; options: RequestOptions }> {
	const { challengeId, challenge } = await issueChallenge(db, { purpose: "sign_in" });
	return {
		challengeId,
		options: {
			challenge,
			rpId: config.webauthn.rpId,
			timeout: PASSKEY_CHALLENGE_SECONDS * 1000,
			userVerification: "required",
			allowCredentials: [],
		},
	};
}

export type SignInResult =
	| { ok: true; userId: string; passkeyId: string }
	| { ok: false; reason: CeremonyFailure | "challenge" | "unknown_credential" | "counter"; userId?: string };

/**
 * Verifies a passkey sign-in: spends the challenge, finds the passkey by credential id, checks the
 * assertion and moves the signature counter forward in one conditional UPDATE (a counter that did
 * not advance, or a concurrent use of the same assertion, updates nothing and is refused).
 */
export async function finishPasskeySignIn(
	db: Database,
	config: Config,
	input: { challengeId: string; credential: AssertionCredential },
): Promise<SignInResult> {
	const spent = await spendChallenge(db, { challengeId: input.challengeId, purpose: "sign_in" });
	if (!spent) return { ok: false, reason: "challenge" };
	const expectedChallenge = challengeMatching(input.credential.response.clientDataJSON, spent.challengeHash);
	if (!expectedChallenge) return { ok: false, reason: "wrong_challenge" };
	const passkey = await db.select().from(passkeys).where(eq(passkeys.credentialId, input.credential.id)).get();
	if (!passkey) return { ok: false, reason: "unknown_credential" };
	const fail = (reason: CeremonyFailure | "counter") => ({ ok: false as const, reason, userId: passkey.userId });
	// A userHandle, when the authenticator sends one, must be the one this passkey was made for.
	const handle = input.credential.response.userHandle;
	if (handle && handle !== passkey.userHandle) return fail("credential_mismatch");
	const verified = await verifyAssertion({
		...config.webauthn,
		clientDataJSON: input.credential.response.clientDataJSON,
		authenticatorData: input.credential.response.authenticatorData,
		signature: input.credential.response.signature,
		expectedChallenge,
		algorithm: passkey.algorithm,
		publicKey: decodeBase64urlIgnorePadding(passkey.publicKey),
	});
	if (!verified.ok) return fail(verified.reason);
	if (!counterAdvances(passkey.signCount, verified.signCount)) return fail("counter");
	const received = verified.signCount;
	const updated = await db
		.update(passkeys)
		.set({ signCount: received, lastUsedAt: new Date() })
		.where(
			and(
				eq(passkeys.id, passkey.id),
				or(lt(passkeys.signCount, received), and(eq(passkeys.signCount, 0), sql`${received} = 0`)),
			),
		)
		.returning({ id: passkeys.id });
	if (updated.length === 0) return fail("counter");
	return { ok: true, userId: passkey.userId, passkeyId: passkey.id };
}

export type DeletePasskeyResult =
	| { ok: true; passkey: Passkey }
	| { ok: false; reason: "not_found" | "last_login_method" };

/**
 * Deletes one of the user's passkeys unless it is their last way to sign in (see
 * src/services/login-methods.ts); the guard is part of the DELETE, so concurrent deletions of a
 * user's last two methods cannot both succeed.
 */
export async function deletePasskey(
	db: Database,
	events: EventRecorder,
	input: { userId: string; passkeyId: string; enabledProviders: readonly string[] },
): Promise<DeletePasskeyResult> {
	const deletable = and(
		eq(passkeys.id, input.passkeyId),
		eq(passkeys.userId, input.userId),
		otherLoginMethods(input.userId, { enabledProviders: input.enabledProviders, exceptPasskeyId: input.passkeyId }),
	);
	const removed = {
		type: "user.mfa_changed",
		userId: input.userId,
		actor: "self",
		data: { change: "passkey_removed" },
	} as const;
	// Read before the delete: the event is recorded only if the delete is going to match.
	const event = await eventStatements(db, events, removed, sql`exists (select 1 from ${passkeys} where ${deletable})`);
	const remove = db.delete(passkeys).where(deletable).returning();
	// db.batch wants a tuple with a first element; with webhooks off `event` is empty.
	const statements = [...event, remove] as unknown as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]];
	const results = await db.batch(statements);
	const [passkey] = results.at(-1) as Passkey[];
	if (passkey) return { ok: true, passkey };
	const exists = await db
		.select({ id: passkeys.id })
		.from(passkeys)
		.where(and(eq(passkeys.id, input.passkeyId), eq(passkeys.userId, input.userId)))
		.get();
	return { ok: false, reason: exists ? "last_login_method" : "not_found" };
}

/** Deletes challenges past their 5 minutes (the cron). */
export async function prunePasskeyChallenges(db: Database, now = Date.now()): Promise<number> {
	const result = await db.delete(passkeyChallenges).where(lt(passkeyChallenges.expiresAt, new Date(now)));
	return result.meta.changes;
}

/** A passkey as the API shows it: a label and dates, nothing of the key. */
export function presentPasskey(passkey: Passkey): PasskeyBody {
	return {
		id: passkey.id,
		name: passkey.name,
		created_at: passkey.createdAt.toISOString(),
		last_used_at: passkey.lastUsedAt?.toISOString() ?? null,
	};
}
