import { z } from "zod";
import { ERROR_STATUS } from "./errors";

/** Marks a handler with documentation the schemas cannot carry (summary, tags, responses). */
export const ROUTE_DOC = Symbol("atrium.route-doc");

export type RouteDoc = {
	summary: string;
	tags?: string[];
	auth?: boolean;
	responses?: Record<number, string>;
};

type RouteLike = { method: string; path: string; handler: unknown };
type ValidationMetaLike = { target: string; schema: z.ZodType };

function jsonSchema(schema: z.ZodType) {
	return z.toJSONSchema(schema, { io: "input", unrepresentable: "any", target: "draft-2020-12" });
}

function parameters(meta: ValidationMetaLike, location: "query" | "path" | "header") {
	const schema = jsonSchema(meta.schema) as { properties?: Record<string, unknown>; required?: string[] };
	return Object.entries(schema.properties ?? {}).map(([name, property]) => ({
		name,
		in: location,
		required: location === "path" || (schema.required ?? []).includes(name),
		schema: property,
	}));
}

const problemSchema = {
	type: "object",
	required: ["type", "title", "status", "code", "detail"],
	properties: {
		type: { type: "string" },
		title: { type: "string" },
		status: { type: "integer" },
		code: { type: "string", enum: Object.keys(ERROR_STATUS) },
		detail: { type: "string" },
		errors: {
			type: "array",
			items: {
				type: "object",
				properties: { path: { type: "string" }, code: { type: "string" }, message: { type: "string" } },
			},
		},
	},
};

/**
 * Builds an OpenAPI 3.1 document from the app's registered routes: every `validate()` middleware
 * contributes the very zod schema that checks requests, so the document cannot drift from them.
 */
export function buildOpenApiDocument(
	routes: readonly RouteLike[],
	info: { title: string; version: string; serverUrl: string },
	symbols: { validation: symbol; doc: symbol },
) {
	const paths: Record<string, Record<string, Record<string, unknown>>> = {};
	for (const route of routes) {
		if (route.method === "ALL" || !route.path.startsWith("/")) continue;
		const handler = route.handler as Record<symbol, unknown>;
		const validation = handler[symbols.validation] as ValidationMetaLike | undefined;
		const doc = handler[symbols.doc] as RouteDoc | undefined;
		if (!validation && !doc) continue;
		const path = route.path.replace(/:([A-Za-z_]+)/g, "{$1}");
		const method = route.method.toLowerCase();
		paths[path] ??= {};
		const operations = paths[path];
		operations[method] ??= {
			parameters: [...path.matchAll(/\{([A-Za-z_]+)\}/g)].map((m) => ({
				name: m[1],
				in: "path",
				required: true,
				schema: { type: "string" },
			})),
			responses: {
				default: { description: "Problem details", content: { "application/problem+json": { schema: problemSchema } } },
			},
		};
		const operation = operations[method];
		if (doc) {
			operation.summary = doc.summary;
			if (doc.tags) operation.tags = doc.tags;
			if (doc.auth) operation.security = [{ bearer: [] }];
			for (const [status, description] of Object.entries(doc.responses ?? {})) {
				(operation.responses as Record<string, unknown>)[status] = { description };
			}
		}
		if (validation?.target === "json") {
			operation.requestBody = {
				required: true,
				content: { "application/json": { schema: jsonSchema(validation.schema) } },
			};
		} else if (validation?.target === "query") {
			(operation.parameters as unknown[]).push(...parameters(validation, "query"));
		}
	}
	return {
		openapi: "3.1.0",
		info: { title: info.title, version: info.version },
		servers: [{ url: info.serverUrl }],
		components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } } },
		paths,
	};
}
