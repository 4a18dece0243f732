/** The few parts of `oidc-provider` (which ships no types) that the OAuth e2e test uses. */
declare module "oidc-provider" {
	import type { IncomingMessage, ServerResponse } from "node:http";

	export type Account = { accountId: string; claims(): Promise<Record<string, unknown>> };

	export type Configuration = Record<string, unknown> & {
		findAccount?: (ctx: unknown, sub: string) => Promise<Account>;
	};

	export default class Provider {
		constructor(issuer: string, configuration?: Configuration);
		callback(): (request: IncomingMessage, response: ServerResponse) => void;
	}
}
