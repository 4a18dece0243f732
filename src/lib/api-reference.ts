import { sha256 } from "@oslojs/crypto/sha2";
import { encodeBase64 } from "@oslojs/encoding";
import { html, raw } from "hono/html";

/**
 * The API reference at GET /docs: one static HTML page rendered on the server from the served
 * OpenAPI document. No script, no CDN, no font: it works offline and its CSP allows only its own
 * inline stylesheet (by hash).
 */

type Schema = Record<string, unknown>;
type Parameter = { name: string; in: string; required?: boolean; description?: string; schema?: Schema };
type MediaTypes = Record<string, { schema?: Schema }>;
type Response = { description?: string; headers?: Record<string, { description?: string }>; content?: MediaTypes };
type Operation = {
	operationId?: string;
	summary?: string;
	tags?: string[];
	security?: Record<string, string[]>[];
	parameters?: Parameter[];
	requestBody?: { required?: boolean; content?: MediaTypes };
	responses?: Record<string, Response>;
};
export type ReferenceDocument = {
	info: { title: string; version: string; description?: string };
	paths: Record<string, Record<string, Operation>>;
	components?: { schemas?: Record<string, Schema> };
};

const METHODS = ["get", "post", "put", "patch", "delete"] as const;

const STYLE = `body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:70rem;padding:1rem 2rem;color:#1b1f24}
h2{border-bottom:1px solid #ddd;margin-top:2rem}details{border:1px solid #ddd;border-radius:6px;margin:.5rem 0;padding:.25rem .75rem}
summary{cursor:pointer}code,pre{font-family:ui-monospace,monospace;font-size:13px}pre{background:#f5f5f5;overflow:auto;padding:.5rem}
.m{display:inline-block;font-weight:700;min-width:4.5rem;text-transform:uppercase}.get{color:#0a6}.post{color:#06c}.put,.patch{color:#a60}.delete{color:#c22}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left;vertical-align:top}`;

/** The CSP source for the page's one inline stylesheet. */
export const REFERENCE_STYLE_HASH = `'sha256-${encodeBase64(sha256(new TextEncoder().encode(STYLE)))}'`;

function schemaBlock(schema: Schema | undefined) {
	if (!schema) return "";
	return html`<pre>${JSON.stringify(schema, null, 2)}</pre>`;
}

function mediaTypes(content: MediaTypes | undefined) {
	return Object.entries(content ?? {}).map(
		([type, media]) => html`<p><code>${type}</code></p>${schemaBlock(media.schema)}`,
	);
}

function operationBlock(path: string, method: string, operation: Operation) {
	const isPublic = operation.security?.length === 0;
	const parameters = operation.parameters ?? [];
	return html`<details id="${operation.operationId ?? `${method}-${path}`}">
<summary><span class="m ${method}">${method}</span> <code>${path}</code> ${operation.summary ?? ""}</summary>
<p>operationId <code>${operation.operationId ?? ""}</code> · ${isPublic ? "public" : "Authorization: Bearer &lt;access token&gt;"}</p>
${
	parameters.length
		? html`<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>required</th><th>schema</th></tr>${parameters.map(
				(p) =>
					html`<tr><td><code>${p.name}</code></td><td>${p.in}</td><td>${p.required ? "yes" : "no"}</td><td><code>${JSON.stringify(p.schema ?? {})}</code></td></tr>`,
			)}</table>`
		: ""
}
${operation.requestBody ? html`<h4>Request body${operation.requestBody.required ? " (required)" : ""}</h4>${mediaTypes(operation.requestBody.content)}` : ""}
<h4>Responses</h4>
${Object.entries(operation.responses ?? {}).map(
	([status, response]) => html`<h5>${status} ${response.description ?? ""}</h5>
${
	response.headers
		? html`<p>Headers: ${Object.keys(response.headers).map((name, i) => html`${i ? ", " : ""}<code>${name}</code>`)}</p>`
		: ""
}
${mediaTypes(response.content)}`,
)}
</details>`;
}

/** The whole page for `document` (an OpenAPI 3.1 document as served at /openapi.json). */
export function renderReference(document: ReferenceDocument, lang: string) {
	const byTag = new Map<string, ReturnType<typeof operationBlock>[]>();
	for (const [path, operations] of Object.entries(document.paths)) {
		for (const method of METHODS) {
			const operation = operations[method];
			if (!operation) continue;
			const tag = operation.tags?.[0] ?? "other";
			byTag.set(tag, [...(byTag.get(tag) ?? []), operationBlock(path, method, operation)]);
		}
	}
	const schemas = Object.entries(document.components?.schemas ?? {});
	return html`<!doctype html>
<html lang="${lang}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${document.info.title} reference</title>
<style>${raw(STYLE)}</style></head>
<body>
<h1>${document.info.title} <small>${document.info.version}</small></h1>
<p>${document.info.description ?? ""}</p>
<p>The machine-readable document: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
<nav><ul>${[...byTag.keys()].map((tag) => html`<li><a href="#tag-${tag}">${tag}</a></li>`)}<li><a href="#schemas">schemas</a></li></ul></nav>
${[...byTag].map(([tag, blocks]) => html`<h2 id="tag-${tag}">${tag}</h2>${blocks}`)}
<h2 id="schemas">Schemas</h2>
${schemas.map(([name, schema]) => html`<details id="schema-${name}"><summary><code>${name}</code></summary>${schemaBlock(schema)}</details>`)}
</body>
</html>`;
}
