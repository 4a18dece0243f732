// What the measured requests need before they run: users, images, sessions, TOTP, passkeys, and
// the Better Auth peer's account and sessions.
import { randomBytes, randomUUID, scrypt } from "node:crypto";
import { promisify } from "node:util";
import { decodeBase32IgnorePadding } from "@oslojs/encoding";
import { generateHOTP } from "@oslojs/otp";
import { fillWithIdat, pngHead } from "../../scripts/lib/png.mjs";
import { runWrangler } from "../../scripts/lib/wrangler-dev.mjs";
import { BenchPasskey } from "../passkey.mjs";
import { call, inParallel } from "./http.mjs";
import {
	ATRIUM_SCRYPT,
	CONNECTIONS,
	EMAIL,
	KIB,
	LIST_SIZE,
	MFA_USERS,
	MFA_USES_PER_USER,
	MIB,
	PASSKEY_REQUESTS,
	PASSWORD,
	mfaEmail,
} from "./settings.mjs";

/** A PNG signature and IHDR for 64x64 pixels, then one IDAT chunk of random bytes up to `size`: the server reads headers only. */
export function png(size) {
	const bytes = new Uint8Array(randomBytes(Math.max(46, size)));
	bytes.set(pngHead(64, 64), 0);
	// One IDAT chunk over the random rest: uploads must hold image data (src/lib/image-structure.ts).
	return fillWithIdat(bytes);
}

/** The same self-describing format as src/lib/password.ts, so the seeded user logs in unchanged. */
async function hashPassword(password, { logN, r, p }) {
	const salt = randomBytes(16);
	const key = await promisify(scrypt)(password.normalize("NFKC"), salt, 32, { N: 2 ** logN, r, p, maxmem: 96 * MIB });
	return `$scrypt$ln=${logN},r=${r},p=${p}$${salt.toString("base64")}$${key.toString("base64")}`;
}

/**
 * Confirmed users inserted with `wrangler d1 execute`, as after register + confirm (the mail link
 * never has to be fished out), hashed with `params` (what the Worker hashes with, so no login
 * redoes the hash). With `mfaUsers`, also the users who turn TOTP on for the MFA step (same password).
 */
export async function seedAtriumUsers(persist, { params = ATRIUM_SCRYPT, mfaUsers = false } = {}) {
	const hash = await hashPassword(PASSWORD, params);
	const now = Date.now();
	const emails = [EMAIL, ...(mfaUsers ? Array.from({ length: MFA_USERS }, (_, i) => mfaEmail(i)) : [])];
	const rows = emails.map(
		(email) => `('${randomUUID().replaceAll("-", "")}', '${email}', 'Bench', 'en', '${hash}', ${now}, ${now}, ${now})`,
	);
	const insert = `INSERT INTO users (id, email, name, locale, password_hash, email_confirmed_at, created_at, updated_at) VALUES ${rows.join(", ")};`;
	runWrangler(["d1", "execute", "atrium", "--local", "--persist-to", persist, "--command", insert]);
}

const json = { "content-type": "application/json" };
/**
 * What a browser on the app sends with Better Auth's POSTs: it refuses them without an Origin
 * (MISSING_OR_NULL_ORIGIN), and the app's origin is its baseURL's (trusted by default).
 */
export const BETTER_AUTH_POST = { ...json, origin: "http://localhost:8787" };

export async function login(base, email = EMAIL) {
	const res = await call(base, "POST", "/v1/auth/login", {
		headers: json,
		body: JSON.stringify({ email, password: PASSWORD }),
		expect: 200,
	});
	return res.json();
}

/** One unique address per sign-up request: a run never registers the same one twice. */
export function signUpBodies(prefix, shape) {
	let n = 0;
	const run = randomBytes(4).toString("hex");
	return () => JSON.stringify(shape(`${prefix}-${run}-${n++}@example.com`));
}

// ---------------------------------------------------------------------------------------------
// Better Auth

/** The peer's account, signed up through its own endpoint (Better Auth hashes and stores it). */
export async function seedBetterAuth(base) {
	await call(base, "POST", "/bearer/api/auth/sign-up/email", {
		headers: BETTER_AUTH_POST,
		body: JSON.stringify({ email: EMAIL, password: PASSWORD, name: "Bench" }),
		expect: 200,
	});
}

/** Signs in on one variant; returns the bearer token (set-auth-token) and the Cookie header to send back. */
export async function betterAuthSession(base, variant) {
	const res = await call(base, "POST", `/${variant}/api/auth/sign-in/email`, {
		headers: BETTER_AUTH_POST,
		body: JSON.stringify({ email: EMAIL, password: PASSWORD }),
		expect: 200,
	});
	const cookie = res.headers
		.getSetCookie()
		.map((line) => line.split(";")[0])
		.join("; ");
	return { token: res.headers.get("set-auth-token"), cookie };
}

// ---------------------------------------------------------------------------------------------
// TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps; as src/lib/totp.ts)

const TOTP_PERIOD_MS = 30_000;
const totpStepNow = () => Math.floor(Date.now() / TOTP_PERIOD_MS);
const totpCode = (key, step) => generateHOTP(key, BigInt(step), 6);

/**
 * Turns TOTP on for the seeded MFA users (password login, POST /v1/me/mfa/totp, then
 * /v1/me/mfa/totp/verify with a code computed here), then logs each in MFA_USES_PER_USER times for
 * as many live mfa_tokens (they live 5 minutes, so this runs right before the MFA step's group).
 * Enrolment verifies with the previous step's code (the server accepts one step either side), so
 * this step's and the next step's codes are both still unused when the run starts.
 */
export async function mfaUsers(base) {
	const users = await inParallel(
		Array.from({ length: MFA_USERS }, (_, i) => mfaEmail(i)),
		CONNECTIONS,
		async (email) => {
			const { access_token } = await login(base, email);
			const auth = { ...json, authorization: `Bearer ${access_token}` };
			const started = await call(base, "POST", "/v1/me/mfa/totp", { headers: auth, expect: 200 });
			const key = decodeBase32IgnorePadding(started.json().secret);
			for (const offset of [-1, 0]) {
				const step = totpStepNow() + offset;
				const verified = await call(base, "POST", "/v1/me/mfa/totp/verify", {
					headers: auth,
					body: JSON.stringify({ code: totpCode(key, step) }),
				});
				if (verified.status === 200) return { email, key, lastStep: step, tokens: [] };
			}
			throw new Error(`POST /v1/me/mfa/totp/verify for ${email}: no code accepted`);
		},
	);
	const logins = users.flatMap((user) => Array.from({ length: MFA_USES_PER_USER }, () => user));
	await inParallel(logins, CONNECTIONS, async (user) => {
		const body = await login(base, user.email);
		if (!body.mfa_required) throw new Error(`POST /v1/auth/login for ${user.email}: no mfa_required`);
		user.tokens.push(body.mfa_token);
	});
	return users;
}

/**
 * The MFA step's requests: each takes an idle user with an mfa_token left and the code of the
 * first step after the one it last used (this step or the next; the server accepts one step
 * either side), so no code is replayed and no user has two requests in flight.
 */
export function mfaPool(users) {
	const idle = [...users];
	return {
		take() {
			const now = totpStepNow();
			const i = idle.findIndex((user) => user.tokens.length > 0 && Math.max(user.lastStep + 1, now) <= now + 1);
			if (i < 0) return null;
			const [user] = idle.splice(i, 1);
			user.lastStep = Math.max(user.lastStep + 1, now);
			const body = JSON.stringify({ mfa_token: user.tokens.shift(), code: totpCode(user.key, user.lastStep) });
			return { user, body };
		},
		/** Back to the end of the queue once answered (its token and step are spent either way). */
		give(user) {
			idle.push(user);
		},
	};
}

/**
 * Registers a software passkey (ES256, no counter) for the bench user, then asks for
 * PASSKEY_REQUESTS sign-in challenges and signs each in Node: every request of the run sends one
 * assertion (autocannon setupRequest), none twice, in any order.
 */
export async function passkeyPool(base) {
	const { access_token } = await login(base);
	const auth = { authorization: `Bearer ${access_token}`, ...json };
	// What a browser at APP_URL would report: origin http://localhost:8787, RP ID localhost.
	const passkey = new BenchPasskey("http://localhost:8787", "localhost");
	const started = await (await call(base, "POST", "/v1/me/passkeys/options", { headers: auth, expect: 200 })).json();
	const credential = await passkey.create(started.options);
	await call(base, "POST", "/v1/me/passkeys", {
		headers: auth,
		body: JSON.stringify({ challenge_id: started.challenge_id, credential }),
		expect: 201,
	});
	const bodies = await inParallel(Array.from({ length: PASSKEY_REQUESTS }), CONNECTIONS, async () => {
		const res = await call(base, "POST", "/v1/auth/passkey/options", { expect: 200 });
		const { challenge_id, options } = await res.json();
		return JSON.stringify({ challenge_id, credential: await passkey.get(options) });
	});
	return {
		take: () => (bodies.length > 0 ? { user: passkey, body: bodies.shift() } : null),
		give() {},
	};
}

/**
 * LIST_SIZE images through POST /v1/images (one of 100 KiB, one of 5 MiB), the same bytes put
 * straight into the baseline's R2, and what the downloads need: the ETag a browser revalidates
 * with and a signed URL (content_url, answered without a database read).
 */
export async function seedImages(atrium, baseline, token) {
	const auth = { authorization: `Bearer ${token}` };
	const upload = async (bytes, filename) => {
		const res = await call(atrium, "POST", `/v1/images?filename=${filename}`, {
			headers: { ...auth, "content-type": "image/png" },
			body: bytes,
			expect: 201,
		});
		return res.json();
	};
	const small = png(4 * KIB);
	for (let i = 0; i < LIST_SIZE - 2; i++) await upload(small, `small-${i}.png`);
	const bytes100k = png(100 * KIB);
	const bytes5m = png(5 * MIB);
	const image100k = await upload(bytes100k, "100k.png");
	const image5m = await upload(bytes5m, "5m.png");
	const full = await call(atrium, "GET", `/v1/images/${image100k.id}/content`, { headers: auth, expect: 200 });
	image100k.etagHeader = full.headers.get("etag");
	const signed = new URL(image100k.content_url);
	image100k.signedPath = `${signed.pathname}${signed.search}`;
	const put = await call(baseline, "PUT", "/r2/100k", {
		headers: { "content-type": "image/png" },
		body: bytes100k,
		expect: 201,
	});
	const r2Etag100k = put.json().etag;
	await call(baseline, "PUT", "/r2/5m", { headers: { "content-type": "image/png" }, body: bytes5m, expect: 201 });
	return { image100k, image5m, r2Etag100k };
}
