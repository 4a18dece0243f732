/** Types for wrangler-dev.mjs, shared by the Node scripts and the browser end-to-end tests. */
export type DevServer = {
	url: string;
	state: string;
	/** Process id of the wrangler CLI; workerd runs as its descendant. */
	pid: number | undefined;
	/** Everything wrangler and the Worker printed so far (console mail lands here). */
	output: () => string;
	stop: (options?: { keepState?: boolean }) => Promise<void>;
};
export const root: string;
export const wrangler: string;
export function freePort(): Promise<number>;
export function runWrangler(args: string[]): string;
export function startWranglerDev(
	vars?: Record<string, string>,
	options?: { beforeStart?: (state: string) => void; port?: number },
): Promise<DevServer>;
export function waitForOutput(
	server: DevServer,
	pattern: RegExp,
	fromIndex?: number,
	timeoutMs?: number,
): Promise<RegExpExecArray>;
