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
export const childEnv: Record<string, string | undefined>;
export function freePort(): Promise<number>;
export function runWrangler(args: string[], options?: { cwd?: string; inherit?: boolean }): string;
export function migrateLocal(
	persist: string | undefined,
	options?: { database?: string; config?: string; cwd?: string; inherit?: boolean },
): void;
export function startWranglerDev(
	vars?: Record<string, string>,
	options?: {
		beforeStart?: (state: string) => void;
		port?: number;
		state?: string;
		cwd?: string;
		script?: string;
		ready?: string;
	},
): Promise<DevServer>;
export function startWorkerInProcess(options: {
	config: string;
	vars?: Record<string, string | number>;
	secrets?: Record<string, string>;
	persist: string;
	quietDir: string;
	build?: { command?: string };
	logLevel?: string;
}): Promise<{ handle: { dispose(): Promise<void> }; url: URL }>;
export function waitForOutput(
	server: DevServer,
	pattern: RegExp,
	fromIndex?: number,
	timeoutMs?: number,
): Promise<RegExpExecArray>;
