ALTER TABLE `images` ADD `reserved_bytes` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `images` ADD `reserved_until` integer;--> statement-breakpoint
-- drizzle-kit drops ON DELETE from ADD COLUMN ... REFERENCES on SQLite; the schema (and snapshot) say cascade.
ALTER TABLE `outbox` ADD `user_id` text REFERENCES users(id) ON DELETE cascade;--> statement-breakpoint
ALTER TABLE `outbox` ADD `expires_at` integer;--> statement-breakpoint
CREATE INDEX `outbox_user_idx` ON `outbox` (`user_id`);