type Level = "debug" | "info" | "warn" | "error";

/** Masks an email for logs: `j***@example.com`. Logs never carry a full address. */
export function maskEmail(email: string): string {
	const at = email.lastIndexOf("@");
	if (at < 1) return "***";
	return `${email[0]}***${email.slice(at)}`;
}

/**
 * One JSON object per line, which Workers Logs indexes by field. Callers pass identifiers
 * (request id, user id, codes), never tokens, passwords or full emails.
 */
export function log(level: Level, event: string, fields: Record<string, unknown> = {}): void {
	const line = JSON.stringify({ level, event, time: new Date().toISOString(), ...fields });
	if (level === "error") console.error(line);
	else if (level === "warn") console.warn(line);
	else console.log(line);
}
