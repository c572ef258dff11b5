/**
 * Images for garbage-collection tests: images that share layers (built from explicit layer
 * blobs, with a config whose diff_ids match them), what a store holds (file store folder, or an
 * s3 store's `blobs/` keys), a byte-identical pull check, the passes a server logged, and a
 * command runner for `regctl gc|usage`.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { ConfigInput } from '../../schema/index.ts';
import type { CephS3 } from './ceph.ts';
import type { ContainersTools } from './clients.ts';
import { type Blob, buildImage, type Image, MEDIA_TYPES, sha256 } from './oci-image.ts';
import { configSource, REPO_ROOT, type RegctlServer, type TestConfig } from './regctl-server.ts';

/** Distinct gzip layers of `size` bytes of content each (deterministic per seed). */
export function layersOf(seed: string, count: number, size = 128 * 1024): Blob[] {
  return [...buildImage({ layers: count, layerSize: size, seed }).layers];
}

/** An OCI image over exactly `layers` (its config names `seed`, so images differ). */
export function imageOf(seed: string, layers: readonly Blob[]): Image {
  const diffIds = layers.map((layer) => sha256(gunzipSync(layer.bytes)));
  const configBytes = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: { 'test.seed': seed } },
      rootfs: { type: 'layers', diff_ids: diffIds },
    }),
  );
  const config = { digest: sha256(configBytes), bytes: configBytes };
  const manifestBytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: MEDIA_TYPES.ociConfig, digest: config.digest, size: configBytes.length },
      layers: layers.map((l) => ({ mediaType: MEDIA_TYPES.ociLayer, digest: l.digest, size: l.bytes.length })),
    }),
  );
  const manifest = { digest: sha256(manifestBytes), bytes: manifestBytes };
  return {
    manifest,
    mediaType: MEDIA_TYPES.ociManifest,
    config,
    layers,
    descriptor: {
      mediaType: MEDIA_TYPES.ociManifest,
      digest: manifest.digest,
      size: manifestBytes.length,
      platform: { architecture: 'amd64', os: 'linux' },
    },
  };
}

/** Total bytes and names of the files under a file store's `blobs/` folder. */
export async function blobFiles(storeRoot: string): Promise<{ bytes: number; digests: Set<string> }> {
  const digests = new Set<string>();
  let bytes = 0;
  const root = join(storeRoot, 'blobs');
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    bytes += (await stat(path)).size;
    digests.add(`${entry.parentPath.split('/').at(-2)}:${entry.name}`);
  }
  return { bytes, digests };
}

/** Total bytes and digests of the objects under an s3 store's `<prefix>/blobs/` (listed with the AWS SDK). */
export async function bucketBlobs(ceph: CephS3, prefix: string): Promise<{ bytes: number; digests: Set<string> }> {
  const client = new S3Client({
    endpoint: ceph.endpoint,
    region: ceph.region,
    forcePathStyle: true,
    credentials: { accessKeyId: ceph.accessKeyId, secretAccessKey: ceph.secretAccessKey },
  });
  const digests = new Set<string>();
  let bytes = 0;
  const root = `${prefix}/blobs/`;
  try {
    let token: string | undefined;
    for (let page = 0; page < 1_000; page++) {
      const listed = await client.send(
        new ListObjectsV2Command({ Bucket: ceph.bucket, Prefix: root, ContinuationToken: token }),
      );
      for (const object of listed.Contents ?? []) {
        const [algorithm, hex] = object.Key!.slice(root.length).split('/');
        digests.add(`${algorithm}:${hex}`);
        bytes += object.Size ?? 0;
      }
      token = listed.IsTruncated ? listed.NextContinuationToken : undefined;
      if (token === undefined) break;
    }
  } finally {
    client.destroy();
  }
  return { bytes, digests };
}

/** Copies `docker://HOST/TARGET` out with skopeo into a fresh folder and checks every blob of it against `image`. */
export async function pullsIdentical(
  tools: ContainersTools,
  out: string,
  host: string,
  target: string,
  image: Image,
): Promise<void> {
  await tools.skopeo(['copy', '--src-tls-verify=false', `docker://${host}/${target}`, `oci:${out}:x`]);
  for (const blob of [image.manifest, image.config, ...image.layers]) {
    const bytes = await readFile(join(out, 'blobs', 'sha256', blob.digest.slice(7)));
    if (sha256(bytes) !== blob.digest) throw new Error(`${target} pulled from ${host}: ${blob.digest} differs`);
  }
}

/** Rewrites a server's config file (same ports), for its next start. */
export async function rewriteConfig(server: RegctlServer, next: TestConfig): Promise<void> {
  const listeners = next.listeners.map((listener) => ({ ...listener, port: server.port }));
  await writeFile(server.configFile, configSource({ ...next, listeners } as ConfigInput));
}

/** A pass a server logged ("garbage collection done"): its store, when it started and ended (ms since the epoch). */
export interface LoggedPass {
  readonly store: string;
  readonly start: number;
  readonly end: number;
  readonly blobs: number;
  readonly reclaimedBytes: number;
}

/** The passes in a server's log, and how many it skipped because another collector held the lease. */
export async function loggedPasses(logFile: string): Promise<{ done: LoggedPass[]; skipped: number }> {
  const done: LoggedPass[] = [];
  let skipped = 0;
  for (const line of (await readFile(logFile, 'utf8')).split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as Record<string, unknown>;
    if (entry.msg === 'garbage collection skipped: another collector holds the lease') skipped++;
    if (entry.msg !== 'garbage collection done') continue;
    const start = Date.parse(entry.startedAt as string);
    done.push({
      store: entry.store as string,
      start,
      end: start + (entry.durationMs as number),
      blobs: entry.blobs as number,
      reclaimedBytes: entry.reclaimedBytes as number,
    });
  }
  return { done, skipped };
}

/** Runs `regctl ARGS` (the real launcher) and resolves with its exit code and output; bounded. */
export function runRegctl(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(REPO_ROOT, 'bin', 'regctl.mjs'), ...args],
      { env: { ...process.env, ...options.env }, timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
