/**
 * A small upstream registry on 127.0.0.1 (port 0) for proxy tests: serves in-memory images over the
 * v2 read API, counts every request, and misbehaves on demand (wrong bytes for a digest, a
 * connection cut mid-blob, 429s, a slow body, Bearer or Basic auth). Only what a proxy reads
 * (GET/HEAD of manifests and blobs, tags/list, referrers) is implemented.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { sha256 } from './oci-image.ts';

export interface UpstreamImage {
  readonly name: string;
  readonly manifests: Map<string, { mediaType: string; body: Buffer }>;
  readonly tags: Map<string, string>;
  readonly blobs: Map<string, Buffer>;
}

/** Re-exported for the tests that build images here: one digest helper for all fixtures. */
export { sha256 };

/** Misbehaviours, mutable by the test at any time. */
export interface UpstreamFaults {
  /** Digests whose blob body is replaced by other bytes of the same length. */
  corrupt: Set<string>;
  /** Digests whose blob body is cut (socket destroyed) after this many bytes. */
  cutAfter: Map<string, number>;
  /** Answer every request with 429 and this Retry-After. */
  rateLimit: string | undefined;
  /** Delay between body chunks of blobs (ms). */
  chunkDelayMs: number;
  /** Delay before any response (ms). */
  responseDelayMs: number;
  /** Headers added to every response (e.g. Docker Hub's `ratelimit-remaining`). */
  headers: Record<string, string>;
}

export interface CountingUpstream {
  readonly url: string;
  readonly port: number;
  readonly faults: UpstreamFaults;
  /** Every request as `METHOD path` (query included). */
  readonly requests: string[];
  count(method: string, pathPart: string): number;
  addImage(
    name: string,
    tag: string,
    layers: Buffer[],
    options?: { mediaType?: string },
  ): {
    digest: string;
    manifest: Buffer;
    layers: string[];
    config: string;
  };
  /**
   * Holds exact content in `name`: blobs, and manifests (each under its tags, or by digest only
   * when it has none), as the shared repository contract seeds it (test/suites/repository-content.ts).
   */
  addContent(
    name: string,
    blobs: readonly Buffer[],
    manifests: readonly { mediaType: string; body: Buffer; tags: readonly string[] }[],
  ): void;
  /** Tags an OCI index over manifests already added to `name`, each with its platform. */
  addIndex(name: string, tag: string, children: { digest: string; os: string; architecture: string }[]): string;
  stop(): Promise<void>;
}

export async function startCountingUpstream(
  options: { basic?: { username: string; password: string }; port?: number } = {},
): Promise<CountingUpstream> {
  const images = new Map<string, UpstreamImage>();
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const faults: UpstreamFaults = {
    corrupt: new Set(),
    cutAfter: new Map(),
    rateLimit: undefined,
    chunkDelayMs: 0,
    responseDelayMs: 0,
    headers: {},
  };
  const basic =
    options.basic === undefined
      ? undefined
      : `Basic ${Buffer.from(`${options.basic.username}:${options.basic.password}`).toString('base64')}`;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    requests.push(`${req.method} ${req.url}`);
    for (const [name, value] of Object.entries(faults.headers)) res.setHeader(name, value);
    if (faults.responseDelayMs > 0) await new Promise((r) => setTimeout(r, faults.responseDelayMs));
    if (basic !== undefined && req.headers.authorization !== basic) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="counting"', 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    if (faults.rateLimit !== undefined) {
      res.writeHead(429, { 'retry-after': faults.rateLimit });
      res.end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/v2/') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
      return;
    }
    const match = /^\/v2\/(.+)\/(manifests|blobs|tags|referrers)\/([^/]+)$/.exec(url.pathname);
    const image = match === null ? undefined : images.get(match[1]!);
    const notFound = () => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"NOT_FOUND"}]}');
    };
    if (match === null || image === undefined) return notFound();
    const [, , kind, ref] = match as unknown as [string, string, string, string];
    if (kind === 'tags') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ name: image.name, tags: [...image.tags.keys()].sort() }));
      return;
    }
    if (kind === 'referrers') {
      const manifests = [...image.manifests].flatMap(([digest, { mediaType, body }]) => {
        const parsed = JSON.parse(body.toString()) as {
          subject?: { digest?: string };
          artifactType?: string;
          config?: { mediaType?: string };
        };
        if (parsed.subject?.digest !== ref) return [];
        const artifactType = parsed.artifactType ?? parsed.config?.mediaType;
        return [{ mediaType, digest, size: body.length, ...(artifactType === undefined ? {} : { artifactType }) }];
      });
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json' });
      res.end(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
      return;
    }
    if (kind === 'manifests') {
      const digest = image.tags.get(ref) ?? ref;
      const manifest = image.manifests.get(digest);
      if (manifest === undefined) return notFound();
      res.writeHead(200, {
        'content-type': manifest.mediaType,
        'content-length': manifest.body.length,
        'docker-content-digest': digest,
      });
      res.end(req.method === 'HEAD' ? undefined : manifest.body);
      return;
    }
    const blob = image.blobs.get(ref);
    if (blob === undefined) return notFound();
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': blob.length,
      'docker-content-digest': ref,
    });
    if (req.method === 'HEAD') return res.end();
    const body = faults.corrupt.has(ref) ? Buffer.alloc(blob.length, 0x5a) : blob;
    const cut = faults.cutAfter.get(ref);
    const chunk = 64 * 1024;
    for (let offset = 0; offset < body.length; offset += chunk) {
      if (cut !== undefined && offset >= cut) {
        res.socket?.destroy();
        return;
      }
      const end = Math.min(body.length, offset + chunk, cut ?? Number.POSITIVE_INFINITY);
      if (!res.write(body.subarray(offset, end))) await new Promise((r) => res.once('drain', r));
      if (cut !== undefined && end >= cut) {
        await new Promise((r) => setTimeout(r, 20));
        res.socket?.destroy();
        return;
      }
      if (faults.chunkDelayMs > 0) await new Promise((r) => setTimeout(r, faults.chunkDelayMs));
    }
    res.end();
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    faults,
    requests,
    count: (method, pathPart) => requests.filter((r) => r.startsWith(`${method} `) && r.includes(pathPart)).length,
    addImage(name, tag, layers, opts = {}) {
      const image = images.get(name) ?? { name, manifests: new Map(), tags: new Map(), blobs: new Map() };
      images.set(name, image);
      const config = Buffer.from(
        JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers' }, tag }),
      );
      image.blobs.set(sha256(config), config);
      for (const layer of layers) image.blobs.set(sha256(layer), layer);
      const mediaType = opts.mediaType ?? 'application/vnd.oci.image.manifest.v1+json';
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType,
          config: {
            mediaType: 'application/vnd.oci.image.config.v1+json',
            digest: sha256(config),
            size: config.length,
          },
          layers: layers.map((l) => ({
            mediaType: 'application/vnd.oci.image.layer.v1.tar',
            digest: sha256(l),
            size: l.length,
          })),
        }),
      );
      const digest = sha256(manifest);
      image.manifests.set(digest, { mediaType, body: manifest });
      image.tags.set(tag, digest);
      return { digest, manifest, layers: layers.map((l) => sha256(l)), config: sha256(config) };
    },
    addContent(name, blobs, manifests) {
      const image = images.get(name) ?? { name, manifests: new Map(), tags: new Map(), blobs: new Map() };
      images.set(name, image);
      for (const blob of blobs) image.blobs.set(sha256(blob), blob);
      for (const { mediaType, body, tags } of manifests) {
        const digest = sha256(body);
        image.manifests.set(digest, { mediaType, body });
        for (const tag of tags) image.tags.set(tag, digest);
      }
    },
    addIndex(name, tag, children) {
      const image = images.get(name);
      if (image === undefined) throw new Error(`add an image to ${name} first`);
      const mediaType = 'application/vnd.oci.image.index.v1+json';
      const body = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType,
          manifests: children.map((c) => ({
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: c.digest,
            size: image.manifests.get(c.digest)?.body.length ?? 0,
            platform: { os: c.os, architecture: c.architecture },
          })),
        }),
      );
      const digest = sha256(body);
      image.manifests.set(digest, { mediaType, body });
      image.tags.set(tag, digest);
      return digest;
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
