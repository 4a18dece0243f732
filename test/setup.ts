import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, beforeEach } from "vitest";
import { installFakeNetwork, verifyNoUnexpectedRequests } from "./helpers/network";
import { fakeResend } from "./helpers/resend";

// Storage is isolated per test file; the same drizzle-kit SQL that production runs builds it.
beforeAll(async () => {
	await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
});

beforeEach(() => {
	installFakeNetwork();
	// Resend accepts everything unless a test installs a failing fake of its own.
	fakeResend();
});

afterEach(() => {
	verifyNoUnexpectedRequests();
});
