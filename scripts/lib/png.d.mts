/** Types for png.mjs. */
export const PNG_SIGNATURE: number[];
export function crc32(bytes: Iterable<number>): number;
export function u32be(n: number): number[];
export function pngChunk(type: string, data: Iterable<number>): Uint8Array;
export function pngHead(width: number, height: number, colourType?: number): Uint8Array;
export function fillWithIdat(bytes: Uint8Array): Uint8Array;
