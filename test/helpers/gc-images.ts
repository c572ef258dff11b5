/**
 * Images for garbage-collection tests: images that share layers (built from explicit layer
 * blobs, with a config whose diff_ids match them), and a command runner for `regctl gc|usage`.
 */
import { execFile } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { type Blob, buildImage, type Image, MEDIA_TYPES, sha256 } from './oci-image.ts';
import { REPO_ROOT } from './regctl-server.ts';

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
