import { OpenAPIHono, createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import { AppError } from "../lib/errors";
import { AUTH_ERRORS, BEARER, OUTAGE, json, problems } from "../lib/openapi";
import { audit } from "../middleware/audit";
import { requireAuth } from "../middleware/auth";
import { validationHook } from "../middleware/validate";
import { sessionParam, sessionResponse } from "../schemas";
import { listLiveSessions, presentSession, revokeOwnSession } from "../services/sessions";
import type { AppEnv } from "../types";

/** /v1/me/sessions: the signed-in user's devices. */
export const sessionRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

sessionRoutes.use("*", requireAuth());

const listRoute = createRoute({
	method: "get",
	path: "/",
	operationId: "listSessions",
	summary: "Your live sessions (devices), newest first; the current one is marked",
	tags: ["accounts"],
	...BEARER,
	responses: {
		200: json("Sessions", z.object({ sessions: z.array(sessionResponse) })),
		...problems(...AUTH_ERRORS, OUTAGE),
	},
});

sessionRoutes.openapi(listRoute, async (c) => {
	const { user, session } = c.get("auth");
	const rows = await listLiveSessions(c.get("deps").db, user.id);
	return c.json({ sessions: rows.map((row) => presentSession(row, session.id)) }, 200);
});

const revokeRoute = createRoute({
	method: "delete",
	path: "/{id}",
	operationId: "revokeSession",
	summary: "Sign a session out; its access and refresh tokens stop working at once",
	tags: ["accounts"],
	...BEARER,
	request: { params: sessionParam },
	responses: {
		204: { description: "Revoked" },
		...problems("validation_failed", ...AUTH_ERRORS, "session_not_found", OUTAGE),
	},
});

sessionRoutes.openapi(revokeRoute, async (c) => {
	const { user } = c.get("auth");
	const { id } = c.req.valid("param");
	// Another user's session is as unknown as a made-up id: same answer, nothing revoked.
	if (!(await revokeOwnSession(c.get("deps").db, user.id, id))) throw new AppError("session_not_found");
	audit(c, "session_revoked", user.id, { session_id: id });
	return c.body(null, 204);
});
