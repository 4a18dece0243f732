-- Down migration for 0008_magic_links_and_email_change.sql: returns the schema to the snapshot before it.
-- Derived from the drizzle-kit snapshots by scripts/db.mjs; review it like the up SQL.
-- `npm run db:rollback` runs it and deletes the d1_migrations row in one D1 batch.
ALTER TABLE `verification_tokens` DROP COLUMN `new_email`;
--> statement-breakpoint
DROP TABLE `magic_links`;
