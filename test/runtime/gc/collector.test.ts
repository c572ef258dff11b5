import { Readable } from 'node:stream';
import { buffer as readAll } from 'node:stream/consumers';
import type { FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import type { HostedRepositoryPlan } from '../../../compiler/plan.ts';
import { collectGarbage, type GcOptions } from '../../../runtime/gc/collector.ts';
import { GcLease } from '../../../runtime/gc/lease.ts';
import { createHostedRepository, type HostedRepository } from '../../../runtime/repositories/hosted/hosted.ts';
import { ProxyCache } from '../../../runtime/repositories/proxy/cache-records.ts';
import type { BlobStore } from '../../../runtime/storage/blob-store.ts';
import { createMemoryBlobStore } from '../../../runtime/storage/drivers/memory.ts';
import { hostedPlan } from '../../helpers/hosted-plan.ts';
import { OCI_INDEX, OCI_MANIFEST, pushBlob, pushImage, sha256 } from '../../suites/repository.ts';

const log = pino({ level: 'silent' }) as unknown as FastifyBaseLogger;
const HOUR = 3_600_000;

/** One clock for the store, the repository and the collector; tests move it forward. */
const clock = { offset: 0, now: () => Date.now() + clock.offset };
const newStore = (name = 'default') => createMemoryBlobStore({ name, now: clock.now });
beforeEach(() => {
  clock.offset = 0;
});

function hosted(store: BlobStore, extra: Partial<HostedRepositoryPlan> = {}): HostedRepository {
  return createHostedRepository(hostedPlan(extra), { store, log, now: clock.now });
}

/** A pass `aheadMs` from now (the clock moves there): whatever exists now is that old. */
const later = (aheadMs: number, extra: Partial<GcOptions> = {}): GcOptions => {
  clock.offset += aheadMs;
  return { gracePeriodMs: HOUR, settleMs: 0, now: clock.now, ...extra };
};

async function blobsOf(store: BlobStore): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const blob of store.listBlobs()) out.add(blob.digest);
  return out;
}

async function pullsWhole(repository: HostedRepository, image: string, tag: string): Promise<boolean> {
  const manifest = await repository.getManifest(image, tag);
  const doc = JSON.parse(manifest.body.toString('utf8')) as {
    config: { digest: string };
    layers: { digest: string }[];
  };
  for (const digest of [doc.config.digest, ...doc.layers.map((l) => l.digest)]) {
    const blob = await repository.getBlob(image, digest);
    if (!('stream' in blob.body)) return false;
    if (sha256(await readAll(blob.body.stream)) !== digest) return false;
  }
  return true;
}

describe('garbage collection: mark and sweep', () => {
  it('deleting one of two images sharing a layer reclaims exactly its unique blobs', async () => {
    const store = newStore();
    const repo = hosted(store);
    const a = await pushImage(repo, 'app', 'a', ['shared-layer', 'only-in-a-1', 'only-in-a-2']);
    await pushImage(repo, 'app', 'b', ['shared-layer', 'only-in-b']);
    await repo.deleteManifest('app', a.digest);
    const before = await blobsOf(store);

    const report = await collectGarbage(store, later(2 * HOUR));

    const after = await blobsOf(store);
    const gone = [...before].filter((d) => !after.has(d)).sort();
    // the config is shared too (both images have the same one)
    expect(gone).toEqual([a.digest, sha256('only-in-a-1'), sha256('only-in-a-2')].sort());
    expect(report.deleted.blobs.map((b) => b.digest).sort()).toEqual(gone);
    expect(report.reclaimedBytes).toBe(a.body.length + 'only-in-a-1'.length + 'only-in-a-2'.length);
    expect(after.has(sha256('shared-layer'))).toBe(true);
    expect(await pullsWhole(repo, 'app', 'b')).toBe(true);
    expect(report.scanned).toMatchObject({ blobs: before.size, repositories: 1, images: 1, tags: 1, manifests: 1 });
    // the unused layer links went too: the blobs are no longer part of the image
    expect(report.deleted.layerLinks).toBe(2);
    await expect(repo.statBlob('app', sha256('only-in-a-1'))).rejects.toMatchObject({ code: 'BLOB_UNKNOWN' });
  });

  it('a dry run deletes nothing and reports what a real pass deletes', async () => {
    const store = newStore();
    const repo = hosted(store);
    const a = await pushImage(repo, 'app', 'a', ['x1', 'x2']);
    await pushImage(repo, 'app', 'b', ['y1']);
    await repo.deleteManifest('app', 'a');
    const before = await blobsOf(store);
    const dry = await collectGarbage(store, later(2 * HOUR, { dryRun: true }));
    expect(await blobsOf(store)).toEqual(before);
    expect(dry.dryRun).toBe(true);
    expect(dry.deleted.manifests.map((m) => m.digest)).toEqual([a.digest]);
    const real = await collectGarbage(store, later(2 * HOUR));
    expect(real.deleted.blobs.map((b) => b.digest).sort()).toEqual(dry.deleted.blobs.map((b) => b.digest).sort());
    expect(real.deleted.manifests).toEqual(dry.deleted.manifests);
    expect(real.reclaimedBytes).toBe(dry.reclaimedBytes);
    await expect(repo.getManifest('app', a.digest)).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
  });

  it('spares everything younger than the grace period, untagged or not', async () => {
    const store = newStore();
    const repo = hosted(store);
    const untagged = await pushImage(repo, 'app', 'tmp', ['fresh']);
    await repo.deleteManifest('app', 'tmp'); // the tag only: the manifest stays, untagged
    await pushBlob(repo, 'app', 'uploaded, not yet in a manifest');
    const before = await blobsOf(store);
    const young = await collectGarbage(store, later(30 * 60_000));
    expect(young.deleted.blobs).toEqual([]);
    expect(await blobsOf(store)).toEqual(before);
    expect((await repo.getManifest('app', untagged.digest)).digest).toBe(untagged.digest);
    const old = await collectGarbage(store, later(2 * HOUR));
    expect(old.deleted.manifests.map((m) => m.digest)).toEqual([untagged.digest]);
    expect(await blobsOf(store)).toEqual(new Set());
  });

  it('a tagged index keeps its children and their layers; referrers stay with their subject', async () => {
    const store = newStore();
    const repo = hosted(store);
    const amd = await pushImage(repo, 'app', sha256('x'), ['amd-layer']).catch(() => undefined);
    expect(amd).toBeUndefined(); // a digest reference must match: push children by their own digest below
    const child1 = await pushImage(repo, 'app', 'c1', ['amd-layer']);
    const child2 = await pushImage(repo, 'app', 'c2', ['arm-layer']);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          {
            mediaType: OCI_MANIFEST,
            digest: child1.digest,
            size: child1.body.length,
            platform: { os: 'linux', architecture: 'amd64' },
          },
          {
            mediaType: OCI_MANIFEST,
            digest: child2.digest,
            size: child2.body.length,
            platform: { os: 'linux', architecture: 'arm64' },
          },
        ],
      }),
    );
    await repo.putManifest('app', 'multi', index, OCI_INDEX);
    await repo.deleteManifest('app', 'c1');
    await repo.deleteManifest('app', 'c2');
    const signature = await pushImage(repo, 'app', 'sig', ['signature-bytes'], {
      subject: { mediaType: OCI_MANIFEST, digest: child1.digest, size: child1.body.length },
    });
    await repo.deleteManifest('app', 'sig'); // untagged: kept only because its subject is
    const before = await blobsOf(store);
    const report = await collectGarbage(store, later(2 * HOUR));
    expect(report.deleted.blobs).toEqual([]);
    expect(await blobsOf(store)).toEqual(before);
    expect(await pullsWhole(repo, 'app', child1.digest)).toBe(true);
    expect((await repo.listReferrers('app', child1.digest)).map((r) => r.digest)).toEqual([signature.digest]);

    await repo.deleteManifest('app', 'multi');
    const second = await collectGarbage(store, later(2 * HOUR));
    expect(await blobsOf(store)).toEqual(new Set());
    expect(second.deleted.manifests.length).toBe(4); // index, two children, the signature
  });

  it('keeps what a proxy cache records, and repositories no longer configured', async () => {
    const store = newStore();
    const cached = Buffer.from('a cached upstream layer');
    await store.putBlob(sha256(cached), Readable.from([cached]));
    await new ProxyCache(store, 'hub').linkBlob('library/alpine', sha256(cached));
    const removed = hosted(store, { name: 'gone-from-config' });
    await pushImage(removed, 'old', 'v1', ['still-needed']);
    const report = await collectGarbage(store, later(2 * HOUR));
    expect(report.deleted.blobs).toEqual([]);
    expect(report.scanned.cacheRecords).toBe(1);
    expect((await blobsOf(store)).has(sha256(cached))).toBe(true);
  });
});

describe('garbage collection: races with pushes', () => {
  async function garbage(repo: HostedRepository) {
    const image = await pushImage(repo, 'app', 'v1', ['layer-1', 'layer-2']);
    await repo.deleteManifest('app', image.digest); // everything of it is garbage now
    return image;
  }

  it('a re-push of garbage content after the mark keeps a complete image', async () => {
    const store = newStore();
    const repo = hosted(store);
    const image = await garbage(repo);
    const report = await collectGarbage(store, {
      ...later(2 * HOUR),
      hooks: {
        afterMark: async () => {
          // the client HEADs the blobs (present), uploads nothing, and pushes the manifest again
          await repo.putManifest('app', 'v1', image.body, OCI_MANIFEST);
        },
      },
    });
    expect(report.deleted.blobs).toEqual([]);
    expect(await pullsWhole(repo, 'app', 'v1')).toBe(true);
  });

  it('an image pushed just before the quarantine pulls whole while the pass settles', async () => {
    const store = newStore();
    const repo = hosted(store);
    const image = await garbage(repo);
    let pushed = false;
    // the push lands after the pass's last journal read before it takes things out of sight
    const racing = new Proxy(store, {
      get(target, key) {
        const value = Reflect.get(target, key, target);
        if (key !== 'quarantineBlob') return typeof value === 'function' ? value.bind(target) : value;
        return async (digest: string) => {
          if (!pushed) {
            pushed = true;
            await repo.putManifest('app', 'v1', image.body, OCI_MANIFEST);
          }
          return target.quarantineBlob(digest as `sha256:${string}`);
        };
      },
    });
    let quarantined!: () => void;
    const quarantineDone = new Promise<void>((resolve) => {
      quarantined = resolve;
    });
    const running = collectGarbage(racing, {
      ...later(2 * HOUR, { settleMs: 2_000 }),
      hooks: { afterQuarantine: async () => quarantined() },
    });
    await quarantineDone;
    await new Promise((resolve) => setTimeout(resolve, 200)); // well inside the 2 s settle
    expect(await pullsWhole(repo, 'app', 'v1').catch(() => false)).toBe(true);
    const report = await running;
    expect(pushed).toBe(true);
    expect(report.deleted.blobs).toEqual([]);
    expect(report.restored.blobs).toBeGreaterThan(0);
  });

  it('a push after the quarantine restores what it references itself', async () => {
    const store = newStore();
    const repo = hosted(store);
    const image = await garbage(repo);
    let pushed = false;
    await collectGarbage(store, {
      ...later(2 * HOUR),
      hooks: {
        afterQuarantine: async () => {
          expect(await store.stat(sha256('layer-1'))).toBeUndefined(); // really out of sight
          // layer links are held too: the push restores links and blobs, then its intent is seen
          await repo.putManifest('app', 'v1', image.body, OCI_MANIFEST);
          pushed = true;
        },
      },
    });
    expect(pushed).toBe(true);
    expect(await pullsWhole(repo, 'app', 'v1')).toBe(true);
    expect(await collectGarbage(store, later(0))).toMatchObject({ deleted: { blobs: [] } });
  });

  it('a push whose intent the pass cannot see any more restores blobs from quarantine', async () => {
    const store = newStore();
    const repo = hosted(store);
    const image = await garbage(repo);
    const layer = sha256('layer-1');
    await store.quarantineBlob(layer); // as a pass would, between its journal read and its purge
    await repo.putManifest('app', 'v1', image.body, OCI_MANIFEST);
    expect(await store.stat(layer)).toEqual({ digest: layer, size: 7 });
    expect(await pullsWhole(repo, 'app', 'v1')).toBe(true);
  });

  it('a push of content already purged fails cleanly and links nothing', async () => {
    const store = newStore();
    const repo = hosted(store);
    const image = await garbage(repo);
    await collectGarbage(store, later(2 * HOUR));
    await expect(repo.putManifest('app', 'v1', image.body, OCI_MANIFEST)).rejects.toMatchObject({
      code: 'MANIFEST_BLOB_UNKNOWN',
    });
    await expect(repo.getManifest('app', 'v1')).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN' });
  });

  it('an upload committed during the pass survives it', async () => {
    const store = newStore();
    const repo = hosted(store);
    await garbage(repo);
    await collectGarbage(store, {
      ...later(2 * HOUR),
      hooks: {
        afterQuarantine: async () => {
          await pushImage(repo, 'app', 'v2', ['layer-1', 'new-layer']);
        },
      },
    });
    expect(await pullsWhole(repo, 'app', 'v2')).toBe(true);
  });
});

describe('garbage collection: one collector per store', () => {
  it('a second pass while one holds the lease is skipped and says by whom', async () => {
    const store = newStore();
    const held = await GcLease.acquire(store, { holder: 'replica-a' });
    expect(held).toBeInstanceOf(GcLease);
    const report = await collectGarbage(store, later(0));
    expect(report.skipped?.heldBy.holder).toBe('replica-a');
    await (held as GcLease).release();
    expect((await collectGarbage(store, later(0))).skipped).toBeUndefined();
  });

  it('a lease whose holder stopped renewing expires', async () => {
    const store = newStore();
    await store.putMeta('gc/lease', JSON.stringify({ holder: 'crashed', expiresAt: Date.now() - 1 }));
    const lease = await GcLease.acquire(store, { holder: 'me' });
    expect(lease).toBeInstanceOf(GcLease);
    await (lease as GcLease).release();
  });

  it('a holder that lost its lease notices at its next renewal', async () => {
    const store = newStore();
    const lease = (await GcLease.acquire(store, { holder: 'slow', ttlMs: 60_000 })) as GcLease;
    await store.putMeta('gc/lease', JSON.stringify({ holder: 'usurper', expiresAt: Date.now() + 60_000 }));
    expect(await lease.renew()).toBe(false);
    expect(lease.lost).toBe(true);
    await lease.release();
    expect(JSON.parse((await store.getMeta('gc/lease'))!.toString()).holder).toBe('usurper');
  });

  it('a pass puts back what an interrupted pass left in quarantine or held', async () => {
    const store = newStore();
    const repo = hosted(store);
    await pushImage(repo, 'app', 'v1', ['kept']);
    const tagKey = 'repositories/private/images/app/_tags/v1';
    const tagDoc = (await store.getMeta(tagKey))!;
    // a crash after step 4 and 5: the tag held, a layer quarantined
    await store.putMeta(`gc/held/${tagKey}`, tagDoc);
    await store.deleteMeta(tagKey);
    await store.quarantineBlob(sha256('kept'));
    const report = await collectGarbage(store, later(2 * HOUR));
    expect(report.recovered).toEqual({ blobs: 1, documents: 1 });
    expect(report.deleted.blobs).toEqual([]);
    expect(await pullsWhole(repo, 'app', 'v1')).toBe(true);
  });
});

describe('garbage collection: cleanup rules', () => {
  it('removes exactly the tags the dry run listed, and what only they referenced', async () => {
    const store = newStore();
    const repo = hosted(store);
    for (let i = 1; i <= 5; i++) {
      await pushImage(repo, 'app', `nightly-${i}`, [`nightly-layer-${i}`]);
      clock.offset += 60_000; // pushed a minute apart
    }
    await pushImage(repo, 'app', 'v1.0', ['release-layer']);
    const cleanup = new Map([['private', [{ tags: '^nightly-', keep: 2 }]]]);
    const dry = await collectGarbage(store, later(2 * HOUR, { cleanup, dryRun: true }));
    expect(dry.deleted.tags.map((t) => t.tag)).toEqual(['nightly-1', 'nightly-2', 'nightly-3']);
    expect(dry.deleted.tags[0]?.reason).toBe('cleanup[0]: not among the 2 newest tags matching ^nightly-');
    const real = await collectGarbage(store, { gracePeriodMs: HOUR, settleMs: 0, now: clock.now, cleanup });
    expect(real.deleted.tags).toEqual(dry.deleted.tags);
    expect((await repo.listTags('app')).sort()).toEqual(['nightly-4', 'nightly-5', 'v1.0']);
    const left = await blobsOf(store);
    expect(left.has(sha256('nightly-layer-1'))).toBe(false);
    expect(left.has(sha256('nightly-layer-4'))).toBe(true);
    expect(await pullsWhole(repo, 'app', 'nightly-5')).toBe(true);
  });

  it('a tag moved by a push racing the pass keeps the pushed digest', async () => {
    const store = newStore();
    const repo = hosted(store);
    await pushImage(repo, 'app', 'nightly-1', ['a']);
    clock.offset += 60_000;
    await pushImage(repo, 'app', 'nightly-2', ['b']);
    const cleanup = new Map([['private', [{ tags: '^nightly-', keep: 1 }]]]);
    let moved: string | undefined;
    await collectGarbage(store, {
      ...later(2 * HOUR, { cleanup }),
      hooks: {
        afterMark: async () => {
          moved = (await pushImage(repo, 'app', 'nightly-1', ['c'])).digest; // re-pushed meanwhile
        },
      },
    });
    expect((await repo.getManifest('app', 'nightly-1')).digest).toBe(moved);
    expect(await pullsWhole(repo, 'app', 'nightly-1')).toBe(true);
  });
});
