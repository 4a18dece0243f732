import type { ExportBody } from "../schemas";
import { asc, desc, eq } from "drizzle-orm";
import type { Database } from "../db/client";
import { type User, images, mfaTotp, sessions } from "../db/schema";
import { mfaStatus } from "./mfa";
import { listEvents, presentEvent } from "./audit";
import { type ContentLinks, presentImage } from "./image-links";
import { listLinkedAccounts } from "./oauth/accounts";
import { listPasskeys, presentPasskey } from "./passkeys";
import { coseAlgorithmRS256 } from "@oslojs/webauthn";
import { presentUser } from "./users";
import { variantUsage } from "./variants";

/** Version of the export's layout, so a reader can tell future changes apart. */
export const EXPORT_FORMAT = 1;

/**
 * Everything stored about a user, in the API's own shapes (GET /v1/me/export): profile, linked
 * accounts, image metadata (the bytes are at each `url`), sessions, passkeys and the audit trail. Secrets
 * are not data about the user and are left out: no password hash, no token or token hash.
 */
export async function exportUserData(
	db: Database,
	bucket: R2Bucket,
	user: User,
	links: ContentLinks,
): Promise<ExportBody> {
	const { appUrl } = links;
	const [accounts, imageRows, sessionRows, events, mfa, totp, keys, variants] = await Promise.all([
		listLinkedAccounts(db, user.id),
		db.select().from(images).where(eq(images.userId, user.id)).orderBy(asc(images.createdAt), asc(images.id)),
		db.select().from(sessions).where(eq(sessions.userId, user.id)).orderBy(desc(sessions.createdAt)),
		listEvents(db, user.id),
		mfaStatus(db, user.id),
		db.select({ enabledAt: mfaTotp.enabledAt }).from(mfaTotp).where(eq(mfaTotp.userId, user.id)).get(),
		listPasskeys(db, user.id),
		variantUsage(bucket, user.id),
	]);
	return {
		format: EXPORT_FORMAT,
		exported_at: new Date().toISOString(),
		profile: {
			...presentUser(
				user,
				accounts.map((account) => account.provider),
				appUrl,
			),
			updated_at: user.updatedAt.toISOString(),
			last_login_at: user.lastLoginAt?.toISOString() ?? null,
		},
		linked_accounts: accounts.map((account) => ({
			provider: account.provider,
			provider_user_id: account.providerUserId,
			email: account.email,
			linked_at: account.linkedAt.toISOString(),
		})),
		images: await Promise.all(imageRows.map((image) => presentImage(image, links))),
		image_variants: variants,
		sessions: sessionRows.map((session) => ({
			id: session.id,
			created_at: session.createdAt.toISOString(),
			expires_at: session.expiresAt.toISOString(),
			revoked_at: session.revokedAt?.toISOString() ?? null,
			last_used_at: session.lastUsedAt?.toISOString() ?? null,
			ip: session.ip,
			user_agent: session.userAgent,
		})),
		// The TOTP secret and the recovery codes are credentials, not data about the user: left out.
		mfa: {
			totp: mfa.totp,
			totp_enabled_at: totp?.enabledAt?.toISOString() ?? null,
			recovery_codes_left: mfa.recovery_codes_left,
		},
		// Public keys are not secret, but they are no use to the user either: only labels and dates.
		passkeys: keys.map((passkey) => ({
			...presentPasskey(passkey),
			algorithm: passkey.algorithm === coseAlgorithmRS256 ? ("RS256" as const) : ("ES256" as const),
		})),
		activity: events.map(presentEvent),
	};
}
