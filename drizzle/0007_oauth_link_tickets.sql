CREATE TABLE `oauth_link_tickets` (
	`ticket_hash` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`session_id` text NOT NULL,
	`provider` text NOT NULL,
	`redirect_uri` text,
	`expires_at` integer NOT NULL,
	`spent_at` integer,
	`created_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `oauth_link_tickets_user_idx` ON `oauth_link_tickets` (`user_id`);--> statement-breakpoint
CREATE INDEX `oauth_link_tickets_expires_at_idx` ON `oauth_link_tickets` (`expires_at`);