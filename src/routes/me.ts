import { eq } from "drizzle-orm";
import { Hono } from "hono";
import { users } from "../db/schema";
import { AppError } from "../lib/errors";
import { verifyPassword } from "../lib/password";
import { audit } from "../middleware/audit";
import { assertFreshToken, requireAuth } from "../middleware/auth";
import { setLanguage } from "../middleware/language";
import { doc } from "../middleware/doc";
import { validate } from "../middleware/validate";
import { activityQuery, changePasswordBody, patchMeBody } from "../schemas";
import { auditInsert, listEvents, presentEvent } from "../services/audit";
import { exportUserData } from "../services/export";
import { revokeUserSessions } from "../services/sessions";
import { deleteUserObjects } from "../services/storage";
import { presentUser, setPassword, updateProfile } from "../services/users";
import type { AppEnv } from "../types";

export const meRoutes = new Hono<AppEnv>();

meRoutes.use("*", requireAuth());

meRoutes.get("/", doc({ summary: "The signed-in user", tags: ["accounts"], auth: true }), (c) => {
	const { user, providers } = c.get("auth");
	return c.json(presentUser(user, providers, c.get("config").appUrl));
});

meRoutes.patch(
	"/",
	doc({ summary: "Update name or locale", tags: ["accounts"], auth: true }),
	validate("json", patchMeBody),
	async (c) => {
		const { user, providers } = c.get("auth");
		const changes = c.req.valid("json");
		const updated = await updateProfile(c.get("db"), user.id, changes);
		// Answer in the newly chosen language unless the caller forced one with ?lang=.
		if (changes.locale && c.get("langSource") !== "query") setLanguage(c, changes.locale, "user");
		return c.json(presentUser(updated, providers, c.get("config").appUrl));
	},
);

meRoutes.delete(
	"/",
	doc({
		summary: "Delete the account and everything it owns (fresh token)",
		tags: ["accounts"],
		auth: true,
		responses: { 204: "Deleted" },
	}),
	async (c) => {
		assertFreshToken(c);
		const { user } = c.get("auth");
		// Objects first: if R2 fails, the account still exists and the request can simply be retried.
		const objects = await deleteUserObjects(c.env.IMAGES, user.id);
		// The user's own trail goes with them (cascade); an anonymous row, written in the same batch,
		// records only that an account was deleted, and when.
		const db = c.get("db");
		await db.batch([
			db.delete(users).where(eq(users.id, user.id)),
			auditInsert(db, { userId: null, type: "account_deleted", detail: { objects } }),
		]);
		return c.body(null, 204);
	},
);

meRoutes.put(
	"/password",
	doc({ summary: "Change or set the password (fresh token)", tags: ["accounts"], auth: true }),
	validate("json", changePasswordBody),
	async (c) => {
		assertFreshToken(c);
		const { user, session } = c.get("auth");
		const body = c.req.valid("json");
		if (body.new_password.trim().toLowerCase() === user.email) {
			throw validationError("new_password", "password_equals_email");
		}
		if (user.passwordHash) {
			if (!body.current_password) throw validationError("current_password", "current_password_required");
			if (!(await verifyPassword(user.passwordHash, body.current_password))) throw new AppError("invalid_credentials");
		}
		const db = c.get("db");
		await setPassword(db, user.id, body.new_password);
		await revokeUserSessions(db, user.id, session.id);
		audit(c, "password_changed", user.id, { first_password: !user.passwordHash });
		return c.json({ message: c.get("t")("messages.password_changed") });
	},
);

meRoutes.get(
	"/activity",
	doc({ summary: "Your recent security events, newest first", tags: ["accounts"], auth: true }),
	validate("query", activityQuery),
	async (c) => {
		const events = await listEvents(c.get("dbRead"), c.get("auth").user.id, c.req.valid("query").limit);
		return c.json({ events: events.map(presentEvent) }, 200, { "Cache-Control": "no-store" });
	},
);

meRoutes.get(
	"/export",
	doc({ summary: "Download everything stored about you (JSON)", tags: ["accounts"], auth: true }),
	async (c) => {
		const data = await exportUserData(c.get("dbRead"), c.get("auth").user, c.get("config").appUrl);
		const filename = `atrium-export-${data.exported_at.slice(0, 10)}.json`;
		return c.json(data, 200, {
			"Content-Disposition": `attachment; filename="${filename}"`,
			"Cache-Control": "no-store",
		});
	},
);

function validationError(path: string, code: string): AppError {
	return new AppError("validation_failed", {
		params: { count: 1 },
		issues: [{ path, code, key: `validation.${code}` }],
	});
}
