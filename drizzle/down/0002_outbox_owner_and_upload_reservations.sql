-- Down migration for 0002_outbox_owner_and_upload_reservations.sql: returns the schema to the snapshot before it.
-- Derived from the drizzle-kit snapshots by scripts/db.mjs; review it like the up SQL.
-- `npm run db:rollback` runs it and deletes the d1_migrations row in one D1 batch.
PRAGMA defer_foreign_keys = on;
--> statement-breakpoint
CREATE TABLE `__new_outbox` (
	`id` text PRIMARY KEY NOT NULL,
	`to_address` text NOT NULL,
	`subject` text NOT NULL,
	`html` text NOT NULL,
	`text` text NOT NULL,
	`status` text DEFAULT 'pending' NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` integer NOT NULL,
	`last_error` text,
	`sent_at` integer,
	`created_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL
);
--> statement-breakpoint
INSERT INTO `__new_outbox`("id", "to_address", "subject", "html", "text", "status", "attempts", "next_attempt_at", "last_error", "sent_at", "created_at") SELECT "id", "to_address", "subject", "html", "text", "status", "attempts", "next_attempt_at", "last_error", "sent_at", "created_at" FROM `outbox`;
--> statement-breakpoint
DROP TABLE `outbox`;
--> statement-breakpoint
ALTER TABLE `__new_outbox` RENAME TO `outbox`;
--> statement-breakpoint
CREATE INDEX `outbox_due_idx` ON `outbox` (`status`,`next_attempt_at`);
--> statement-breakpoint
ALTER TABLE `images` DROP COLUMN `reserved_bytes`;
--> statement-breakpoint
ALTER TABLE `images` DROP COLUMN `reserved_until`;
--> statement-breakpoint
PRAGMA defer_foreign_keys = off;
