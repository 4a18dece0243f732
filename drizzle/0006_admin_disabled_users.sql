ALTER TABLE `users` ADD `disabled_at` integer;--> statement-breakpoint
CREATE INDEX `users_created_idx` ON `users` (`created_at`,`id`);