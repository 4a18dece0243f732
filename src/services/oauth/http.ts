import {
	ArcticFetchError,
	OAuth2RequestError,
	UnexpectedErrorResponseBodyError,
	UnexpectedResponseError,
} from "arctic";
import { z } from "zod";
import { isEmailVerified, type PublicJwk, verifyIdToken } from "../../lib/jwks";
import { OAuthProviderError } from "./types";

const USER_AGENT = "atrium";
const TIMEOUT_MS = 10_000;

/** GETs a provider's JSON endpoint and checks its shape; every failure becomes `OAuthProviderError`. */
export async function fetchProviderJson<Schema extends z.ZodType>(
	url: string,
	schema: Schema,
	accessToken?: string,
	accept = "application/json",
): Promise<z.infer<Schema>> {
	const headers = new Headers({ Accept: accept, "User-Agent": USER_AGENT });
	if (accessToken) headers.set("Authorization", `Bearer ${accessToken}`);
	let response: Response;
	try {
		response = await fetch(url, { headers, signal: AbortSignal.timeout(TIMEOUT_MS) });
	} catch (error) {
		throw new OAuthProviderError(`${new URL(url).host} unreachable`, { cause: error });
	}
	if (!response.ok) {
		await response.body?.cancel();
		throw new OAuthProviderError(`${new URL(url).host} answered ${response.status}`);
	}
	let body: unknown;
	try {
		body = await response.json();
	} catch (error) {
		throw new OAuthProviderError(`${new URL(url).host} sent invalid JSON`, { cause: error });
	}
	const parsed = schema.safeParse(body);
	if (!parsed.success) throw new OAuthProviderError(`${new URL(url).host} sent an unexpected document`);
	return parsed.data;
}

/** Runs an arctic call, turning its error classes into `OAuthProviderError` with a loggable reason. */
export async function arcticCall<T>(call: () => Promise<T>): Promise<T> {
	try {
		return await call();
	} catch (error) {
		if (error instanceof OAuth2RequestError)
			throw new OAuthProviderError(`token endpoint: ${error.code}`, { cause: error });
		if (error instanceof ArcticFetchError) throw new OAuthProviderError("token endpoint unreachable", { cause: error });
		if (error instanceof UnexpectedResponseError || error instanceof UnexpectedErrorResponseBodyError) {
			throw new OAuthProviderError(`token endpoint answered ${error.status}`, { cause: error });
		}
		if (error instanceof OAuthProviderError) throw error;
		throw new OAuthProviderError("token response unusable", { cause: error });
	}
}

type Cached<T> = { value: T; fetchedAt: number };

/** Per-isolate cache of discovery documents and key sets: they change rarely and cost a round trip. */
const documentCache = new Map<string, Cached<unknown>>();

/**
 * A cached JSON document, refetched after `ttlMs`. A failed fetch is not cached, so the next
 * request simply tries again.
 */
export async function cachedDocument<Schema extends z.ZodType>(
	url: string,
	schema: Schema,
	ttlMs: number,
	options: { forceRefresh?: boolean } = {},
): Promise<z.infer<Schema>> {
	const hit = documentCache.get(url);
	if (hit && !options.forceRefresh && Date.now() - hit.fetchedAt < ttlMs) return hit.value as z.infer<Schema>;
	const value = await fetchProviderJson(url, schema);
	documentCache.set(url, { value, fetchedAt: Date.now() });
	return value;
}

const JWKS_TTL_MS = 60 * 60 * 1000;

const jwkSchema = z.looseObject({
	kty: z.string(),
	kid: z.string().optional(),
	alg: z.string().optional(),
	use: z.string().optional(),
	crv: z.string().optional(),
	n: z.string().optional(),
	e: z.string().optional(),
	x: z.string().optional(),
	y: z.string().optional(),
}) satisfies z.ZodType<PublicJwk>;

const jwksSchema = z.object({ keys: z.array(jwkSchema) });

/**
 * Verifies an ID token against the keys at `jwksUri`. Issuers rotate keys, so an unknown `kid`
 * refetches the set once before the token is refused. The token comes from the issuer's own token
 * endpoint, not from the browser, so nobody can use made-up key ids to make us refetch at will.
 */
export async function verifyIdTokenWithJwks(
	idToken: string,
	jwksUri: string,
	expected: { issuers: readonly string[]; clientId: string; nonce: string },
) {
	const check = async (forceRefresh: boolean) => {
		const { keys } = await cachedDocument(jwksUri, jwksSchema, JWKS_TTL_MS, { forceRefresh });
		return verifyIdToken(idToken, keys, { ...expected, nowSeconds: Math.floor(Date.now() / 1000) });
	};
	let result = await check(false);
	if (!result.ok && result.reason === "unknown_key") {
		result = await check(true);
	}
	if (!result.ok) throw new OAuthProviderError(`id token rejected: ${result.reason}`);
	return {
		claims: result.claims,
		email: typeof result.claims.email === "string" ? result.claims.email : null,
		emailVerified: isEmailVerified(result.claims.email_verified),
		name: typeof result.claims.name === "string" ? result.claims.name : null,
	};
}
