/** Where a transient infrastructure failure came from. */
export type InfrastructureSource = "d1" | "r2" | "network";

const MAX_CAUSE_DEPTH = 5;

/** The error and its `cause` chain, outermost first (bounded: causes can be cyclic). */
function chain(error: unknown): unknown[] {
	const errors: unknown[] = [];
	let current = error;
	while (current !== undefined && current !== null && errors.length < MAX_CAUSE_DEPTH) {
		if (errors.includes(current)) break;
		errors.push(current);
		current = current instanceof Error ? current.cause : undefined;
	}
	return errors;
}

function messageOf(error: unknown): string {
	return error instanceof Error ? error.message : typeof error === "string" ? error : "";
}

// D1 prefixes every error it throws with D1_ERROR / D1_EXEC_ERROR (D1_TYPE_ERROR and
// D1_COLUMN_NOTFOUND are mistakes in our own calls). Of those, SQLite's own verdicts on a statement
// are bugs, not outages: retrying them cannot help, so they stay 500.
const D1_FAILURE = /^D1_(?:EXEC_)?ERROR\b/;
const SQL_MISTAKE =
	/constraint failed|SQLITE_CONSTRAINT|syntax error|no such (?:table|column|function|index)|datatype mismatch|SQLITE_MISMATCH|too many SQL variables|SQLITE_TOOBIG|SQLITE_RANGE|has no column named|ambiguous column/i;

// R2 binding errors end with R2's numeric code: "put: We encountered an internal error. (10001)".
// Only the service-side ones are transient: internal error, service unavailable, too many requests.
const R2_FAILURE =
	/^(?:get|head|put|list|delete|createMultipartUpload|uploadPart|completeMultipartUpload|abortMultipartUpload): .*\((\d{5,6})\)$/s;
const R2_TRANSIENT_CODES = new Set(["10001", "10043", "10058"]);

// workerd's wording when a subrequest to a binding's backend drops mid-flight.
const CONNECTION_LOST = /^(?:D1_ERROR: )?Network connection lost\.?$/;

/**
 * Recognizes failures of the platform's storage (D1, R2) that are worth retrying: the request did
 * nothing wrong, so it gets 503 with Retry-After rather than 500. Looks through `cause` chains,
 * since Drizzle wraps D1's error in its own.
 */
export function infrastructureFailure(error: unknown): InfrastructureSource | null {
	for (const item of chain(error)) {
		const message = messageOf(item);
		if (CONNECTION_LOST.test(message)) return message.startsWith("D1_") ? "d1" : "network";
		if (D1_FAILURE.test(message)) return SQL_MISTAKE.test(message) ? null : "d1";
		const r2 = R2_FAILURE.exec(message);
		if (r2) return R2_TRANSIENT_CODES.has(r2[1] ?? "") ? "r2" : null;
	}
	return null;
}

/**
 * What a log line may say about an unexpected error: names, first message lines and stack frames.
 * Drizzle's message carries the statement's bound parameters on its second line (emails, hashes),
 * and a stack starts with the message, so both are cut.
 */
export function describeError(error: unknown): { name: string; message: string; causes: string[]; stack?: string } {
	const [outer, ...causes] = chain(error);
	const firstLine = (item: unknown) => messageOf(item).split("\n")[0]?.slice(0, 500) ?? "";
	const frames =
		outer instanceof Error && outer.stack
			? outer.stack
					.split("\n")
					.filter((line) => /^\s+at /.test(line))
					.join("\n")
			: undefined;
	return {
		name: outer instanceof Error ? outer.name : typeof outer,
		message: firstLine(outer),
		causes: causes.map(firstLine),
		stack: frames || undefined,
	};
}
