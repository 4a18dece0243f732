/** A problem+json body as Atrium sends it (RFC 9457 plus a stable `code`). */
export type Problem = {
	type?: string;
	title: string;
	status: number;
	detail?: string;
	code: string;
	instance?: string;
	request_id?: string;
	errors?: { path: string; code: string; message: string }[];
	[key: string]: unknown;
};

/**
 * Every failed call surfaces as this one error type. `code` is the contract's stable machine code
 * (`invalid_credentials`, `token_expired`, ...); `title`/`detail` are already localized by the server.
 */
export class AtriumError<Code extends string = string> extends Error {
	readonly status: number;
	readonly code: Code;
	readonly problem: Problem;

	constructor(problem: Problem) {
		super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title);
		this.name = "AtriumError";
		this.status = problem.status;
		this.code = problem.code as Code;
		this.problem = problem;
	}
}

/** True when `error` is an AtriumError, optionally with one of `codes`. */
export function isAtriumError<Code extends string>(error: unknown, ...codes: Code[]): error is AtriumError<Code> {
	return error instanceof AtriumError && (codes.length === 0 || codes.includes(error.code as Code));
}

/** Reads a failed response as a Problem, whatever it carried (a proxy's HTML page included). */
export async function problemOf(response: Response): Promise<Problem> {
	const text = await response.text().catch(() => "");
	try {
		const body = JSON.parse(text) as Partial<Problem>;
		if (body && typeof body.code === "string") return { ...body, status: response.status } as Problem;
	} catch {
		// Not JSON: described below.
	}
	return {
		title: response.statusText || `HTTP ${response.status}`,
		status: response.status,
		code: response.status >= 500 ? "service_unavailable" : "unexpected_response",
		detail: text.slice(0, 200) || undefined,
	};
}
