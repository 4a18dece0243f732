// Knobs (environment) and fixed values of `npm run bench`, for iterating; the published run uses
// the defaults:
//   BENCH_DURATION     seconds per endpoint (10), split over BENCH_ROUNDS alternating rounds (2)
//   BENCH_WARMUP       seconds of warm-up per endpoint (2)
//   BENCH_CONNECTIONS  concurrent connections (10)
//   BENCH_HEAVY_ROUNDS / BENCH_HEAVY_AMOUNT  rounds (3) and requests per round (the connection
//                      count) for the password-hashing endpoints
//   BENCH_MFA_AMOUNT   requests per round (30) of the MFA step, in BENCH_HEAVY_ROUNDS rounds
//   BENCH_ONLY         comma-separated endpoint ids (their baselines and peers come along)
//   BENCH_VARS         JSON of extra Atrium variables, e.g. '{"REQUEST_LOG":"off"}'
//   BENCH_LOG          wrangler log level ("warn")

export const DURATION = Number(process.env.BENCH_DURATION ?? 10);
/** DURATION is split over this many alternating rounds. */
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
export const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
/** Password-hashing endpoints (scrypt baseline, logins, sign-ups): alternating rounds of a fixed request count. */
export const HEAVY_ROUNDS = Number(process.env.BENCH_HEAVY_ROUNDS ?? 3);
export const HEAVY_AMOUNT = Number(process.env.BENCH_HEAVY_AMOUNT ?? CONNECTIONS);
/**
 * The MFA step (POST /v1/auth/mfa): every request spends an mfa_token, and each costs a password
 * login (one scrypt) made before the run, so it runs fixed-count rounds too, larger than the
 * hashing endpoints' (it is cheap), after a warm-up of one request per connection.
 */
export const MFA_AMOUNT = Number(process.env.BENCH_MFA_AMOUNT ?? 30);
export const MFA_REQUESTS = CONNECTIONS + HEAVY_ROUNDS * MFA_AMOUNT + 1;
/**
 * A TOTP code is accepted once per user and 30-second step (replay protection), so each user with
 * TOTP on signs in with two codes (this step's and the next), one request at a time; a few spare
 * users cover a run repeated after unexpected statuses.
 */
export const MFA_USES_PER_USER = 2;
export const MFA_USERS = Math.ceil(MFA_REQUESTS / MFA_USES_PER_USER) + Math.ceil(CONNECTIONS / 2);
export const mfaEmail = (i) => `bench-mfa-${i}@example.com`;
/**
 * Passkey sign-in (POST /v1/auth/passkey): every request spends a challenge (5 minutes) issued
 * right before the run, so it runs fixed-count rounds beside the password login, with a few spare
 * challenges for the probe and a run repeated after unexpected statuses.
 */
export const PASSKEY_AMOUNT = MFA_AMOUNT;
export const PASSKEY_REQUESTS = CONNECTIONS + HEAVY_ROUNDS * PASSKEY_AMOUNT + 1 + CONNECTIONS;
export const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(",")) : null;
export const EXTRA_VARS = JSON.parse(process.env.BENCH_VARS ?? "{}");
export const LOG_LEVEL = process.env.BENCH_LOG ?? "warn";

export const KIB = 1024;
export const MIB = 1024 * KIB;
export const EMAIL = "bench@example.com";
export const PASSWORD = "correct horse battery staple";
export const LIST_SIZE = 50;
/** Atrium's default scrypt parameters (src/lib/password.ts) and Better Auth 1.7.7's (@better-auth/utils/password). */
export const ATRIUM_SCRYPT = { logN: 14, r: 8, p: 5 };
export const BETTER_AUTH_SCRYPT = { logN: 14, r: 16, p: 1 };
/** PASSWORD_SCRYPT of the second Atrium, which hashes as Better Auth does. */
export const BETTER_AUTH_SCRYPT_VAR = "N=16384,r=16,p=1";
