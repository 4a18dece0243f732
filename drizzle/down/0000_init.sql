-- Down migration for 0000_init.sql: returns the schema to the snapshot before it.
-- Derived from the drizzle-kit snapshots by scripts/db.mjs; review it like the up SQL.
-- `npm run db:rollback` runs it and deletes the d1_migrations row in one D1 batch.
DROP TABLE `verification_tokens`;
--> statement-breakpoint
DROP TABLE `refresh_tokens`;
--> statement-breakpoint
DROP TABLE `sessions`;
--> statement-breakpoint
DROP TABLE `rate_limits`;
--> statement-breakpoint
DROP TABLE `outbox`;
--> statement-breakpoint
DROP TABLE `oauth_accounts`;
--> statement-breakpoint
DROP TABLE `images`;
--> statement-breakpoint
DROP TABLE `audit_events`;
--> statement-breakpoint
DROP TABLE `users`;
