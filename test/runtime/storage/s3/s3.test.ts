/**
 * What the s3 driver promises beyond the shared BlobStore suite, against a real Ceph RADOS Gateway:
 * replicas sharing a bucket (sessions hopping between store instances), the re-hash path, the
 * multipart layout, verification before visibility, conditional session writes, presigned
 * redirects, the sweep of abandoned uploads (also while another replica streams into one), the
 * upload cap across replicas, and error translation.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { S3BlobStorePlan } from '../../../../compiler/plan.ts';
import { createS3BlobStore, type S3BlobStore } from '../../../../runtime/storage/drivers/s3/s3.ts';
import { isStorageError } from '../../../../runtime/storage/errors.ts';
import { type CephS3, s3StorePlan, startCeph } from '../../../helpers/ceph.ts';

const MiB = 1024 * 1024;
let ceph: CephS3;
let raw: S3Client;
const stores: S3BlobStore[] = [];

beforeAll(async () => {
  ceph = await startCeph();
  raw = new S3Client({
    region: ceph.region,
    endpoint: ceph.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: ceph.accessKeyId, secretAccessKey: ceph.secretAccessKey },
  });
}, 180_000);

afterAll(async () => {
  for (const store of stores) await store.close();
  raw?.destroy();
  await ceph?.stop();
}, 60_000);

async function open(plan: S3BlobStorePlan = s3StorePlan()): Promise<S3BlobStore> {
  const store = await createS3BlobStore(plan, { env: ceph.env, sweepIntervalMs: 0 });
  stores.push(store);
  return store;
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

async function text(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function keysUnder(prefix: string): Promise<string[]> {
  const page = await raw.send(new ListObjectsV2Command({ Bucket: ceph.bucket, Prefix: `${prefix}/` }));
  return (page.Contents ?? []).map((object) => object.Key!.slice(prefix.length + 1)).sort();
}

describe('s3 driver on Ceph RGW', () => {
  it('keeps blobs at <prefix>/blobs/sha256/<hex> and metadata under <prefix>/meta', async () => {
    const plan = s3StorePlan();
    const store = await open(plan);
    const data = randomBytes(1000);
    await store.putBlob(sha256(data), Readable.from([data]), data.length);
    await store.putMeta('repos/app/tags/latest', 'x');
    expect(await keysUnder(plan.prefix)).toEqual([
      `blobs/sha256/${sha256(data).slice(7)}`,
      'meta/repos/app/tags/latest',
    ]);
    expect(await store.listMeta('repos/app')).toEqual(['tags']);
  });

  it('a chunked upload alternating between two replicas completes, via the re-hash path', async () => {
    const plan = s3StorePlan();
    const [a, b] = [await open(plan), await open(plan)];
    const data = randomBytes(13 * MiB + 123);
    const cuts = [0, 3 * MiB, 7 * MiB + 5, 9 * MiB, 12 * MiB, data.length];
    const session = await a.createUpload({ repository: 'r' });
    for (let i = 0; i + 1 < cuts.length; i++) {
      const replica = i % 2 === 0 ? b : a;
      const state = await replica.appendUpload(
        session.id,
        cuts[i]!,
        Readable.from([data.subarray(cuts[i], cuts[i + 1])]),
      );
      expect(state.offset).toBe(cuts[i + 1]);
      expect((await (i % 2 === 0 ? a : b).getUpload(session.id))?.offset).toBe(cuts[i + 1]);
    }
    const info = await a.commitUpload(session.id, sha256(data), data.length);
    expect(info).toEqual({ digest: sha256(data), size: data.length });
    expect((await text(await b.read(sha256(data)))).equals(data)).toBe(true);
    expect(await a.getUpload(session.id)).toBeUndefined();
    // nothing of the session remains: no objects, no multipart upload
    expect((await keysUnder(plan.prefix)).filter((key) => key.startsWith('uploads/'))).toEqual([]);
    const multipart = await raw.send(
      new ListMultipartUploadsCommand({ Bucket: ceph.bucket, Prefix: `${plan.prefix}/` }),
    );
    expect(multipart.Uploads ?? []).toEqual([]);
  });

  it('a session on one replica detects a digest mismatch before anything becomes visible', async () => {
    const plan = s3StorePlan();
    const [a, b] = [await open(plan), await open(plan)];
    const data = randomBytes(6 * MiB);
    const wrong = sha256(Buffer.from('something else'));
    for (const committer of [a, b]) {
      const session = await a.createUpload(null);
      await a.appendUpload(session.id, 0, Readable.from([data]));
      const error = await committer.commitUpload(session.id, wrong).catch((caught) => caught);
      expect(isStorageError(error, 'STORAGE_DIGEST_MISMATCH')).toBe(true);
      expect(await a.stat(wrong)).toBeUndefined();
      expect(await a.getUpload(session.id)).toBeUndefined();
    }
    expect(await keysUnder(plan.prefix)).toEqual([]);
  });

  it('streams a 40 MiB putBlob as parts and verifies it before completing', async () => {
    const store = await open();
    const data = randomBytes(40 * MiB);
    const info = await store.putBlob(sha256(data), Readable.from(chunksOf(data, 64 * 1024)), data.length);
    expect(info.size).toBe(data.length);
    const range = await text(await store.read(sha256(data), { start: 10 * MiB - 3, end: 10 * MiB + 2 }));
    expect(range.equals(data.subarray(10 * MiB - 3, 10 * MiB + 3))).toBe(true);
    const bad = randomBytes(12 * MiB);
    const error = await store.putBlob(sha256(data.subarray(0, 10)), Readable.from([bad])).catch((caught) => caught);
    expect(isStorageError(error, 'STORAGE_DIGEST_MISMATCH')).toBe(true);
    expect(await store.stat(sha256(data.subarray(0, 10)))).toBeUndefined();
  });

  it('of two appends racing at one offset, exactly one is recorded', async () => {
    const plan = s3StorePlan();
    const [a, b] = [await open(plan), await open(plan)];
    const session = await a.createUpload(null);
    const results = await Promise.allSettled([
      a.appendUpload(session.id, 0, Readable.from([Buffer.alloc(1000, 1)])),
      b.appendUpload(session.id, 0, Readable.from([Buffer.alloc(1000, 2)])),
    ]);
    // Whether they overlap or not, only one append can start at offset 0.
    const won = results.flatMap((result, index) => (result.status === 'fulfilled' ? [index] : []));
    expect(won).toHaveLength(1);
    const lost = results.find((result) => result.status === 'rejected') as PromiseRejectedResult;
    expect(isStorageError(lost.reason, 'STORAGE_UPLOAD_OFFSET')).toBe(true);
    expect((await a.getUpload(session.id))?.offset).toBe(1000);
    const winner = Buffer.alloc(1000, won[0] === 0 ? 1 : 2);
    expect(await b.commitUpload(session.id, sha256(winner), 1000)).toEqual({ digest: sha256(winner), size: 1000 });
    expect((await text(await a.read(sha256(winner)))).equals(winner)).toBe(true);
  });

  it('on one replica, a second append or a commit during an append is refused at once', async () => {
    const store = await open();
    const session = await store.createUpload(null);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    async function* slow() {
      yield Buffer.alloc(10, 1);
      await gate;
      yield Buffer.alloc(10, 2);
    }
    const first = store.appendUpload(session.id, 0, Readable.from(slow()));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const second = await store.appendUpload(session.id, 0, Readable.from([Buffer.alloc(5)])).catch((error) => error);
    expect(isStorageError(second, 'STORAGE_UPLOAD_OFFSET')).toBe(true);
    const commit = await store.commitUpload(session.id, sha256(Buffer.alloc(0))).catch((error) => error);
    expect(isStorageError(commit, 'STORAGE_UPLOAD_OFFSET')).toBe(true);
    release();
    expect((await first).offset).toBe(20);
    const whole = Buffer.concat([Buffer.alloc(10, 1), Buffer.alloc(10, 2)]);
    expect((await store.commitUpload(session.id, sha256(whole))).size).toBe(20);
  });

  it('a body that breaks midway keeps the bytes received', async () => {
    const store = await open();
    const session = await store.createUpload(null);
    const first = randomBytes(6 * MiB);
    async function* broken() {
      yield first;
      throw new Error('client went away');
    }
    await expect(store.appendUpload(session.id, 0, Readable.from(broken()))).rejects.toThrow('client went away');
    expect((await store.getUpload(session.id))?.offset).toBe(first.length);
    const rest = randomBytes(100);
    await store.appendUpload(session.id, first.length, Readable.from([rest]));
    const whole = Buffer.concat([first, rest]);
    expect((await store.commitUpload(session.id, sha256(whole))).size).toBe(whole.length);
  });

  it('sweeps abandoned sessions and aborts their multipart uploads, and those of crashed writers', async () => {
    const plan = s3StorePlan();
    const store = await open(plan);
    const session = await store.createUpload(null);
    await store.appendUpload(session.id, 0, Readable.from([randomBytes(5 * MiB + 10)]));
    // A writer that crashed after starting a multipart upload it never recorded:
    await raw.send(
      new CreateMultipartUploadCommand({ Bucket: ceph.bucket, Key: `${plan.prefix}/blobs/sha256/${'0'.repeat(64)}` }),
    );
    // ... and an append that crashed after starting its session's first part, on a session gone since.
    const gone = 'f'.repeat(32);
    await raw.send(
      new CreateMultipartUploadCommand({ Bucket: ceph.bucket, Key: `${plan.prefix}/uploads/${gone}/data` }),
    );
    expect(await store.sweepUploads()).toEqual({ sessions: 0, multipart: 0 });
    // Past the 1h upload timeout: the idle session goes, with its multipart upload, and the one of the gone session.
    expect(await store.sweepUploads(Date.now() + 2 * 3600_000)).toEqual({ sessions: 1, multipart: 1 });
    expect(await store.getUpload(session.id)).toBeUndefined();
    const left = await raw.send(new ListMultipartUploadsCommand({ Bucket: ceph.bucket, Prefix: `${plan.prefix}/` }));
    expect((left.Uploads ?? []).map((upload) => upload.Key)).toEqual([`${plan.prefix}/blobs/sha256/${'0'.repeat(64)}`]);
    // A whole-blob write's multipart upload is left for a day: a slow proxy fill may still be at it.
    expect(await store.sweepUploads(Date.now() + 25 * 3600_000)).toEqual({ sessions: 0, multipart: 1 });
    const none = await raw.send(new ListMultipartUploadsCommand({ Bucket: ceph.bucket, Prefix: `${plan.prefix}/` }));
    expect(none.Uploads ?? []).toEqual([]);
    expect(await keysUnder(plan.prefix)).toEqual([]);
  });

  it('leaves the multipart upload of a session whose document cannot be read now alone', async () => {
    const plan = s3StorePlan();
    const store = await open(plan);
    const session = await store.createUpload(null);
    await store.appendUpload(session.id, 0, Readable.from([randomBytes(5 * MiB + 10)]));
    await raw.send(
      new PutObjectCommand({
        Bucket: ceph.bucket,
        Key: `${plan.prefix}/uploads/${session.id}/session.json`,
        Body: '{',
      }),
    );
    expect(await store.sweepUploads(Date.now() + 2 * 3600_000)).toEqual({ sessions: 0, multipart: 0 });
    const left = await raw.send(new ListMultipartUploadsCommand({ Bucket: ceph.bucket, Prefix: `${plan.prefix}/` }));
    expect((left.Uploads ?? []).map((upload) => upload.Key)).toEqual([`${plan.prefix}/uploads/${session.id}/data`]);
  });

  it("keeps a session another replica streams into alive for every replica's sweep, however long the append", async () => {
    const plan = s3StorePlan({ uploads: { timeoutMs: 1200, maxBytes: null } });
    const writer = await open(plan);
    const sweeper = await open(plan);
    const session = await writer.createUpload(null);
    // 2.4 s for one append, twice the timeout: the writer rewrites activeAt every 300 ms meanwhile.
    const pieces = Array.from({ length: 24 }, () => randomBytes(64 * 1024));
    let sent = 0;
    const body = new Readable({
      read() {
        if (sent === pieces.length) this.push(null);
        else setTimeout(() => this.push(pieces[sent++]), 100);
      },
    });
    const appending = writer.appendUpload(session.id, 0, body);
    const swept: number[] = [];
    for (let i = 0; i < 6; i++) {
      await new Promise((resolve) => setTimeout(resolve, 400));
      swept.push((await sweeper.sweepUploads()).sessions);
    }
    const whole = Buffer.concat(pieces);
    expect((await appending).offset).toBe(whole.length);
    expect(swept).toEqual([0, 0, 0, 0, 0, 0]);
    expect((await writer.commitUpload(session.id, sha256(whole))).size).toBe(whole.length);
    // Idle afterwards, the other replica's sweep deletes a session as usual.
    const idle = await writer.createUpload(null);
    expect((await sweeper.sweepUploads(Date.now() + 2000)).sessions).toBe(1);
    expect(await writer.getUpload(idle.id)).toBeUndefined();
  });

  it("counts another replica's sessions against the cap once its sweep has seen them", async () => {
    const plan = s3StorePlan({ uploads: { timeoutMs: 3_600_000, maxBytes: 1000 } });
    const a = await open(plan);
    const b = await open(plan);
    const session = await a.createUpload(null);
    await a.appendUpload(session.id, 0, Readable.from([randomBytes(800)]));
    expect(a.uploadBudget.inProgressBytes).toBe(800);
    expect(b.uploadBudget.inProgressBytes).toBe(0); // not yet seen
    await b.sweepUploads();
    expect(b.uploadBudget.inProgressBytes).toBe(800);
    const other = await b.createUpload(null);
    const refused = await b.appendUpload(other.id, 0, Readable.from([randomBytes(300)])).catch((error) => error);
    expect(isStorageError(refused, 'STORAGE_UPLOAD_LIMIT')).toBe(true);
    expect((await b.getUpload(other.id))?.offset).toBe(0);
    // a's session finishes (cancelled here): b sees the room after its next sweep.
    await a.cancelUpload(session.id);
    await b.sweepUploads();
    expect(b.uploadBudget.inProgressBytes).toBe(0);
    expect((await b.appendUpload(other.id, 0, Readable.from([randomBytes(300)]))).offset).toBe(300);
  });

  it('answers with a presigned URL that fetches the blob', async () => {
    const store = await open(s3StorePlan({ redirect: true }));
    const data = randomBytes(2048);
    await store.putBlob(sha256(data), Readable.from([data]));
    const url = await store.redirectUrl(sha256(data));
    expect(url).toMatch(/X-Amz-Signature=/);
    const response = await fetch(url!);
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer()).equals(data)).toBe(true);
    expect(await (await open()).redirectUrl(sha256(data))).toBeUndefined();
  });

  it('two replicas writing one tag concurrently end with one value everywhere', async () => {
    const plan = s3StorePlan();
    const [a, b] = [await open(plan), await open(plan)];
    const writes = [];
    for (let i = 0; i < 20; i++) writes.push((i % 2 === 0 ? a : b).putMeta('images/app/tags/latest', `value-${i}`));
    await Promise.all(writes);
    const seenByA = (await a.getMeta('images/app/tags/latest'))?.toString();
    const seenByB = (await b.getMeta('images/app/tags/latest'))?.toString();
    expect(seenByA).toMatch(/^value-\d+$/);
    expect(seenByB).toBe(seenByA);
  });

  it('putMetaIf is a compare-and-swap: concurrent increments from two replicas lose nothing', async () => {
    const plan = s3StorePlan();
    const [a, b] = [await open(plan), await open(plan)];
    expect(await a.putMetaIf('counter', '0', null)).toBe(true);
    expect(await b.putMetaIf('counter', '0', null)).toBe(false); // exists already
    async function increment(store: S3BlobStore, times: number): Promise<number> {
      let conflicts = 0;
      for (let done = 0; done < times; ) {
        const current = (await store.getMetaVersioned('counter'))!;
        const next = String(Number(current.value.toString()) + 1);
        if (await store.putMetaIf('counter', next, current.version)) done++;
        else conflicts++;
        if (conflicts > 500) throw new Error('no progress');
      }
      return conflicts;
    }
    await Promise.all([increment(a, 15), increment(b, 15)]);
    expect((await a.getMeta('counter'))?.toString()).toBe('30');
  });

  it('fails at creation with STORAGE_IO for a missing bucket or wrong keys', async () => {
    const missing = await createS3BlobStore(s3StorePlan({ bucket: 'no-such-bucket-here' }), { env: ceph.env }).catch(
      (e) => e,
    );
    expect(isStorageError(missing, 'STORAGE_IO')).toBe(true);
    const env = { ...ceph.env, S3_SECRET_KEY: 'wrong' };
    const denied = await createS3BlobStore(s3StorePlan(), { env }).catch((e) => e);
    expect(isStorageError(denied, 'STORAGE_IO')).toBe(true);
    const unset = await createS3BlobStore(s3StorePlan(), { env: {} }).catch((e) => e);
    expect(String(unset.message)).toMatch(/S3_BUCKET is not set/);
  });
});

function chunksOf(data: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += size) chunks.push(data.subarray(offset, offset + size));
  return chunks;
}
