-- Down migration for 0005_token_redirect_and_oauth_states.sql: returns the schema to the snapshot before it.
-- Derived from the drizzle-kit snapshots by scripts/db.mjs; review it like the up SQL.
-- `npm run db:rollback` runs it and deletes the d1_migrations row in one D1 batch.
ALTER TABLE `verification_tokens` DROP COLUMN `redirect_to`;
--> statement-breakpoint
DROP TABLE `oauth_states`;
