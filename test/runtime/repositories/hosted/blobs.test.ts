import { Readable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { HostedRepositoryPlan } from '../../../../compiler/plan.ts';
import { MAX_MANIFEST_BYTES } from '../../../../runtime/oci/manifest.ts';
import { createHostedRepository } from '../../../../runtime/repositories/hosted/hosted.ts';
import { openHostedMetadata } from '../../../../runtime/repositories/hosted/metadata.ts';
import type { BlobStore } from '../../../../runtime/storage/blob-store.ts';
import { createFileBlobStore } from '../../../../runtime/storage/drivers/file/file.ts';
import { createMemoryBlobStore } from '../../../../runtime/storage/drivers/memory.ts';
import { StorageError } from '../../../../runtime/storage/errors.ts';
import { TmpDirs } from '../../../helpers/tmp.ts';
import { OCI_MANIFEST, pushBlob, pushImage, readAll, rejection, sha256 } from '../../../suites/repository.ts';

const silent = pino({ level: 'silent' }) as unknown as FastifyBaseLogger;
const dirs = new TmpDirs();
afterAll(() => dirs.cleanup());

function hosted(store: BlobStore, name = 'private', log = silent) {
  const plan: HostedRepositoryPlan = {
    name,
    type: 'hosted',
    online: true,
    blobStore: store.name,
    access: { anonymous: [] },
    deploymentPolicy: 'allowRedeploy',
  };
  return createHostedRepository(plan, { store, log });
}

/** `store` with some methods replaced; the others stay bound to the real store (its #private fields). */
function withOverrides(store: BlobStore, overrides: Partial<BlobStore>): BlobStore {
  return new Proxy(store, {
    get(target, key) {
      if (Object.hasOwn(overrides, key)) return overrides[key as keyof BlobStore];
      const value = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** A logger that records what was logged at error and warn level. */
function recordingLog(): { log: FastifyBaseLogger; lines: { level: string; obj: unknown; msg: unknown }[] } {
  const lines: { level: string; obj: unknown; msg: unknown }[] = [];
  const record = (level: string) => (obj: unknown, msg?: unknown) => lines.push({ level, obj, msg });
  const log = {
    level: 'info',
    error: record('error'),
    warn: record('warn'),
    info: record('info'),
    debug: () => {},
    trace: () => {},
    fatal: record('fatal'),
    silent: () => {},
    child: () => log,
  };
  return { log: log as unknown as FastifyBaseLogger, lines };
}

describe('hosted: uploads', () => {
  it('keeps an upload to the repository and image that started it', async () => {
    const store = createMemoryBlobStore({ name: 'default' });
    const repository = hosted(store);
    const neighbour = hosted(store, 'neighbour');
    const started = await repository.startUpload('app');
    if (!('upload' in started)) throw new Error('expected an upload');
    const { id } = started.upload;
    const body = () => Readable.from([Buffer.from('data')]);
    await rejection(neighbour.getUpload('app', id), 'BLOB_UPLOAD_UNKNOWN');
    await rejection(neighbour.appendUpload('app', id, 0, body()), 'BLOB_UPLOAD_UNKNOWN');
    await rejection(neighbour.completeUpload('app', id, sha256('data'), body()), 'BLOB_UPLOAD_UNKNOWN');
    await rejection(neighbour.cancelUpload('app', id), 'BLOB_UPLOAD_UNKNOWN');
    const wrongImage = await rejection(repository.appendUpload('other', id, 0, body()), 'BLOB_UPLOAD_UNKNOWN');
    expect(wrongImage.message).toBe(`upload ${id} is not an upload of other in repository private`);
    expect(await repository.getUpload('app', id)).toEqual({ id, offset: 0 });
    expect(await repository.completeUpload('app', id, sha256('data'), body())).toEqual({
      digest: sha256('data'),
      size: 4,
    });
  });

  it('reports the current offset in a RANGE_INVALID', async () => {
    const repository = hosted(createMemoryBlobStore({ name: 'default' }));
    const started = await repository.startUpload('app');
    if (!('upload' in started)) throw new Error('expected an upload');
    await repository.appendUpload('app', started.upload.id, 0, Readable.from([Buffer.from('12345')]));
    const error = await rejection(
      repository.appendUpload('app', started.upload.id, 2, Readable.from([Buffer.from('x')])),
      'RANGE_INVALID',
    );
    expect(error.status).toBe(416);
    expect(error.detail).toEqual({ id: started.upload.id, offset: 5 });
  });

  it('refuses a malformed digest at completion and discards the upload', async () => {
    const repository = hosted(createMemoryBlobStore({ name: 'default' }));
    const started = await repository.startUpload('app');
    if (!('upload' in started)) throw new Error('expected an upload');
    await rejection(repository.completeUpload('app', started.upload.id, 'sha256:short'), 'DIGEST_INVALID');
    await rejection(repository.getUpload('app', started.upload.id), 'BLOB_UPLOAD_UNKNOWN');
  });
});

describe('hosted: a request body that breaks midway', () => {
  const broken = (sent: string) =>
    Readable.from(
      (async function* () {
        if (sent !== '') yield Buffer.from(sent);
        throw Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
      })(),
    );

  it.each(['memory', 'file'])(
    'is BLOB_UPLOAD_INVALID (not a logged 500) and the upload resumes from what was kept (%s store)',
    async (kind) => {
      const store =
        kind === 'memory'
          ? createMemoryBlobStore({ name: 'default' })
          : await createFileBlobStore(
              { name: 'default', driver: 'file', path: await dirs.make() },
              { sweepIntervalMs: 0 },
            );
      const { log, lines } = recordingLog();
      const repository = hosted(store, 'private', log);
      const started = await repository.startUpload('app');
      if (!('upload' in started)) throw new Error('expected an upload');
      const { id } = started.upload;
      const error = await rejection(repository.appendUpload('app', id, 0, broken('first ')), 'BLOB_UPLOAD_INVALID');
      expect(error.status).toBe(400);
      expect(error.message).toContain('aborted');
      expect(lines.filter((line) => line.level === 'error')).toEqual([]);
      // The bytes that reached the store are kept (the file store may not have written them yet).
      const kept = (await repository.getUpload('app', id)).offset;
      expect([0, 6]).toContain(kept);
      await rejection(repository.completeUpload('app', id, sha256('first second'), broken('')), 'BLOB_UPLOAD_INVALID');
      const { offset } = await repository.getUpload('app', id);
      const rest = Buffer.from('first second').subarray(offset);
      expect(await repository.completeUpload('app', id, sha256('first second'), Readable.from([rest]))).toEqual({
        digest: sha256('first second'),
        size: 12,
      });
      await store.close();
    },
  );
});

describe('hosted: mounts', () => {
  it('mounts without `from` when any image of this repository links the blob', async () => {
    const repository = hosted(createMemoryBlobStore({ name: 'default' }));
    const digest = await pushBlob(repository, 'base/image', 'common layer');
    expect(await repository.startUpload('derived', { mount: { digest } })).toEqual({ mounted: { digest, size: 12 } });
    expect((await repository.statBlob('derived', digest)).size).toBe(12);
  });

  it('does not mount what only another repository on the same store links', async () => {
    const store = createMemoryBlobStore({ name: 'default' });
    const digest = await pushBlob(hosted(store, 'neighbour'), 'app', 'secret layer');
    const repository = hosted(store);
    const withoutFrom = await repository.startUpload('app', { mount: { digest } });
    expect('upload' in withoutFrom).toBe(true);
    const withFrom = await repository.startUpload('app', { mount: { digest, from: 'app' } });
    expect('upload' in withFrom).toBe(true);
    await rejection(repository.statBlob('app', digest), 'BLOB_UNKNOWN');
  });
});

describe('hosted: blobs', () => {
  it('deleteBlob unlinks from one image only and leaves the bytes in the store', async () => {
    const store = createMemoryBlobStore({ name: 'default' });
    const repository = hosted(store);
    const digest = await pushBlob(repository, 'one', 'shared');
    await repository.startUpload('two', { mount: { digest, from: 'one' } });
    await repository.deleteBlob('one', digest);
    await rejection(repository.statBlob('one', digest), 'BLOB_UNKNOWN');
    await rejection(repository.deleteBlob('one', digest), 'BLOB_UNKNOWN');
    expect(await repository.statBlob('two', digest)).toEqual({ digest, size: 6 });
    expect(await store.stat(digest)).toEqual({ digest, size: 6 });
  });

  it('answers with the store redirect when it offers one', async () => {
    const memory = createMemoryBlobStore({ name: 'default' });
    const store = withOverrides(memory, {
      redirectUrl: async (digest: string) => `https://cdn.example.test/${digest}`,
    });
    const repository = hosted(store);
    const digest = await pushBlob(repository, 'app', 'redirected');
    const response = await repository.getBlob('app', digest);
    expect(response).toEqual({ info: { digest, size: 10 }, body: { redirect: `https://cdn.example.test/${digest}` } });
  });

  it('passes ranges to the store', async () => {
    const repository = hosted(createMemoryBlobStore({ name: 'default' }));
    const digest = await pushBlob(repository, 'app', '0123456789');
    const response = await repository.getBlob('app', digest, { start: 3, end: 5 });
    if (!('stream' in response.body)) throw new Error('expected a stream');
    expect((await readAll(response.body.stream)).toString()).toBe('345');
    expect(response.info.size).toBe(10);
  });
});

describe('hosted: storage failures', () => {
  function failing(code: 'STORAGE_IO' | 'STORAGE_PRECONDITION_FAILED'): BlobStore {
    const memory = createMemoryBlobStore({ name: 'default' });
    return withOverrides(memory, {
      getMeta: async () => {
        throw new StorageError(code, 'disk on fire at /var/lib/secret/path');
      },
    });
  }

  it('turns an I/O failure into a bare 500 and logs the cause', async () => {
    const { log, lines } = recordingLog();
    const repository = hosted(failing('STORAGE_IO'), 'private', log);
    const error = await rejection(repository.getManifest('app', 'v1'), 'UNKNOWN');
    expect(error.status).toBe(500);
    expect(error.message).toBe('unknown error');
    expect(JSON.stringify(error.toJSON())).not.toContain('/var/lib/secret');
    expect(lines).toHaveLength(1);
    expect(lines[0]?.level).toBe('error');
    expect(lines[0]?.obj).toMatchObject({ operation: 'getManifest' });
  });

  it('turns a lost compare-and-swap into a retryable 503', async () => {
    const { log, lines } = recordingLog();
    const repository = hosted(failing('STORAGE_PRECONDITION_FAILED'), 'private', log);
    const error = await rejection(repository.listTags('app'), 'UNAVAILABLE');
    expect(error.headers).toEqual({ 'Retry-After': '1' });
    expect(lines.map((l) => l.level)).toEqual(['warn']);
  });

  it('answers MANIFEST_UNKNOWN (and logs the damage) for a linked manifest whose content is gone or oversized', async () => {
    const store = createMemoryBlobStore({ name: 'default' });
    const pushed = await pushImage(hosted(store), 'app', 'v1');
    await store.delete(pushed.digest);
    const { log, lines } = recordingLog();
    const repository = hosted(store, 'private', log); // a fresh instance: nothing cached
    for (const reference of ['v1', pushed.digest]) {
      const error = await rejection(repository.getManifest('app', reference), 'MANIFEST_UNKNOWN');
      expect(error.message).toContain('content is missing from the blob store');
    }
    expect(lines.map((line) => line.level)).toEqual(['error', 'error']);

    const huge = Buffer.alloc(MAX_MANIFEST_BYTES + 1, 0x20);
    const digest = sha256(huge);
    await store.putBlob(digest, Readable.from([huge]));
    await openHostedMetadata(store, 'private').linkManifest('app', digest, { mediaType: OCI_MANIFEST });
    await rejection(repository.getManifest('app', digest), 'MANIFEST_UNKNOWN');
    expect(lines).toHaveLength(3);
  });

  it('does not turn registry errors into anything else', async () => {
    const repository = hosted(createMemoryBlobStore({ name: 'default' }));
    await pushImage(repository, 'app', 'v1');
    const error = await rejection(repository.getManifest('app', 'v2'), 'MANIFEST_UNKNOWN');
    expect(error.detail).toEqual({ name: 'app', reference: 'v2' });
  });
});
