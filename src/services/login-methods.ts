import { type SQL, sql } from "drizzle-orm";
import { oauthAccounts, passkeys, users } from "../db/schema";

/**
 * The `last_login_method` guard, as a condition for the DELETE that removes one way of signing in:
 * true while the user keeps another one: a password, a linked provider this deployment still
 * offers (other than `exceptProvider`), or a passkey (other than `exceptPasskeyId`). A magic link
 * is not a login method: it only proves the mailbox.
 */
export function otherLoginMethods(
	userId: string,
	options: { enabledProviders: readonly string[]; exceptProvider?: string; exceptPasskeyId?: string },
): SQL {
	const ways: SQL[] = [
		sql`exists (select 1 from ${users} where ${users.id} = ${userId} and ${users.passwordHash} is not null)`,
		options.exceptPasskeyId === undefined
			? sql`exists (select 1 from ${passkeys} as other_passkey where other_passkey.user_id = ${userId})`
			: sql`exists (select 1 from ${passkeys} as other_passkey where other_passkey.user_id = ${userId} and other_passkey.id <> ${options.exceptPasskeyId})`,
	];
	const providers = options.enabledProviders.filter((id) => id !== options.exceptProvider);
	if (providers.length > 0) {
		ways.push(
			sql`exists (select 1 from ${oauthAccounts} as other where other.user_id = ${userId} and other.provider in (${sql.join(
				providers.map((id) => sql`${id}`),
				sql`, `,
			)}))`,
		);
	}
	return sql`(${sql.join(ways, sql` or `)})`;
}
