/**
 * The intent journal: how a write tells a running garbage collection what it is about to rely on
 * (docs/gc.md, "The protocol"). A writer records an intent *before* it checks that the content it
 * references exists; the collector reads the journal *after* it took content out of sight, and
 * brings back whatever an intent names. Either the collector sees the intent, or the writer sees
 * the content gone (and restores it, or fails cleanly): never a manifest that points at nothing.
 *
 * Layout, in the store's metadata (so every replica sharing the store writes to one journal):
 *
 *   gc/intents/<bucket>/<epoch ms>-<random>     {"repository","image","blobs":[…],"manifests":[…],"tag"?}
 *
 * `<bucket>` is the 10-minute window of the time (10 digits, zero-padded), so a pass reads only the
 * windows of its grace period and drops older ones whole. An intent matters only while the write
 * it announces runs; a pass honours every intent younger than its grace period.
 */
import { randomBytes } from 'node:crypto';
import type { BlobStore, Digest } from '../storage/blob-store.ts';
import { mapLimit } from './limit.ts';

/** What one write is about to rely on. */
export interface GcIntent {
  readonly repository: string;
  readonly image: string;
  /** Blobs (configs, layers) the write references. */
  readonly blobs: readonly Digest[];
  /** Manifests it references or stores (its own digest, the children of an index). */
  readonly manifests: readonly Digest[];
  /** The tag it will point at `manifests[0]`. */
  readonly tag?: string;
}

/** An intent as read back, with its key and time. */
export interface RecordedIntent extends GcIntent {
  readonly key: string;
  readonly at: number;
}

const ROOT = 'gc/intents';
const BUCKET_MS = 10 * 60_000;
const bucketOf = (ms: number) => String(Math.floor(ms / BUCKET_MS)).padStart(10, '0');

/** Writes and reads the journal of one store. */
export class GcJournal {
  readonly #store: BlobStore;
  readonly #now: () => number;
  /** Intents read so far, by key (only a reading instance, the collector's, fills it). */
  readonly #seen = new Map<string, RecordedIntent>();

  constructor(store: BlobStore, now: () => number = Date.now) {
    this.#store = store;
    this.#now = now;
  }

  /** Records `intent` (one small document). Call before checking what it references. */
  async record(intent: GcIntent): Promise<void> {
    const at = this.#now();
    const key = `${ROOT}/${bucketOf(at)}/${at}-${randomBytes(6).toString('hex')}`;
    await this.#store.putMeta(key, JSON.stringify(intent));
  }

  /**
   * Every intent recorded at `since` or later (by the writer's clock). An intent is immutable, so
   * one journal instance fetches each only once: a pass reads the journal several times, and
   * each later read costs the listings plus what was recorded since.
   */
  async read(since: number): Promise<RecordedIntent[]> {
    const first = bucketOf(since);
    const buckets = (await this.#store.listMeta(ROOT)).filter((bucket) => bucket >= first);
    const out: RecordedIntent[] = [];
    for (const bucket of buckets) {
      const names = (await this.#store.listMeta(`${ROOT}/${bucket}`)).filter((name) => timeOf(name) >= since);
      const unseen = names.filter((name) => !this.#seen.has(`${ROOT}/${bucket}/${name}`));
      const docs = await mapLimit(unseen, 16, (name) => this.#store.getMeta(`${ROOT}/${bucket}/${name}`));
      unseen.forEach((name, i) => {
        const intent = parseIntent(docs[i]);
        const key = `${ROOT}/${bucket}/${name}`;
        if (intent !== undefined) this.#seen.set(key, { ...intent, key, at: timeOf(name) });
      });
      for (const name of names) {
        const intent = this.#seen.get(`${ROOT}/${bucket}/${name}`);
        if (intent !== undefined) out.push(intent);
      }
    }
    return out;
  }

  /** Deletes the buckets that end before `before`; returns how many intents went. */
  async prune(before: number): Promise<number> {
    const keepFrom = bucketOf(before);
    let removed = 0;
    for (const bucket of await this.#store.listMeta(ROOT)) {
      if (bucket >= keepFrom) continue;
      const names = await this.#store.listMeta(`${ROOT}/${bucket}`);
      await mapLimit(names, 16, (name) => this.#store.deleteMeta(`${ROOT}/${bucket}/${name}`));
      removed += names.length;
    }
    return removed;
  }
}

/** The epoch ms in an intent's name (`<ms>-<random>`); NaN for a foreign name, never at or after a time. */
const timeOf = (name: string) => Number(name.split('-')[0]);

function parseIntent(doc: Buffer | undefined): GcIntent | undefined {
  if (doc === undefined) return undefined;
  try {
    const value = JSON.parse(doc.toString('utf8')) as Partial<GcIntent>;
    if (typeof value.repository !== 'string' || typeof value.image !== 'string') return undefined;
    return {
      repository: value.repository,
      image: value.image,
      blobs: Array.isArray(value.blobs) ? value.blobs.filter((d) => typeof d === 'string') : [],
      manifests: Array.isArray(value.manifests) ? value.manifests.filter((d) => typeof d === 'string') : [],
      ...(typeof value.tag === 'string' ? { tag: value.tag } : {}),
    };
  } catch {
    return undefined; // torn by a crash mid-write: it protected nothing that finished
  }
}
