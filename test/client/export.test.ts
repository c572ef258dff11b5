/**
 * `regctl export` against a registry that misbehaves once the bundle is being written (the
 * counting upstream's faults): the export fails naming the blob, and neither the bundle nor its
 * partial file is left behind. The end-to-end bundle round trip is test/e2e/airgap.test.ts.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportImages } from '../../client/export.ts';
import { type CountingUpstream, startCountingUpstream } from '../helpers/counting-upstream.ts';

let registry: CountingUpstream;
let dir: string;
beforeEach(async () => {
  registry = await startCountingUpstream();
  dir = await mkdtemp(join(tmpdir(), 'regctl-export-'));
});
afterEach(async () => {
  await registry.stop();
  await rm(dir, { recursive: true, force: true });
});

const quiet = new Writable({ write: (_chunk, _encoding, done) => done() });

describe('exportImages when a blob goes wrong mid-bundle', () => {
  it.each([
    ['arrives with other bytes', (layer: string) => registry.faults.corrupt.add(layer), /arrived with other content/],
    ['is cut short', (layer: string) => registry.faults.cutAfter.set(layer, 4096), /tools\/app@sha256:[0-9a-f]{64}: /],
  ])('a layer that %s: the export fails naming it, and leaves no file', async (_, fault, message) => {
    const image = registry.addImage('tools/app', '1', [Buffer.alloc(64 * 1024, 1), Buffer.alloc(64 * 1024, 2)]);
    fault(image.layers[1]!);
    const output = join(dir, 'bundle.tar');
    const failed = exportImages({ registry: registry.url, images: ['tools/app:1'], output, stderr: quiet });
    await expect(failed).rejects.toThrow(message);
    await expect(failed).rejects.toThrow(image.layers[1]!);
    expect(await readdir(dir)).toEqual([]);
    // The bundle was under way: the first layer had been asked for before the second failed.
    expect(registry.count('GET', `/blobs/${image.layers[0]}`)).toBe(1);
  });
});
