import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseImageReference, WarmUsageError, warm } from '../../client/warm.ts';
import { type CountingUpstream, startCountingUpstream } from '../helpers/counting-upstream.ts';

let registry: CountingUpstream;
let dir: string;
beforeEach(async () => {
  registry = await startCountingUpstream();
  dir = await mkdtemp(join(tmpdir(), 'regctl-warm-'));
});
afterEach(async () => {
  await registry.stop();
  await rm(dir, { recursive: true, force: true });
});

function sink() {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
}

describe('parseImageReference', () => {
  it('splits names, tags and digests', () => {
    expect(parseImageReference('library/alpine:3.19')).toEqual({ name: 'library/alpine', reference: '3.19' });
    expect(parseImageReference('app')).toEqual({ name: 'app', reference: 'latest' });
    expect(parseImageReference('a/b@sha256:00')).toEqual({ name: 'a/b', reference: 'sha256:00' });
  });
});

describe('warm', () => {
  it('pulls manifests and every blob of the listed images, one platform of an index, and reports failures', async () => {
    const amd = registry.addImage('multi', 'amd', [Buffer.alloc(100_000, 1)]);
    const arm = registry.addImage('multi', 'arm', [Buffer.alloc(50_000, 2)]);
    registry.addIndex('multi', 'v1', [
      { digest: amd.digest, os: 'linux', architecture: 'amd64' },
      { digest: arm.digest, os: 'linux', architecture: 'arm64' },
    ]);
    const single = registry.addImage('team/app', 'v2', [Buffer.from('a'), Buffer.from('b')]);
    const list = join(dir, 'images.txt');
    await writeFile(list, '# base images\nmulti:v1\n\nteam/app:v2\nmissing:v0\n');
    const out = sink();
    const summary = await warm({
      registry: registry.url,
      list,
      concurrency: 2,
      platform: 'linux/amd64',
      stderr: out.stream,
    });
    expect(summary.images).toBe(2);
    expect(summary.failed.map((f) => f.image)).toEqual(['missing:v0']);
    expect(summary.blobs).toBe(2 + 3);
    expect(registry.count('GET', `/blobs/${amd.layers[0]}`)).toBe(1);
    expect(registry.count('GET', `/blobs/${arm.layers[0]}`)).toBe(0);
    expect(registry.count('GET', `/blobs/${single.layers[1]}`)).toBe(1);
    expect(out.text()).toMatch(/FAILED missing:v0/);
    expect(out.text()).toMatch(/warmed 2\/3 images/);
  });

  it('pulls every platform with all, and fails an image whose blob arrives wrong', async () => {
    const amd = registry.addImage('multi', 'amd', [Buffer.alloc(10, 1)]);
    const arm = registry.addImage('multi', 'arm', [Buffer.alloc(10, 2)]);
    registry.addIndex('multi', 'v1', [
      { digest: amd.digest, os: 'linux', architecture: 'amd64' },
      { digest: arm.digest, os: 'linux', architecture: 'arm64' },
    ]);
    const summary = await warm({ registry: registry.url, images: ['multi:v1'], all: true, stderr: sink().stream });
    expect(summary.failed).toEqual([]);
    expect(registry.count('GET', `/blobs/${arm.layers[0]}`)).toBe(1);
    registry.faults.corrupt.add(amd.layers[0]!);
    const bad = await warm({ registry: registry.url, images: ['multi:amd'], stderr: sink().stream });
    expect(bad.failed).toHaveLength(1);
  });

  it('refuses bad options with a clear message before contacting anyone', async () => {
    const stderr = sink().stream;
    await expect(warm({ registry: registry.url, stderr })).rejects.toThrow(/nothing to warm/);
    await expect(warm({ registry: registry.url, stderr })).rejects.toBeInstanceOf(WarmUsageError);
    await expect(warm({ registry: 'notaurl', images: ['app'], stderr })).rejects.toBeInstanceOf(WarmUsageError);
    await expect(warm({ registry: 'notaurl', images: ['app'], stderr })).rejects.toThrow(
      /--registry notaurl is not an http\(s\) URL/,
    );
    await expect(warm({ registry: registry.url, images: ['app'], platform: 'x', stderr })).rejects.toThrow(
      /--platform x: expected OS\/ARCH/,
    );
    expect(registry.requests).toEqual([]);
  });

  it('without --registry, pulls from the first listener of the config, or says why the config cannot name one', async () => {
    registry.addImage('team/app', 'v1', [Buffer.from('layer')]);
    const port = Number(new URL(registry.url).port);
    const configPath = join(dir, 'registry.config.json');
    const repositories = [{ name: 'private', type: 'hosted', anonymous: ['pull'] }];
    await writeFile(
      configPath,
      JSON.stringify({ repositories, listeners: [{ host: '127.0.0.1', port, repository: 'private' }] }),
    );
    const summary = await warm({ configPath, images: ['team/app:v1'], stderr: sink().stream });
    expect(summary).toMatchObject({ images: 1, blobs: 2, failed: [] });
    expect(registry.count('GET', '/v2/team/app/manifests/v1')).toBe(1);

    const stderr = sink().stream;
    const missing = join(dir, 'missing.config.ts');
    await expect(warm({ configPath: missing, images: ['app'], stderr })).rejects.toThrow(
      `no --registry given, and the config that would name it cannot be used:\n`,
    );
    await expect(warm({ configPath: missing, images: ['app'], stderr })).rejects.toThrow(
      /missing\.config\.ts does not exist/,
    );
    await writeFile(configPath, JSON.stringify({ repositories }));
    await expect(warm({ configPath, images: ['app'], stderr })).rejects.toThrow(
      `no --registry given, and ${configPath} has no listener`,
    );
  });

  it('fails an invalid reference without a request, and a manifest the registry would refuse with its reason', async () => {
    registry.addImage('old', 'v1', [Buffer.from('a')], {
      mediaType: 'application/vnd.docker.distribution.manifest.v1+json',
    });
    const out = sink();
    const summary = await warm({
      registry: registry.url,
      images: ['Bad Name:1', 'app:bad tag', 'app@sha256:00', 'old:v1'],
      concurrency: 1,
      stderr: out.stream,
    });
    expect(summary.failed.map((f) => f.image)).toEqual(['Bad Name:1', 'app:bad tag', 'app@sha256:00', 'old:v1']);
    expect(summary.failed[0]!.error).toMatch(/not a repository name/);
    expect(summary.failed[1]!.error).toMatch(/neither a tag nor/);
    expect(summary.failed[2]!.error).toMatch(/neither a tag nor/);
    expect(summary.failed[3]!.error).toMatch(/schema 1/);
    expect(registry.requests.every((r) => r.includes('/v2/old/'))).toBe(true);
  });
});

describe('warm: why an image failed, told as the registry being warmed', () => {
  const PASSWORD = 'ci-s3cret-password';

  it('says the registry requires credentials when REGCTL_* is unset, and refused them when they are wrong', async () => {
    const secured = await startCountingUpstream({ basic: { username: 'ci', password: PASSWORD } });
    try {
      secured.addImage('app', 'v1', [Buffer.from('a')]);
      const anonymous = sink();
      const none = await warm({ registry: secured.url, images: ['app:v1'], env: {}, stderr: anonymous.stream });
      expect(none.failed).toEqual([
        {
          image: 'app:v1',
          error: `the registry at ${secured.url} requires authentication (401): set REGCTL_USERNAME and REGCTL_PASSWORD`,
        },
      ]);
      expect(anonymous.text()).not.toMatch(/upstream/);

      const refused = sink();
      const env = { REGCTL_USERNAME: 'ci', REGCTL_PASSWORD: 'not-the-password' };
      const wrong = await warm({ registry: secured.url, images: ['app:v1'], env, stderr: refused.stream });
      expect(wrong.failed.map((f) => f.error)).toEqual([
        `the registry at ${secured.url} refused the credentials from REGCTL_USERNAME/REGCTL_PASSWORD (401)`,
      ]);
      expect(refused.text()).not.toMatch(/upstream|not-the-password/);

      const right = { REGCTL_USERNAME: 'ci', REGCTL_PASSWORD: PASSWORD };
      const ok = await warm({ registry: secured.url, images: ['app:v1'], env: right, stderr: sink().stream });
      expect(ok).toMatchObject({ images: 1, failed: [] });
    } finally {
      await secured.stop();
    }
  });

  it('refuses REGCTL_USERNAME without REGCTL_PASSWORD (and the reverse) before any request', async () => {
    const stderr = sink().stream;
    await expect(
      warm({ registry: registry.url, images: ['app'], env: { REGCTL_USERNAME: 'ci' }, stderr }),
    ).rejects.toThrow('REGCTL_USERNAME is set but REGCTL_PASSWORD is not');
    await expect(
      warm({ registry: registry.url, images: ['app'], env: { REGCTL_PASSWORD: PASSWORD }, stderr }),
    ).rejects.toThrow('REGCTL_PASSWORD is set but REGCTL_USERNAME is not');
    expect(registry.requests).toEqual([]);
  });

  it("says the registry is unreachable, or relays the message of the registry's own error", async () => {
    const message = 'proxy repository hub: the upstream http://127.0.0.1:9 is unreachable (connection refused)';
    const failing = createServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message }] }));
    });
    await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(failing.address() as AddressInfo).port}`;
    try {
      const relayed = await warm({ registry: url, images: ['hub/app:v1'], env: {}, stderr: sink().stream });
      expect(relayed.failed.map((f) => f.error)).toEqual([
        `manifest hub/app:v1: unexpected status 503 (the registry said: ${message})`,
      ]);
    } finally {
      await new Promise((resolve) => failing.close(resolve));
    }
    const down = await warm({ registry: url, images: ['app:v1'], env: {}, stderr: sink().stream });
    expect(down.failed.map((f) => f.error)).toEqual([`the registry at ${url} is unreachable (connection refused)`]);
  });

  it('on a TTY, prints each failed image with its reason above the progress bar', async () => {
    const out = sink();
    const tty = Object.assign(out.stream, { isTTY: true });
    const result = await warm({ registry: registry.url, images: ['nope/missing:v1'], env: {}, stderr: tty });
    expect(result.failed).toHaveLength(1);
    const text = out.text();
    expect(text).toContain(`\r\x1b[KFAILED nope/missing:v1: ${result.failed[0]!.error}\n`);
    // The bar is drawn again after the failure line, and the summary names the image.
    expect(text.indexOf('FAILED')).toBeLessThan(text.lastIndexOf('1/1 images'));
    expect(text).toMatch(/1 failed: nope\/missing:v1\n$/);
  });
});
