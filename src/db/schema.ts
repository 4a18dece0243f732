import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/** Milliseconds since the epoch, filled by SQLite so every writer agrees on the clock. */
const createdAt = () =>
	integer("created_at", { mode: "timestamp_ms" })
		.notNull()
		.default(sql`(cast(unixepoch('subsecond') * 1000 as integer))`);

export const users = sqliteTable(
	"users",
	{
		id: text("id").primaryKey(),
		/** Stored lower-cased and trimmed; uniqueness is on this normalized form. */
		email: text("email").notNull(),
		name: text("name"),
		locale: text("locale").notNull(),
		/** Self-describing scrypt string; null for accounts that only sign in through OAuth. */
		passwordHash: text("password_hash"),
		emailConfirmedAt: integer("email_confirmed_at", { mode: "timestamp_ms" }),
		avatarEtag: text("avatar_etag"),
		avatarContentType: text("avatar_content_type"),
		avatarUpdatedAt: integer("avatar_updated_at", { mode: "timestamp_ms" }),
		/** Last successful sign-in (password or OAuth); null until the first one after migration 0001. */
		lastLoginAt: integer("last_login_at", { mode: "timestamp_ms" }),
		/** Set by the admin API: no sign-in path starts a session while it is set. */
		disabledAt: integer("disabled_at", { mode: "timestamp_ms" }),
		createdAt: createdAt(),
		updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
	},
	(t) => [
		uniqueIndex("users_email_unique").on(t.email),
		// The admin list pages newest first by (created_at, id) without sorting the table.
		index("users_created_idx").on(t.createdAt, t.id),
	],
);

export const sessions = sqliteTable(
	"sessions",
	{
		id: text("id").primaryKey(),
		userId: text("user_id")
			.notNull()
			.references(() => users.id, { onDelete: "cascade" }),
		/** Absolute end of the session: refresh cannot extend it. */
		expiresAt: integer("expires_at", { mode: "timestamp_ms" }).notNull(),
		revokedAt: integer("revoked_at", { mode: "timestamp_ms" }),
		userAgent: text("user_agent"),
		ip: text("ip"),
		createdAt: createdAt(),
		/** Last refresh of the session (written by the rotation, never per request); null until the first. */
		lastUsedAt: integer("last_used_at", { mode: "timestamp_ms" }),
	},
	(t) => [index("sessions_user_idx").on(t.userId)],
);

export const refreshTokens = sqliteTable(
	"refresh_tokens",
	{
		/** SHA-256 of the opaque token, hex. The token itself is never stored. */
		tokenHash: text("token_hash").primaryKey(),
		sessionId: text("session_id")
			.notNull()
			.references(() => sessions.id, { onDelete: "cascade" }),
		spentAt: integer("spent_at", { mode: "timestamp_ms" }),
		createdAt: createdAt(),
	},
	(t) => [index("refresh_tokens_session_idx").on(t.sessionId)],
);

/**
 * Single-use, hashed tokens mailed or handed out: email confirmation, password reset, OAuth login
 * codes, and email change (which also holds the address it changes to).
 */
export const verificationTokens = sqliteTable(
	"verification_tokens",
	{
		tokenHash: text("token_hash").primaryKey(),
		userId: text("user_id")
			.notNull()
			.references(() => users.id, { onDelete: "cascade" }),
		purpose: text("purpose", { enum: ["confirm_email", "reset_password", "oauth_login", "change_email"] }).notNull(),
		expiresAt: integer("expires_at", { mode: "timestamp_ms" }).notNull(),
		spentAt: integer("spent_at", { mode: "timestamp_ms" }),
		/** The app page the mailed link's result page leads back to (an APP_REDIRECT_URLS match). */
		redirectTo: text("redirect_to"),
		/** change_email only: the normalized address the account moves to when the link is used. */
		newEmail: text("new_email"),
		createdAt: createdAt(),
	},
	(t) => [index("verification_tokens_user_purpose_idx").on(t.userId, t.purpose)],
);

/**
 * Passwordless sign-in: one mailed link and its 6-digit code, single-use together. Keyed by the
 * mailbox (`email`), not by an account: using it signs in to whichever account has that address
 * then, or creates one (a sign-up link). `user_id` is the account known at request time, so that
 * deleting it deletes its links.
 */
export const magicLinks = sqliteTable(
	"magic_links",
	{
		tokenHash: text("token_hash").primaryKey(),
		/** Normalized address the link and code were mailed to. */
		email: text("email").notNull(),
		userId: text("user_id").references(() => users.id, { onDelete: "cascade" }),
		/** SHA-256 of "<email>:<code>"; the code itself is never stored. */
		codeHash: text("code_hash").notNull(),
		/** Wrong codes typed so far; the fifth spends the row. */
		failures: integer("failures").notNull().default(0),
		/** The mail's language: a sign-up creates the account with it, the page opens in it. */
		locale: text("locale").notNull(),
		redirectTo: text("redirect_to"),
		expiresAt: integer("expires_at", { mode: "timestamp_ms" }).notNull(),
		spentAt: integer("spent_at", { mode: "timestamp_ms" }),
		createdAt: createdAt(),
	},
	(t) => [
		index("magic_links_email_idx").on(t.email),
		index("magic_links_user_idx").on(t.userId),
		// The cron deletes ended links by age.
		index("magic_links_expires_idx").on(t.expiresAt),
	],
);

/**
 * The `state` of every OAuth flow in progress, hashed: the callback spends it with one conditional
 * DELETE, so a state (and the callback URL carrying it) works once, for login flows too.
 */
export const oauthStates = sqliteTable(
	"oauth_states",
	{
		stateHash: text("state_hash").primaryKey(),
		expiresAt: integer("expires_at", { mode: "timestamp_ms" }).notNull(),
	},
	(t) => [index("oauth_states_expires_at_idx").on(t.expiresAt)],
);

/**
 * Tickets of `POST /v1/me/accounts/:provider`: the linking URL a client opens in any browser,
 * hashed, single-use (`spent_at`) and short-lived. The session that asked is kept so a link
 * completes only while that session is live; both go with their user.
 */
export const oauthLinkTickets = sqliteTable(
	"oauth_link_tickets",
	{
		ticketHash: text("ticket_hash").primaryKey(),
		userId: text("user_id")
			.notNull()
			.references(() => users.id, { onDelete: "cascade" }),
		/** No foreign key: the callback looks the session up anyway and links only while it is live. */
		sessionId: text("session_id").notNull(),
		provider: text("provider").notNull(),
		/** Where the callback sends the browser afterwards (an OAUTH_REDIRECT_URIS match), or null for a page. */
		redirectUri: text("redirect_uri"),
		expiresAt: integer("expires_at", { mode: "timestamp_ms" }).notNull(),
		spentAt: integer("spent_at", { mode: "timestamp_ms" }),
		createdAt: createdAt(),
	},
	(t) => [
		index("oauth_link_tickets_user_idx").on(t.userId),
		index("oauth_link_tickets_expires_at_idx").on(t.expiresAt),
	],
);

/**
 * Durable outbox of mail and webhook events: a request records the message, delivery happens after the response. The
 * bodies hold live links, so they are stored encrypted (src/lib/encryption.ts) and emptied once
 * delivered, failed for good or past `expires_at`; the rows go with their user.
 */
export const outbox = sqliteTable(
	"outbox",
	{
		id: text("id").primaryKey(),
		/**
		 * "mail", or "webhook": a signed event for the app's backend (src/services/events.ts). A webhook
		 * row's `html` holds the encrypted event JSON, `subject` its type; it has no user_id, so an
		 * account's deletion does not take its pending events (user.deleted above all) with it.
		 */
		kind: text("kind", { enum: ["mail", "webhook"] })
			.notNull()
			.default("mail"),
		/** The account the mail is about; null for mail about no account (and for every webhook row). */
		userId: text("user_id").references(() => users.id, { onDelete: "cascade" }),
		toAddress: text("to_address").notNull(),
		subject: text("subject").notNull(),
		html: text("html").notNull(),
		text: text("text").notNull(),
		/** When the mailed link stops working: past it the message is pointless and its body is dropped. */
		expiresAt: integer("expires_at", { mode: "timestamp_ms" }),
		status: text("status", { enum: ["pending", "sent", "failed"] })
			.notNull()
			.default("pending"),
		attempts: integer("attempts").notNull().default(0),
		nextAttemptAt: integer("next_attempt_at", { mode: "timestamp_ms" }).notNull(),
		lastError: text("last_error"),
		sentAt: integer("sent_at", { mode: "timestamp_ms" }),
		createdAt: createdAt(),
	},
	(t) => [
		// Also serves the per-kind retry queries: due rows of the other kind are few, and read past.
		index("outbox_due_idx").on(t.status, t.nextAttemptAt),
		index("outbox_user_idx").on(t.userId),
		// The cron empties bodies past their link's expiry; without it that update reads every row.
		index("outbox_expires_idx").on(t.expiresAt),
	],
);

export const images = sqliteTable(
	"images",
	{
		id: text("id").primaryKey(),
		userId: text("user_id")
			.notNull()
			.references(() => users.id, { onDelete: "cascade" }),
		filename: text("filename").notNull(),
		contentType: text("content_type").notNull(),
		size: integer("size").notNull(),
		width: integer("width").notNull(),
		height: integer("height").notNull(),
		etag: text("etag").notNull(),
		sha256: text("sha256").notNull(),
		/** The stored bytes went through metadata stripping (false for rows from before it, or STRIP_METADATA=off). */
		metadataStripped: integer("metadata_stripped", { mode: "boolean" }).notNull().default(false),
		/**
		 * Quota held by a replacement in flight (its new bytes' upper bound) until `reserved_until`:
		 * every quota check counts the larger of it and `size`, so parallel replacements cannot overshoot.
		 */
		reservedBytes: integer("reserved_bytes").notNull().default(0),
		reservedUntil: integer("reserved_until", { mode: "timestamp_ms" }),
		createdAt: createdAt(),
		updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
	},
	(t) => [index("images_user_created_idx").on(t.userId, t.createdAt, t.id)],
);

export const oauthAccounts = sqliteTable(
	"oauth_accounts",
	{
		provider: text("provider").notNull(),
		providerUserId: text("provider_user_id").notNull(),
		userId: text("user_id")
			.notNull()
			.references(() => users.id, { onDelete: "cascade" }),
		email: text("email"),
		linkedAt: createdAt(),
	},
	(t) => [
		primaryKey({ columns: [t.provider, t.providerUserId] }),
		uniqueIndex("oauth_accounts_user_provider_unique").on(t.userId, t.provider),
	],
);

/** Fixed-window counters shared by every isolate (an in-memory map would not be). */
export const rateLimits = sqliteTable(
	"rate_limits",
	{
		key: text("key").primaryKey(),
		count: integer("count").notNull(),
		resetAt: integer("reset_at", { mode: "timestamp_ms" }).notNull(),
	},
	// The hourly prune deletes ended windows by reset_at; without it that delete reads every window.
	(t) => [index("rate_limits_reset_idx").on(t.resetAt)],
);

export const auditEvents = sqliteTable(
	"audit_events",
	{
		id: text("id").primaryKey(),
		userId: text("user_id").references(() => users.id, { onDelete: "cascade" }),
		type: text("type").notNull(),
		ip: text("ip"),
		userAgent: text("user_agent"),
		/** JSON with non-secret context only (never tokens or passwords). */
		detail: text("detail"),
		createdAt: createdAt(),
	},
	(t) => [
		index("audit_events_user_created_idx").on(t.userId, t.createdAt),
		// Retention deletes by age across all users, which the per-user index cannot serve.
		index("audit_events_created_idx").on(t.createdAt),
	],
);

/**
 * A user's TOTP factor: pending until a code verifies (`enabled_at` null). The secret is
 * AES-GCM encrypted under the "totp-secret" key (src/lib/encryption.ts), bound to the user id.
 */
export const mfaTotp = sqliteTable("mfa_totp", {
	userId: text("user_id")
		.primaryKey()
		.references(() => users.id, { onDelete: "cascade" }),
	secret: text("secret").notNull(),
	enabledAt: integer("enabled_at", { mode: "timestamp_ms" }),
	/** The 30-second step of the last accepted code: a code of this step or earlier is a replay. */
	lastUsedStep: integer("last_used_step"),
	createdAt: createdAt(),
});

/** Single-use recovery codes, stored only as SHA-256 hashes. */
export const mfaRecoveryCodes = sqliteTable(
	"mfa_recovery_codes",
	{
		codeHash: text("code_hash").primaryKey(),
		userId: text("user_id")
			.notNull()
			.references(() => users.id, { onDelete: "cascade" }),
		usedAt: integer("used_at", { mode: "timestamp_ms" }),
		createdAt: createdAt(),
	},
	(t) => [index("mfa_recovery_codes_user_idx").on(t.userId)],
);

/** The pending second step of a sign-in: the hashed `mfa_token`, its lifetime and wrong tries. */
export const mfaChallenges = sqliteTable(
	"mfa_challenges",
	{
		tokenHash: text("token_hash").primaryKey(),
		userId: text("user_id")
			.notNull()
			.references(() => users.id, { onDelete: "cascade" }),
		/** The first factor that was passed (password, a provider id), for the audit trail. */
		method: text("method").notNull(),
		failures: integer("failures").notNull().default(0),
		expiresAt: integer("expires_at", { mode: "timestamp_ms" }).notNull(),
		spentAt: integer("spent_at", { mode: "timestamp_ms" }),
		createdAt: createdAt(),
	},
	(t) => [
		index("mfa_challenges_user_idx").on(t.userId),
		// The cron deletes spent or expired challenges; with both columns indexed SQLite answers the
		// `or` from the two indexes instead of reading every row.
		index("mfa_challenges_expires_idx").on(t.expiresAt),
		index("mfa_challenges_spent_idx").on(t.spentAt),
	],
);

/**
 * A user's passkeys (WebAuthn credentials). The public key is SubjectPublicKeyInfo DER (base64url);
 * `user_handle` is the opaque random id the authenticator keeps for the user (never the email),
 * the same on every passkey of one user.
 */
export const passkeys = sqliteTable(
	"passkeys",
	{
		id: text("id").primaryKey(),
		userId: text("user_id")
			.notNull()
			.references(() => users.id, { onDelete: "cascade" }),
		/** base64url, as the browser reports it: how a sign-in finds its passkey. */
		credentialId: text("credential_id").notNull(),
		userHandle: text("user_handle").notNull(),
		/** COSE algorithm: -7 (ES256) or -257 (RS256). */
		algorithm: integer("algorithm").notNull(),
		publicKey: text("public_key").notNull(),
		/** The authenticator's signature counter at the last accepted ceremony (0 for counterless ones). */
		signCount: integer("sign_count").notNull(),
		name: text("name").notNull(),
		createdAt: createdAt(),
		lastUsedAt: integer("last_used_at", { mode: "timestamp_ms" }),
	},
	(t) => [uniqueIndex("passkeys_credential_unique").on(t.credentialId), index("passkeys_user_idx").on(t.userId)],
);

/**
 * Outstanding WebAuthn challenges (5 minutes, single-use): looked up by a random id, holding only
 * the challenge's SHA-256, bound to a purpose and, for registration, to the user and handle.
 */
export const passkeyChallenges = sqliteTable(
	"passkey_challenges",
	{
		id: text("id").primaryKey(),
		challengeHash: text("challenge_hash").notNull(),
		purpose: text("purpose", { enum: ["register", "sign_in"] }).notNull(),
		userId: text("user_id").references(() => users.id, { onDelete: "cascade" }),
		userHandle: text("user_handle"),
		expiresAt: integer("expires_at", { mode: "timestamp_ms" }).notNull(),
		createdAt: createdAt(),
	},
	(t) => [index("passkey_challenges_user_idx").on(t.userId), index("passkey_challenges_expires_idx").on(t.expiresAt)],
);

export type User = typeof users.$inferSelect;
export type Session = typeof sessions.$inferSelect;
export type Image = typeof images.$inferSelect;
export type Passkey = typeof passkeys.$inferSelect;
