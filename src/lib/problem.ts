import type { AppError } from "./errors";
import type { Translate } from "./i18n";

export type ProblemBody = {
	type: string;
	title: string;
	status: number;
	code: string;
	detail: string;
	errors?: { path: string; code: string; message: string }[];
};

/** Renders an AppError as RFC 9457 problem details in the caller's language. */
export function toProblem(error: AppError, t: Translate): ProblemBody {
	const body: ProblemBody = {
		type: `urn:atrium:problem:${error.code}`,
		title: t(`errors.${error.code}.title`, error.params),
		status: error.status,
		code: error.code,
		detail: t(`errors.${error.code}.detail`, error.params),
	};
	if (error.issues) {
		body.errors = error.issues.map((issue) => ({
			path: issue.path,
			code: issue.code,
			message: t(issue.key, issue.params),
		}));
	}
	return body;
}
