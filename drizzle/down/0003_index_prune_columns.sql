-- Down migration for 0003_index_prune_columns.sql: returns the schema to the snapshot before it.
-- Derived from the drizzle-kit snapshots by scripts/db.mjs; review it like the up SQL.
-- `npm run db:rollback` runs it and deletes the d1_migrations row in one D1 batch.
DROP INDEX `audit_events_created_idx`;
--> statement-breakpoint
DROP INDEX `outbox_expires_idx`;
--> statement-breakpoint
DROP INDEX `rate_limits_reset_idx`;
