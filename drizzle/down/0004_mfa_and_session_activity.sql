-- Down migration for 0004_mfa_and_session_activity.sql: returns the schema to the snapshot before it.
-- Derived from the drizzle-kit snapshots by scripts/db.mjs; review it like the up SQL.
-- `npm run db:rollback` runs it and deletes the d1_migrations row in one D1 batch.
ALTER TABLE `sessions` DROP COLUMN `last_used_at`;
--> statement-breakpoint
DROP TABLE `mfa_totp`;
--> statement-breakpoint
DROP TABLE `mfa_recovery_codes`;
--> statement-breakpoint
DROP TABLE `mfa_challenges`;
