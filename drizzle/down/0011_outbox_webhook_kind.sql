-- Down migration for 0011_outbox_webhook_kind.sql: returns the schema to the snapshot before it.
-- Derived from the drizzle-kit snapshots by scripts/db.mjs; review it like the up SQL.
-- `npm run db:rollback` runs it and deletes the d1_migrations row in one D1 batch.
ALTER TABLE `outbox` DROP COLUMN `kind`;
