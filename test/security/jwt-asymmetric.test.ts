import { encodeBase64urlNoPadding } from "@oslojs/encoding";
import { env } from "cloudflare:workers";
import {
	type JWK,
	SignJWT,
	createLocalJWKSet,
	decodeProtectedHeader,
	exportJWK,
	generateKeyPair,
	jwtVerify,
} from "jose";
import { describe, expect, it, vi } from "vitest";
import { expectProblem, signedInUser } from "../helpers/api";
import { appWith } from "../helpers/worker";

/**
 * Asymmetric access tokens (ES256, EdDSA): signed with the first key of JWT_SIGNING_KEYS, verified
 * by anyone holding the published JWKS, and refused in every confused or unknown form.
 */

type Alg = "ES256" | "EdDSA";
const ISSUER = "atrium";
const AUDIENCE = "atrium-api";
const encoder = new TextEncoder();
const b64 = (value: unknown) => encodeBase64urlNoPadding(encoder.encode(JSON.stringify(value)));

/** A fresh private JWK with a kid, made here the way `npm run keys:generate` makes them. */
async function privateJwk(alg: Alg, kid = crypto.randomUUID()): Promise<JWK> {
	const { privateKey } = await generateKeyPair(alg, {
		extractable: true,
		crv: alg === "EdDSA" ? "Ed25519" : undefined,
	});
	return { ...(await exportJWK(privateKey)), kid };
}

function appFor(alg: Alg | "HS256", keys: JWK[] = [], extra: Record<string, string> = {}) {
	return appWith({
		JWT_ALGORITHM: alg,
		...(keys.length > 0 ? { JWT_SIGNING_KEYS: JSON.stringify({ keys }) } : {}),
		...extra,
	});
}

type App = ReturnType<typeof appFor>;

/** Signs a confirmed user in through `app` and returns the access token. */
async function tokenFrom(app: App): Promise<{ token: string; userId: string }> {
	const { email, password, userId } = await signedInUser();
	const res = await app.send("POST", "/v1/auth/login", { body: { email, password } });
	expect(res.status).toBe(200);
	const body = (await res.json()) as { access_token: string };
	return { token: body.access_token, userId };
}

async function jwksOf(app: App) {
	const res = await app.send("GET", "/.well-known/jwks.json");
	expect(res.status).toBe(200);
	expect(res.headers.get("Cache-Control")).toBe("public, max-age=300");
	return (await res.json()) as { keys: JWK[] };
}

const me = (app: App, token: string) => app.send("GET", "/v1/me", { token });

function claimsOf(token: string): Record<string, unknown> {
	const part = token.split(".")[1] ?? "";
	return JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/")));
}

describe.each<Alg>(["ES256", "EdDSA"])("%s access tokens", (alg) => {
	it("are signed with the first key, name it in kid, and verify with jose against the published JWKS", async () => {
		const [current, older] = [await privateJwk(alg, "current"), await privateJwk(alg, "older")];
		const app = appFor(alg, [current, older]);
		const { token, userId } = await tokenFrom(app);
		expect(decodeProtectedHeader(token)).toEqual({ alg, typ: "JWT", kid: "current" });
		expect((await me(app, token)).status).toBe(200);

		const jwks = await jwksOf(app);
		expect(jwks.keys.map((key) => key.kid)).toEqual(["current", "older"]);
		for (const key of jwks.keys) {
			expect(key).not.toHaveProperty("d");
			expect(key).toMatchObject({ alg, use: "sig", kty: current.kty, crv: current.crv });
		}
		// A backend outside Atrium: only the public document, no secret.
		const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), {
			issuer: ISSUER,
			audience: AUDIENCE,
			algorithms: [alg],
		});
		expect(protectedHeader.alg).toBe(alg);
		expect(payload.sub).toBe(userId);
	});

	it("rotation: prepending a key keeps old tokens valid until their key is removed from the set", async () => {
		const first = await privateJwk(alg, "k1");
		const { token: old } = await tokenFrom(appFor(alg, [first]));

		const second = await privateJwk(alg, "k2");
		const rotated = appFor(alg, [second, first]);
		expect((await me(rotated, old)).status).toBe(200);
		const { token: fresh } = await tokenFrom(rotated);
		expect(decodeProtectedHeader(fresh).kid).toBe("k2");

		const removed = appFor(alg, [second]);
		await expectProblem(await me(removed, old), 401, "unauthorized");
		expect((await me(removed, fresh)).status).toBe(200);
		expect((await jwksOf(removed)).keys.map((key) => key.kid)).toEqual(["k2"]);
	});
});

describe("forged asymmetric tokens are refused through the app", () => {
	it.each<[string, (ctx: { claims: Record<string, unknown>; key: JWK; valid: string }) => Promise<string>]>([
		[
			"HS256 signed with the published public key (alg confusion)",
			async ({ claims, key }) => {
				const { d: _d, ...publicKey } = key;
				const input = `${b64({ alg: "HS256", typ: "JWT", kid: key.kid })}.${b64(claims)}`;
				const hmac = await crypto.subtle.importKey(
					"raw",
					encoder.encode(JSON.stringify(publicKey)),
					{ name: "HMAC", hash: "SHA-256" },
					false,
					["sign"],
				);
				const mac = new Uint8Array(await crypto.subtle.sign("HMAC", hmac, encoder.encode(input)));
				return `${input}.${encodeBase64urlNoPadding(mac)}`;
			},
		],
		[
			"HS256 signed with the deployment's JWT_SECRET",
			async ({ claims }) => {
				const secret = encoder.encode(env.JWT_SECRET ?? "");
				return new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(secret);
			},
		],
		["alg none", async ({ claims, key }) => `${b64({ alg: "none", typ: "JWT", kid: key.kid })}.${b64(claims)}.`],
		[
			"alg none carrying the valid signature",
			async ({ claims, key, valid }) => `${b64({ alg: "none", kid: key.kid })}.${b64(claims)}.${valid.split(".")[2]}`,
		],
		[
			"unknown kid, signed with a key Atrium never had",
			async ({ claims }) => {
				const stranger = await generateKeyPair("ES256");
				return new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: "unknown" }).sign(stranger.privateKey);
			},
		],
		[
			"a configured kid, signed with a key Atrium never had",
			async ({ claims, key }) => {
				const stranger = await generateKeyPair("ES256");
				return new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: key.kid }).sign(stranger.privateKey);
			},
		],
		[
			"no kid, signed with the right key",
			async ({ claims, key }) =>
				new SignJWT(claims).setProtectedHeader({ alg: "ES256", typ: "JWT" }).sign(await importPrivate(key)),
		],
		[
			"embedded jwk header, signed with the right key",
			async ({ claims, key }) => {
				const { d: _d, ...publicKey } = key;
				return new SignJWT(claims)
					.setProtectedHeader({ alg: "ES256", kid: key.kid, jwk: publicKey })
					.sign(await importPrivate(key));
			},
		],
		[
			"audience as an array, signed with the right key",
			async ({ claims, key }) =>
				new SignJWT({ ...claims, aud: [AUDIENCE, "x"] })
					.setProtectedHeader({ alg: "ES256", kid: key.kid })
					.sign(await importPrivate(key)),
		],
		[
			"edited payload, original signature",
			async ({ claims, valid }) => {
				const [header, , signature] = valid.split(".");
				return `${header}.${b64({ ...claims, sub: crypto.randomUUID() })}.${signature}`;
			},
		],
	])("%s", async (_name, forge) => {
		const key = await privateJwk("ES256", "live");
		const app = appFor("ES256", [key]);
		const { token: valid } = await tokenFrom(app);
		// Control: the same claims re-signed here with the real key get in, so each forgery fails for its defect.
		const claims = claimsOf(valid);
		const resigned = await new SignJWT(claims)
			.setProtectedHeader({ alg: "ES256", typ: "JWT", kid: key.kid as string })
			.sign(await importPrivate(key));
		expect((await me(app, resigned)).status).toBe(200);

		const res = await me(app, await forge({ claims, key, valid }));
		await expectProblem(res, 401, "unauthorized");
		expect(res.headers.get("WWW-Authenticate")).toMatch(/^Bearer realm="atrium"/);
	});

	it("an ES256 token is refused by an EdDSA deployment and the other way round", async () => {
		const es = await privateJwk("ES256", "same");
		const ed = await privateJwk("EdDSA", "same");
		const { token: esToken } = await tokenFrom(appFor("ES256", [es]));
		const { token: edToken } = await tokenFrom(appFor("EdDSA", [ed]));
		await expectProblem(await me(appFor("EdDSA", [ed]), esToken), 401, "unauthorized");
		await expectProblem(await me(appFor("ES256", [es]), edToken), 401, "unauthorized");
	});

	it("an expired ES256 token answers token_expired", async () => {
		const key = await privateJwk("ES256", "live");
		const app = appFor("ES256", [key]);
		const claims = claimsOf((await tokenFrom(app)).token);
		const now = Math.floor(Date.now() / 1000);
		const expired = await new SignJWT({ ...claims, iat: now - 2000, exp: now - 1 })
			.setProtectedHeader({ alg: "ES256", kid: "live" })
			.sign(await importPrivate(key));
		await expectProblem(await me(app, expired), 401, "token_expired");
	});
});

async function importPrivate(jwk: JWK): Promise<CryptoKey> {
	const { importJWK } = await import("jose");
	return (await importJWK(jwk, "ES256")) as CryptoKey;
}

describe("HS256", () => {
	it("publishes an empty JWK set with the same cache header", async () => {
		expect(await jwksOf(appFor("HS256"))).toEqual({ keys: [] });
	});

	it("JWT_SECRET_PREVIOUS keeps tokens of the previous secret valid during a rotation, and only then", async () => {
		const oldSecret = "the-old-secret-that-is-at-least-32-bytes!!";
		const newSecret = "the-new-secret-that-is-at-least-32-bytes!!";
		const { token: old } = await tokenFrom(appFor("HS256", [], { JWT_SECRET: oldSecret }));
		const rotating = appFor("HS256", [], { JWT_SECRET: newSecret, JWT_SECRET_PREVIOUS: oldSecret });
		expect((await me(rotating, old)).status).toBe(200);
		const { token: fresh } = await tokenFrom(rotating);
		expect((await me(appFor("HS256", [], { JWT_SECRET: newSecret }), fresh)).status).toBe(200);
		await expectProblem(await me(appFor("HS256", [], { JWT_SECRET: newSecret }), old), 401, "unauthorized");
	});
});

describe("configuration", () => {
	async function configProblem(vars: Record<string, string | undefined>): Promise<string> {
		const errors = vi.spyOn(console, "error").mockImplementation(() => {});
		try {
			const res = await appWith(vars as Record<string, string>).send("GET", "/v1/locales");
			await expectProblem(res, 500, "internal_error");
			return errors.mock.calls.map((call) => String(call[0])).join("\n");
		} finally {
			errors.mockRestore();
		}
	}

	it("ES256 without JWT_SIGNING_KEYS is a configuration error naming the variable", async () => {
		expect(await configProblem({ JWT_ALGORITHM: "ES256" })).toContain("JWT_SIGNING_KEYS must be set");
	});

	it("keys of the wrong type, without a private part or with duplicate kids are refused, and no key material is logged", async () => {
		const ed = await privateJwk("EdDSA", "ed");
		const es = await privateJwk("ES256", "es");
		const { d: _d, ...publicOnly } = es;
		for (const [keys, message] of [
			[[ed], "is not an ES256 key"],
			[[publicOnly], "has no private part"],
			[[es, es], "unique non-empty kid"],
		] as const) {
			const logged = await configProblem({ JWT_ALGORITHM: "ES256", JWT_SIGNING_KEYS: JSON.stringify({ keys }) });
			expect(logged).toContain(message);
			expect(logged).not.toContain(es.d);
			expect(logged).not.toContain(ed.d);
		}
		expect(await configProblem({ JWT_ALGORITHM: "ES256", JWT_SIGNING_KEYS: "not json" })).toContain("JWK set");
	});

	it("an unknown JWT_ALGORITHM is refused", async () => {
		expect(await configProblem({ JWT_ALGORITHM: "RS256" })).toContain("JWT_ALGORITHM");
	});
});
