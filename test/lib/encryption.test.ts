import { describe, expect, it } from "vitest";
import { decryptText, encryptText, purposeKey } from "../../src/lib/encryption";

const ROOT = "a root key of at least thirty-two bytes";

describe("per-purpose AES-GCM keys from ENCRYPTION_KEY", () => {
	it("happy: round-trips text, with a fresh IV every time", async () => {
		const key = await purposeKey(ROOT, "outbox-body");
		const a = await encryptText(key, "Hello, https://atrium.test/v1/auth/confirm?token=abc", "row-1");
		const b = await encryptText(key, "Hello, https://atrium.test/v1/auth/confirm?token=abc", "row-1");
		expect(a).not.toBe(b);
		expect(a).toMatch(/^v1\./);
		expect(await decryptText(key, a, "row-1")).toBe("Hello, https://atrium.test/v1/auth/confirm?token=abc");
	});

	it("security: another purpose, another root, another context or a changed byte cannot decrypt", async () => {
		const key = await purposeKey(ROOT, "outbox-body");
		const sealed = await encryptText(key, "secret link", "row-1");
		await expect(decryptText(await purposeKey(ROOT, "totp-secret"), sealed, "row-1")).rejects.toThrow();
		await expect(decryptText(await purposeKey(`${ROOT}!`, "outbox-body"), sealed, "row-1")).rejects.toThrow();
		await expect(decryptText(key, sealed, "row-2")).rejects.toThrow();
		const flipped = sealed.slice(0, -2) + (sealed.endsWith("A") ? "B" : "A") + sealed.slice(-1);
		await expect(decryptText(key, flipped, "row-1")).rejects.toThrow();
		await expect(decryptText(key, "plain text", "row-1")).rejects.toThrow();
	});

	it("security: derived keys are not extractable", async () => {
		const key = await purposeKey(ROOT, "outbox-body");
		expect(key.extractable).toBe(false);
		expect(key.algorithm).toMatchObject({ name: "AES-GCM", length: 256 });
	});
});
