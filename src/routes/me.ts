import { Hono } from "hono";
import { AppError } from "../lib/errors";
import { audit } from "../middleware/audit";
import { assertFreshToken, requireAuth } from "../middleware/auth";
import { setLanguage } from "../middleware/language";
import { doc } from "../middleware/doc";
import { rateLimitKey, rateLimitedError } from "../middleware/rate-limit";
import { validate } from "../middleware/validate";
import { activityQuery, changePasswordBody, patchMeBody } from "../schemas";
import { deleteAccount } from "../services/account-deletion";
import { listEvents, presentEvent } from "../services/audit";
import { exportUserData } from "../services/export";
import { changePassword } from "../services/passwords";
import { presentUser, updateProfile } from "../services/users";
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
		await deleteAccount(c.get("db"), c.env.IMAGES, c.get("auth").user.id);
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
		const result = await changePassword(c.get("db"), {
			user,
			keepSessionId: session.id,
			currentPassword: body.current_password,
			newPassword: body.new_password,
			failures: {
				key: rateLimitKey("login_account", user.email),
				rule: c.get("config").RATE_LIMIT_LOGIN_ACCOUNT,
			},
		});
		if (!result.ok) {
			if (result.reason === "rate_limited") throw rateLimitedError(result.retryAfterSeconds);
			if (result.reason === "invalid_credentials") {
				audit(c, "password_change_failed", user.id);
				throw new AppError("invalid_credentials");
			}
			throw validationError(
				result.reason === "password_equals_email" ? "new_password" : "current_password",
				result.reason,
			);
		}
		audit(c, "password_changed", user.id, { first_password: !user.passwordHash });
		return c.json({ message: c.get("t")("messages.password_changed") });
	},
);

meRoutes.get(
	"/activity",
	doc({ summary: "Your recent security events, newest first", tags: ["accounts"], auth: true }),
	validate("query", activityQuery),
	async (c) => {
		const events = await listEvents(c.get("db"), c.get("auth").user.id, c.req.valid("query").limit);
		return c.json({ events: events.map(presentEvent) }, 200, { "Cache-Control": "no-store" });
	},
);

meRoutes.get(
	"/export",
	doc({ summary: "Download everything stored about you (JSON)", tags: ["accounts"], auth: true }),
	async (c) => {
		const data = await exportUserData(c.get("db"), c.get("auth").user, c.get("config").appUrl);
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
