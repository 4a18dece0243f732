/** The bucket shared by every request that arrives without a client address. */
export const UNKNOWN_CLIENT = "unknown";

/**
 * The rate-limit bucket of a client address taken from `CF-Connecting-IP` (the only source we
 * trust: Cloudflare sets it on every request from the internet and clients cannot forge it;
 * X-Forwarded-For can be). IPv4 addresses are their own bucket; IPv6 ones are grouped by /64,
 * since one subscriber usually holds a whole /64 and could otherwise rotate through it.
 *
 * A missing or malformed header maps to one shared "unknown" bucket rather than to no limit:
 * behind Cloudflare it cannot happen, so the only callers without it are local tools, service
 * bindings or a misconfigured proxy, and dropping the header must never buy more attempts.
 */
export function clientIpBucket(header: string | null | undefined): string {
	const ip = header?.trim() ?? "";
	if (/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) return ip;
	const mapped = /^::ffff:(\d{1,3}(\.\d{1,3}){3})$/i.exec(ip);
	if (mapped?.[1]) return mapped[1];
	if (ip.includes(":")) return ipv6Prefix64(ip) ?? UNKNOWN_CLIENT;
	return UNKNOWN_CLIENT;
}

/** The first four hextets of an IPv6 address, expanded (`2001:db8:0:1::/64`), or null if malformed. */
function ipv6Prefix64(ip: string): string | null {
	const address = ip.toLowerCase().replace(/%.*$/, "");
	if (!/^[0-9a-f:.]+$/.test(address) || address.split("::").length > 2) return null;
	const [head = "", tail] = address.split("::");
	const headParts = head ? head.split(":") : [];
	const tailParts = tail ? tail.split(":") : [];
	if ([...headParts, ...tailParts].some((part) => part === "")) return null;
	// An embedded IPv4 tail (::ffff:1.2.3.4) takes two hextets.
	const last = tailParts.length ? tailParts[tailParts.length - 1] : headParts[headParts.length - 1];
	const width = last?.includes(".") ? 7 : 8;
	const missing = width - headParts.length - tailParts.length;
	if (tail === undefined ? missing !== 0 : missing < 1) return null;
	const parts = [...headParts, ...Array<string>(tail === undefined ? 0 : missing).fill("0"), ...tailParts];
	const hextets = parts.slice(0, 4);
	if (hextets.some((part) => !/^[0-9a-f]{1,4}$/.test(part))) return null;
	return `${hextets.map((part) => Number.parseInt(part, 16).toString(16)).join(":")}::/64`;
}
