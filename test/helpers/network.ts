/**
 * A fake network edge for tests. Outside services (Resend, GitHub, Google, an OIDC issuer) are
 * answered by handlers registered per origin, so the real client libraries still build and send
 * their HTTP requests. Anything else is refused and fails the test in `afterEach`.
 */
export type FakeHandler = (request: Request) => Response | Promise<Response>;

export type RecordedRequest = {
	method: string;
	url: string;
	headers: Headers;
	body: string;
};

const realFetch = globalThis.fetch;
const handlers = new Map<string, FakeHandler>();
const unexpected: string[] = [];
/** Every request that reached a fake handler, in order. */
export const recorded: RecordedRequest[] = [];

/** Answers every request to `origin` (e.g. "https://api.resend.com") with `handler`. */
export function fakeOrigin(origin: string, handler: FakeHandler): void {
	handlers.set(new URL(origin).origin, handler);
}

/** Requests recorded for one origin. */
export function requestsTo(origin: string): RecordedRequest[] {
	const wanted = new URL(origin).origin;
	return recorded.filter((r) => new URL(r.url).origin === wanted);
}

export function installFakeNetwork(): void {
	handlers.clear();
	recorded.length = 0;
	unexpected.length = 0;
	globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
		const request = new Request(input, init);
		const handler = handlers.get(new URL(request.url).origin);
		if (!handler) {
			unexpected.push(`${request.method} ${request.url}`);
			throw new TypeError(`Network access blocked in tests: ${request.method} ${request.url}`);
		}
		const body = request.body ? await request.clone().text() : "";
		recorded.push({ method: request.method, url: request.url, headers: request.headers, body });
		return handler(request);
	};
}

/** Fails the current test when code under test tried to reach an origin nobody faked. */
export function verifyNoUnexpectedRequests(): void {
	globalThis.fetch = realFetch;
	if (unexpected.length > 0) {
		const list = unexpected.splice(0).join(", ");
		throw new Error(`Unexpected outbound requests: ${list}`);
	}
}
