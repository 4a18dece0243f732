-- Down migration for 0007_oauth_link_tickets.sql: returns the schema to the snapshot before it.
-- Derived from the drizzle-kit snapshots by scripts/db.mjs; review it like the up SQL.
-- `npm run db:rollback` runs it and deletes the d1_migrations row in one D1 batch.
DROP TABLE `oauth_link_tickets`;
