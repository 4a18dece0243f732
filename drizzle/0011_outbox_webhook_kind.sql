DROP INDEX `outbox_due_idx`;--> statement-breakpoint
ALTER TABLE `outbox` ADD `kind` text DEFAULT 'mail' NOT NULL;--> statement-breakpoint
CREATE INDEX `outbox_due_idx` ON `outbox` (`status`,`kind`,`next_attempt_at`);