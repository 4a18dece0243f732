import { scrypt, timingSafeEqual } from "node:crypto";
import { decodeBase64, encodeBase64 } from "@oslojs/encoding";
import { randomBytes } from "./crypto";
import { AppError } from "./errors";
import { Gate, GateFullError, type GateStats } from "./hash-gate";

export type ScryptParams = { logN: number; r: number; p: number };

/**
 * OWASP's scrypt equivalent N=2^14, r=8, p=5. Cloudflare caps scrypt at N*r*p <= 2^20 in
 * production (local workerd does not), and the isolate has 128 MB: this needs 128*N*r = 16 MiB.
 */
export const PASSWORD_PARAMS: ScryptParams = { logN: 14, r: 8, p: 5 };

/** The platform limit every parameter set we ever hash with must respect. */
export const SCRYPT_MAX_COST = 2 ** 20;
const KEY_LENGTH = 32;
const SALT_LENGTH = 16;

/** Bytes of memory scrypt needs for these parameters (the ROMix buffer dominates). */
export function scryptMemoryBytes(params: ScryptParams): number {
	return 128 * 2 ** params.logN * params.r + 128 * params.r * params.p;
}

/**
 * Memory one hash may take: 32 MiB for the ROMix buffer (N=2^14 with r=16, Better Auth's
 * parameters, needs exactly that) plus the small per-p blocks. Two hashes at once
 * (MAX_CONCURRENT_HASHES) then hold about half of the isolate's 128 MB.
 */
export const SCRYPT_MAX_MEMORY_BYTES = 32 * 1024 * 1024 + 64 * 1024;

/** True when the parameters fit Cloudflare's production cap and a fraction of the isolate's memory. */
export function withinPlatformCaps(params: ScryptParams): boolean {
	return (
		2 ** params.logN * params.r * params.p <= SCRYPT_MAX_COST && scryptMemoryBytes(params) <= SCRYPT_MAX_MEMORY_BYTES
	);
}

/**
 * Parses PASSWORD_SCRYPT (`N=16384,r=8,p=5`, the form of the stored hashes with N spelled out).
 * Returns null unless N is a power of two from 2^10 and r and p are positive integers within the
 * platform caps; stored hashes keep their own parameters, so changing it never locks anyone out.
 */
export function parseScryptParams(value: string): ScryptParams | null {
	const match = /^\s*N\s*=\s*(\d+)\s*,\s*r\s*=\s*(\d+)\s*,\s*p\s*=\s*(\d+)\s*$/.exec(value);
	if (!match) return null;
	const [n, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
	const logN = Math.log2(n);
	if (!Number.isInteger(logN) || logN < 10 || r < 1 || p < 1) return null;
	const params = { logN, r, p };
	return withinPlatformCaps(params) ? params : null;
}

/**
 * Hashes allowed to hold their memory at once in one isolate: 2 x 16 MiB of the 128 MB the isolate
 * shares with every request it serves. workerd runs scrypt on the isolate's own thread anyway, so
 * more would only add memory and make other requests wait longer, not add speed.
 */
export const MAX_CONCURRENT_HASHES = 2;
/**
 * Hashes allowed to wait (a login burst); past that a request is answered 429 at once instead of
 * queueing for seconds. At ~100-200 ms a hash, 32 waiting is a wait of a few seconds at most.
 */
export const MAX_QUEUED_HASHES = 32;
/** Retry-After (seconds) for a request refused because too many hashes are waiting. */
export const HASH_QUEUE_RETRY_SECONDS = 2;

const hashGate = new Gate(MAX_CONCURRENT_HASHES, MAX_QUEUED_HASHES);

/** The isolate's password-hash counters (in flight, waiting, peaks, refused), for local diagnostics. */
export function passwordHashStats(): GateStats {
	return hashGate.stats();
}

async function deriveKey(password: string, salt: Uint8Array, params: ScryptParams): Promise<Uint8Array> {
	if (!withinPlatformCaps(params)) throw new Error("scrypt parameters exceed the platform caps");
	try {
		return await hashGate.run(async () => {
			// workerd computes scrypt synchronously on the isolate's thread. Without one turn of the
			// event loop inside the slot, no two requests would ever be seen hashing at once: the gate
			// would never queue or refuse, and a burst would hash every request in turn while the
			// isolate's other requests (GET /health included) waited behind all of them.
			await new Promise((resolve) => setTimeout(resolve, 0));
			return scryptKey(password, salt, params);
		});
	} catch (error) {
		if (error instanceof GateFullError) {
			// Same answer for known and unknown accounts: both paths hash, so both can be turned away.
			throw new AppError("rate_limited", {
				params: { seconds: HASH_QUEUE_RETRY_SECONDS },
				headers: { "Retry-After": String(HASH_QUEUE_RETRY_SECONDS) },
			});
		}
		throw error;
	}
}

function scryptKey(password: string, salt: Uint8Array, params: ScryptParams): Promise<Uint8Array> {
	return new Promise((resolve, reject) => {
		scrypt(
			password.normalize("NFKC"),
			salt,
			KEY_LENGTH,
			{ N: 2 ** params.logN, r: params.r, p: params.p, maxmem: 2 * scryptMemoryBytes(params) },
			(error, key) => (error ? reject(error) : resolve(new Uint8Array(key))),
		);
	});
}

/** Hashes a password into a self-describing string: `$scrypt$ln=14,r=8,p=5$<salt>$<key>`. */
export async function hashPassword(password: string, params: ScryptParams = PASSWORD_PARAMS): Promise<string> {
	const salt = randomBytes(SALT_LENGTH);
	const key = await deriveKey(password, salt, params);
	return `$scrypt$ln=${params.logN},r=${params.r},p=${params.p}$${encodeBase64(salt)}$${encodeBase64(key)}`;
}

type ParsedHash = { params: ScryptParams; salt: Uint8Array; key: Uint8Array };

function parseHash(stored: string): ParsedHash | null {
	const match = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(stored);
	if (!match) return null;
	const [, logN, r, p, salt, key] = match;
	return {
		params: { logN: Number(logN), r: Number(r), p: Number(p) },
		salt: decodeBase64(salt ?? ""),
		key: decodeBase64(key ?? ""),
	};
}

/** Verifies a password against a stored hash; a malformed hash never verifies. */
export async function verifyPassword(stored: string, password: string): Promise<boolean> {
	const parsed = parseHash(stored);
	if (!parsed || !withinPlatformCaps(parsed.params)) return false;
	const key = await deriveKey(password, parsed.salt, parsed.params);
	return key.length === parsed.key.length && timingSafeEqual(key, parsed.key);
}

/** True when the stored hash was made with other parameters than today's and should be redone. */
export function needsRehash(stored: string, params: ScryptParams = PASSWORD_PARAMS): boolean {
	const parsed = parseHash(stored);
	return !parsed || parsed.params.logN !== params.logN || parsed.params.r !== params.r || parsed.params.p !== params.p;
}

/**
 * A hash of a random password with today's parameters. Verifying against it costs the same as a
 * real verification, so an unknown email takes as long as a wrong password.
 */
const dummyHashes = new Map<string, Promise<string>>();
export function getDummyHash(params: ScryptParams = PASSWORD_PARAMS): Promise<string> {
	const id = `${params.logN},${params.r},${params.p}`;
	let dummyHash = dummyHashes.get(id);
	if (!dummyHash) {
		const made = hashPassword(encodeBase64(randomBytes(18)), params);
		dummyHash = made;
		dummyHashes.set(id, made);
		// Refused during a burst: the next request makes it again instead of reusing the refusal.
		made.catch(() => {
			if (dummyHashes.get(id) === made) dummyHashes.delete(id);
		});
	}
	return dummyHash;
}
