import { env } from "cloudflare:workers";
import { createExecutionContext } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/app";
import { api, expectProblem, send } from "../helpers/api";

describe("operations", () => {
	it("GET /health answers ok when D1 and R2 answer", async () => {
		const res = await api("/health");
		expect(res.status).toBe(200);
		expect(await res.json()).toEqual({ status: "ok" });
	});

	it("GET /health answers 503 with Retry-After when D1 fails", async () => {
		const spy = vi.spyOn(env.DB, "prepare").mockImplementation(() => {
			throw new Error("D1_ERROR: database unavailable");
		});
		try {
			const res = await api("/health");
			await expectProblem(res, 503, "service_unavailable");
			expect(res.headers.get("Retry-After")).toBe("5");
		} finally {
			spy.mockRestore();
		}
	});

	it("GET /openapi.json documents the routes with the validating schemas", async () => {
		const res = await api("/openapi.json");
		expect(res.status).toBe(200);
		const doc = (await res.json()) as {
			openapi: string;
			paths: Record<
				string,
				Record<
					string,
					{
						requestBody?: {
							content: Record<string, { schema: { properties: Record<string, { minLength?: number }> } }>;
						};
					}
				>
			>;
		};
		expect(doc.openapi).toBe("3.1.0");
		const register = doc.paths["/v1/auth/register"]?.post;
		const schema = register?.requestBody?.content["application/json"]?.schema;
		expect(schema?.properties.password?.minLength).toBe(10);
		expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/v1/auth/login", "/v1/me", "/health"]));
	});

	it("GET /docs is a reference page rendered from the document, loading nothing but itself", async () => {
		const res = await api("/docs");
		expect(res.status).toBe(200);
		const page = await res.text();
		expect(page).toContain('id="login"');
		expect(page).toContain("/v1/images/{id}/content");
		expect(page).not.toMatch(/<script|<link|https?:\/\/(?!atrium\.test)[^"<\s]+"/);
		const csp = res.headers.get("Content-Security-Policy") ?? "";
		expect(csp).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+';/);
		expect(csp).not.toContain("script-src");
	});

	it("GET / says where the docs and the document are", async () => {
		const res = await api("/");
		expect(res.status).toBe(200);
		expect(await res.json()).toEqual({
			name: "Atrium API",
			docs: "https://atrium.test/docs",
			openapi: "https://atrium.test/openapi.json",
		});
	});
});

describe("cross-cutting headers", () => {
	it("every response carries X-Request-Id, and secure headers", async () => {
		const res = await api("/v1/locales");
		expect(res.headers.get("X-Request-Id")).toMatch(/^[0-9a-f-]{36}$/);
		expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
		expect(res.headers.get("Strict-Transport-Security")).toContain("max-age=");
		expect(res.headers.get("Cross-Origin-Resource-Policy")).toBe("same-site");
	});

	it("errors carry the request id too, and no stack trace", async () => {
		const res = await api("/nope");
		expect(res.headers.get("X-Request-Id")).toBeTruthy();
		const body = await expectProblem(res, 404, "not_found");
		expect(JSON.stringify(body)).not.toMatch(/at \w+ \(|\.ts:\d+/);
	});

	it("language-dependent responses carry Content-Language and Vary", async () => {
		const res = await api("/v1/locales", { headers: { "Accept-Language": "en" } });
		expect(res.headers.get("Content-Language")).toBe("en");
		expect(res.headers.get("Vary")).toContain("Accept-Language");
	});

	it("CORS allows only configured origins", async () => {
		const allowed = await api("/v1/locales", { headers: { Origin: "http://localhost:3000" } });
		expect(allowed.headers.get("Access-Control-Allow-Origin")).toBe("http://localhost:3000");
		const denied = await api("/v1/locales", { headers: { Origin: "https://evil.example" } });
		expect(denied.headers.get("Access-Control-Allow-Origin")).toBeNull();
		const preflight = await api("/v1/auth/login", {
			method: "OPTIONS",
			headers: { Origin: "http://localhost:3000", "Access-Control-Request-Method": "POST" },
		});
		expect(preflight.status).toBe(204);
		expect(preflight.headers.get("Access-Control-Allow-Methods")).toContain("POST");
	});

	it("an unknown method on a known path is a problem, not a 500", async () => {
		const res = await send("PUT", "/v1/auth/login", { body: {} });
		expect(res.status).toBeGreaterThanOrEqual(400);
		expect(res.status).toBeLessThan(500);
	});
});

describe("configuration", () => {
	it("outside local development a missing JWT_SECRET is a clear configuration error, not a default", async () => {
		const app = createApp();
		const errors = vi.spyOn(console, "error").mockImplementation(() => {});
		try {
			const res = await app.fetch(
				new Request("https://atrium.test/v1/locales"),
				{ ...env, ENVIRONMENT: "production", JWT_SECRET: undefined },
				createExecutionContext(),
			);
			await expectProblem(res, 500, "internal_error");
			const logged = errors.mock.calls.map((call) => String(call[0])).join("\n");
			expect(logged).toContain("config_invalid");
			expect(logged).toContain("JWT_SECRET must be set to at least 32 bytes");
		} finally {
			errors.mockRestore();
		}
	});

	it("refuses a JWT_SECRET shorter than 32 bytes in production", async () => {
		const app = createApp();
		const errors = vi.spyOn(console, "error").mockImplementation(() => {});
		try {
			const res = await app.fetch(
				new Request("https://atrium.test/v1/locales"),
				{ ...env, ENVIRONMENT: "production", JWT_SECRET: "short" },
				createExecutionContext(),
			);
			expect(res.status).toBe(500);
		} finally {
			errors.mockRestore();
		}
	});

	it("accepts a production configuration with a proper secret", async () => {
		const res = await createApp().fetch(
			new Request("https://atrium.test/v1/locales"),
			{ ...env, ENVIRONMENT: "production", JWT_SECRET: "x".repeat(32) },
			createExecutionContext(),
		);
		expect(res.status).toBe(200);
	});
});
