import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { createDb } from "../../src/db/client";
import { images, users } from "../../src/db/schema";
import { newId } from "../../src/lib/crypto";
import worker from "../../src/index";
import { isSweepDue, sweepOrphans } from "../../src/services/sweep";
import { fixture } from "../fixtures";
import { uniqueEmail } from "../helpers/api";
import { keysUnder, pngOf, sha256Hex } from "../helpers/images";

const db = createDb(env.DB);
const HOUR = 60 * 60 * 1000;
const GRACE = HOUR;

async function plantUser(avatar?: { etag: string; updatedAt: Date }): Promise<string> {
	const id = newId();
	await db.insert(users).values({
		id,
		email: uniqueEmail("sweep"),
		locale: "en",
		updatedAt: new Date(),
		avatarEtag: avatar?.etag ?? null,
		avatarContentType: avatar ? "image/png" : null,
		avatarUpdatedAt: avatar?.updatedAt ?? null,
	});
	return id;
}

async function plantObject(
	key: string,
	bytes: Uint8Array = fixture("tiny.png"),
	size?: { width: number; height: number },
) {
	const object = await env.IMAGES.put(key, bytes, {
		httpMetadata: { contentType: "image/png" },
		customMetadata: size ? { width: String(size.width), height: String(size.height) } : undefined,
	});
	return object!;
}

async function plantRow(userId: string, imageId: string, etag: string, updatedAt: Date) {
	await db.insert(images).values({
		id: imageId,
		userId,
		filename: "planted.png",
		contentType: "image/png",
		size: 1,
		width: 1,
		height: 1,
		etag,
		sha256: "0".repeat(64),
		createdAt: updatedAt,
		updatedAt,
	});
}

async function rowExists(imageId: string): Promise<boolean> {
	return (await db.select({ id: images.id }).from(images).where(eq(images.id, imageId)).get()) !== undefined;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("sweepOrphans", () => {
	it("removes orphans older than the grace period in both directions and keeps young ones", async () => {
		const alice = await plantUser();
		const gone = newId(); // a user id without a user row
		const prefix = `users/${alice}/images/`;
		const ids = { healthy: newId(), oldOrphan: newId(), youngOrphan: newId(), oldRow: newId(), youngRow: newId() };

		// Old objects (uploaded before the cutoff).
		const healthy = await plantObject(prefix + ids.healthy);
		await plantObject(prefix + ids.oldOrphan);
		await plantObject(`users/${alice}/scratch/leftover`);
		await plantObject(`users/${gone}/images/${newId()}`);
		await plantObject(`users/${gone}/avatar`);
		await plantObject("outside/the/users/folder");
		await pause(20);
		const cutoff = Date.now();
		await pause(20);
		// Young objects (an upload that may still be writing its row).
		await plantObject(prefix + ids.youngOrphan);
		const goneYoung = `users/${gone}/images/${newId()}`;
		await plantObject(goneYoung);

		await plantRow(alice, ids.healthy, healthy.etag, new Date(cutoff - 2 * HOUR));
		await plantRow(alice, ids.oldRow, "etag-of-a-lost-object", new Date(cutoff - 2 * HOUR));
		await plantRow(alice, ids.youngRow, "etag-of-an-object-in-flight", new Date(cutoff + 60_000));

		const report = await sweepOrphans(db, env.IMAGES, { graceMs: GRACE, now: cutoff + GRACE });

		expect((await keysUnder(`users/${alice}/`)).sort()).toEqual(
			[prefix + ids.healthy, prefix + ids.youngOrphan].sort(),
		);
		expect(await keysUnder(`users/${gone}/`)).toEqual([goneYoung]);
		expect(await keysUnder("outside/")).toEqual(["outside/the/users/folder"]);
		expect(await rowExists(ids.healthy)).toBe(true);
		expect(await rowExists(ids.oldRow)).toBe(false);
		expect(await rowExists(ids.youngRow)).toBe(true);
		expect(report).toMatchObject({ objectsDeleted: 4, rowsDeleted: 1, rowsRepaired: 0 });

		const again = await sweepOrphans(db, env.IMAGES, { graceMs: GRACE, now: cutoff + GRACE });
		expect(again).toMatchObject({ objectsDeleted: 0, rowsDeleted: 0, avatarsCleared: 0, rowsRepaired: 0 });
	});

	it("clears avatar fields without an object and deletes avatar objects nobody points at", async () => {
		const lost = await plantUser({ etag: "lost", updatedAt: new Date(Date.now() - 2 * HOUR) });
		const fresh = await plantUser({ etag: "in-flight", updatedAt: new Date(Date.now() + HOUR) });
		const unreferenced = await plantUser();
		await plantObject(`users/${unreferenced}/avatar`);
		await pause(20);

		const report = await sweepOrphans(db, env.IMAGES, { graceMs: 10, now: Date.now() });

		const row = await db.select().from(users).where(eq(users.id, lost)).get();
		expect(row).toMatchObject({ avatarEtag: null, avatarContentType: null, avatarUpdatedAt: null });
		expect((await db.select().from(users).where(eq(users.id, fresh)).get())?.avatarEtag).toBe("in-flight");
		expect(await env.IMAGES.head(`users/${unreferenced}/avatar`)).toBeNull();
		expect(report.avatarsCleared).toBeGreaterThanOrEqual(1);
	});

	it("rebuilds a row from its object after a replacement whose row update was lost", async () => {
		const owner = await plantUser();
		const imageId = newId();
		const bytes = pngOf(640, 480, 5000, 1);
		const object = await plantObject(`users/${owner}/images/${imageId}`, bytes, { width: 640, height: 480 });
		await plantRow(owner, imageId, "etag-of-the-replaced-bytes", new Date(Date.now() - 2 * HOUR));
		await pause(20);

		const report = await sweepOrphans(db, env.IMAGES, { graceMs: 10, now: Date.now() });

		expect(report.rowsRepaired).toBeGreaterThanOrEqual(1);
		const row = await db.select().from(images).where(eq(images.id, imageId)).get();
		expect(row).toMatchObject({
			etag: object.etag,
			size: 5000,
			width: 640,
			height: 480,
			contentType: "image/png",
			sha256: await sha256Hex(bytes),
		});
	});
});

describe("scheduled sweep", () => {
	it("runs on the first tick of an hour only", async () => {
		expect(isSweepDue(Date.UTC(2026, 0, 1, 13, 0, 0))).toBe(true);
		expect(isSweepDue(Date.UTC(2026, 0, 1, 13, 4, 59))).toBe(true);
		expect(isSweepDue(Date.UTC(2026, 0, 1, 13, 5, 0))).toBe(false);
		expect(isSweepDue(Date.UTC(2026, 0, 1, 13, 55, 0))).toBe(false);
	});

	it("deletes a long-orphaned row from the cron handler", async () => {
		const owner = await plantUser();
		const imageId = newId();
		await plantRow(owner, imageId, "lost", new Date(Date.now() - 3 * HOUR));

		const offTick = createExecutionContext();
		await worker.scheduled(
			createScheduledController({ scheduledTime: Date.UTC(2026, 0, 1, 13, 10), cron: "*/5 * * * *" }),
			env,
			offTick,
		);
		await waitOnExecutionContext(offTick);
		expect(await rowExists(imageId)).toBe(true);

		const onTick = createExecutionContext();
		await worker.scheduled(
			createScheduledController({ scheduledTime: Date.UTC(2026, 0, 1, 14, 0), cron: "*/5 * * * *" }),
			env,
			onTick,
		);
		await waitOnExecutionContext(onTick);
		expect(await rowExists(imageId)).toBe(false);
	});
});
