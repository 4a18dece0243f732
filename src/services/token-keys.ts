import { type Config, ConfigError } from "../config";
import { type AccessTokenKeys, type PrivateJwk, type PublicJwk, importSigningKeys, publicJwks } from "../lib/jwt";

// Imported once per configuration and isolate: key import is WebCrypto work, not per-request work.
const cache = new WeakMap<Config, Promise<AccessTokenKeys>>();

/**
 * The keys that sign and verify access tokens for a configuration: HS256 with JWT_SECRET (then
 * JWT_SECRET_PREVIOUS), or the JWT_SIGNING_KEYS set. Key material WebCrypto refuses is a
 * configuration error, reported like any other (every request answers 500, the log names it).
 */
export function accessTokenKeys(config: Config): Promise<AccessTokenKeys> {
	let keys = cache.get(config);
	if (!keys) {
		keys = load(config);
		cache.set(config, keys);
	}
	return keys;
}

async function load(config: Config): Promise<AccessTokenKeys> {
	if (config.JWT_ALGORITHM === "HS256") {
		const previous = config.JWT_SECRET_PREVIOUS;
		return { alg: "HS256", secrets: previous ? [config.JWT_SECRET, previous] : [config.JWT_SECRET] };
	}
	const [first, ...rest] = config.jwtSigningKeys;
	if (!first) throw new ConfigError("Invalid configuration: JWT_SIGNING_KEYS: no key");
	try {
		return await importSigningKeys(config.JWT_ALGORITHM, [first, ...rest] as [PrivateJwk, ...PrivateJwk[]]);
	} catch {
		throw new ConfigError(
			`Invalid configuration: JWT_SIGNING_KEYS: a key is not a valid ${config.JWT_ALGORITHM} private key`,
		);
	}
}

/** The JWKS document's keys: the public halves of JWT_SIGNING_KEYS; none with HS256 (a shared secret). */
export function publishedKeys(config: Config): PublicJwk[] {
	return config.JWT_ALGORITHM === "HS256" ? [] : publicJwks(config.JWT_ALGORITHM, config.jwtSigningKeys);
}
