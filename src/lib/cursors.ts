/** Position after which a keyset page continues: the (created_at, id) of the previous page's last item. */
export type KeysetCursor = { createdAt: number; id: string };

/** Opaque page token; clients must not build or read it. */
export function encodeCursor(cursor: KeysetCursor): string {
	return btoa(`${cursor.createdAt}.${cursor.id}`).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

/** Reads a page token back; null for anything this server did not hand out. */
export function decodeCursor(token: string): KeysetCursor | null {
	let text: string;
	try {
		text = atob(token.replace(/-/g, "+").replace(/_/g, "/"));
	} catch {
		return null;
	}
	const match = /^(\d{1,15})\.([a-z2-7]{1,64})$/.exec(text);
	if (!match?.[1] || !match[2]) return null;
	return { createdAt: Number(match[1]), id: match[2] };
}
