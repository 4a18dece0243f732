CREATE TABLE `magic_links` (
	`token_hash` text PRIMARY KEY NOT NULL,
	`email` text NOT NULL,
	`user_id` text,
	`code_hash` text NOT NULL,
	`failures` integer DEFAULT 0 NOT NULL,
	`locale` text NOT NULL,
	`redirect_to` text,
	`expires_at` integer NOT NULL,
	`spent_at` integer,
	`created_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `magic_links_email_idx` ON `magic_links` (`email`);--> statement-breakpoint
CREATE INDEX `magic_links_user_idx` ON `magic_links` (`user_id`);--> statement-breakpoint
CREATE INDEX `magic_links_expires_idx` ON `magic_links` (`expires_at`);--> statement-breakpoint
ALTER TABLE `verification_tokens` ADD `new_email` text;