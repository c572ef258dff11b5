/**
 * Where a pass keeps the metadata it removes until it has checked the journal (collector.ts, step
 * 4): `gc/held/<original key>`. A writer that finds a document it relies on held writes it
 * again itself ({@link isHeld}), the way it restores a quarantined blob.
 */
import type { BlobStore } from '../storage/blob-store.ts';

/** The prefix of held documents. */
export const HELD_PREFIX = 'gc/held';

/** The key a document `key` is held under. */
export function heldKey(key: string): string {
  return `${HELD_PREFIX}/${key}`;
}

/**
 * True when a pass holds document `key`: the writer that relies on it writes it again itself
 * (through its own cache), and the held copy stays for the pass to delete.
 */
export async function isHeld(store: BlobStore, key: string): Promise<boolean> {
  return (await store.getMeta(heldKey(key))) !== undefined;
}
