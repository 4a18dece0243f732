/**
 * The closed set of machine-readable error codes and their default HTTP status. A code is part of
 * the public contract: it never changes with the language, and its title/detail are localized
 * under `errors.<code>` in every catalog.
 */
export const ERROR_STATUS = {
	validation_failed: 400,
	payload_too_large: 413,
	unsupported_media_type: 415,
	not_found: 404,
	method_not_allowed: 405,
	unauthorized: 401,
	token_expired: 401,
	invalid_credentials: 401,
	email_not_confirmed: 403,
	invalid_refresh_token: 401,
	refresh_token_reused: 401,
	fresh_token_required: 401,
	forbidden: 403,
	rate_limited: 429,
	token_invalid: 400,
	already_confirmed: 409,
	image_not_found: 404,
	image_too_large: 413,
	unsupported_image_type: 415,
	image_dimensions_too_large: 422,
	quota_exceeded: 403,
	precondition_failed: 412,
	range_not_satisfiable: 416,
	avatar_not_found: 404,
	link_invalid: 403,
	link_expired: 410,
	redirect_uri_not_allowed: 400,
	oauth_state_mismatch: 400,
	oauth_denied: 400,
	oauth_failed: 400,
	provider_not_found: 404,
	email_in_use: 409,
	last_login_method: 409,
	mfa_already_enabled: 409,
	mfa_not_enabled: 409,
	mfa_code_invalid: 400,
	mfa_token_invalid: 401,
	session_not_found: 404,
	user_not_found: 404,
	account_disabled: 403,
	passkey_invalid: 400,
	passkey_not_found: 404,
	service_unavailable: 503,
	internal_error: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
export type ErrorStatus = (typeof ERROR_STATUS)[ErrorCode] | 410;

export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];

/** One entry of a validation problem's `errors` list; `message` is filled in when it is rendered. */
export type FieldIssue = {
	path: string;
	code: string;
	/** Catalog key for the message and its ICU parameters. */
	key: string;
	params?: Record<string, unknown>;
};

export type AppErrorOptions = {
	/** Overrides the code's default status where the contract asks (e.g. 410 for an expired link). */
	status?: ErrorStatus;
	/** ICU parameters for the localized detail sentence. */
	params?: Record<string, unknown>;
	issues?: FieldIssue[];
	headers?: Record<string, string>;
	cause?: unknown;
};

/** The only error type that crosses the HTTP boundary; `onError` renders it as problem+json. */
export class AppError extends Error {
	readonly code: ErrorCode;
	readonly status: ErrorStatus;
	readonly params: Record<string, unknown>;
	readonly issues: FieldIssue[] | undefined;
	readonly headers: Record<string, string>;

	constructor(code: ErrorCode, options: AppErrorOptions = {}) {
		super(code, { cause: options.cause });
		this.name = "AppError";
		this.code = code;
		this.status = options.status ?? ERROR_STATUS[code];
		this.params = options.params ?? {};
		this.issues = options.issues;
		this.headers = options.headers ?? {};
	}
}

/**
 * A 400 `validation_failed` about one field (`path`, "" for the whole body): its `code` is the
 * issue's machine code and `validation.<code>` its localized message.
 */
export function fieldError(path: string, code: string, params?: Record<string, unknown>): AppError {
	return new AppError("validation_failed", {
		params: { count: 1 },
		issues: [{ path, code, key: `validation.${code}`, ...(params ? { params } : {}) }],
	});
}
