/**
 * The S3 side of the s3 blob store: building one `S3Client` from a plan, translating SDK failures
 * into `StorageError`s, and presigning GETs for `redirect: true`.
 *
 * Everything here talks plain S3 (AWS, MinIO, Ceph RGW …): no vendor is named in the code path.
 * Two settings matter on S3-compatible servers and are always applied:
 * - `requestChecksumCalculation`/`responseChecksumValidation: 'WHEN_REQUIRED'`: the SDK's default
 *   trailing CRC checksums turn streamed bodies into aws-chunked uploads that several servers
 *   refuse (411 Length Required);
 * - `forcePathStyle` from the plan: most self-hosted servers have no wildcard DNS for buckets.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import type { S3BlobStorePlan } from '../../../../compiler/plan.ts';
import { resolveSecret } from '../../../secrets.ts';
import { StorageError, type StorageErrorCode } from '../../errors.ts';

/** What the driver needs besides the plan: the environment secret references are resolved in. */
export interface S3ClientOptions {
  readonly env: NodeJS.ProcessEnv;
}

/** A resolved connection: the client and the bucket every key lives in. */
export interface S3Connection {
  readonly client: S3Client;
  readonly bucket: string;
  /** Closes the keep-alive sockets. */
  destroy(): void;
}

/**
 * Builds the client for a plan. Credentials come from the plan's env references, or from the SDK's
 * default chain (env, profile, instance role …) when the plan has none.
 */
export function createS3Connection(plan: S3BlobStorePlan, options: S3ClientOptions): S3Connection {
  const what = `blob store "${plan.name}"`;
  const bucket = resolveSecret(plan.bucket, options.env, `${what} bucket`);
  const endpoint = plan.endpoint === null ? undefined : resolveSecret(plan.endpoint, options.env, `${what} endpoint`);
  const credentials =
    plan.credentials === null
      ? undefined
      : {
          accessKeyId: resolveSecret(plan.credentials.accessKeyId, options.env, `${what} accessKeyId`),
          secretAccessKey: resolveSecret(plan.credentials.secretAccessKey, options.env, `${what} secretAccessKey`),
        };
  // Keep-alive pools sized for parallel layer pushes; the SDK's default of 50 sockets is per agent.
  const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 128 });
  const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 128 });
  const client = new S3Client({
    region: plan.region,
    endpoint,
    forcePathStyle: plan.forcePathStyle,
    credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
    requestHandler: { httpAgent, httpsAgent, connectionTimeout: 10_000, requestTimeout: 300_000 },
  });
  return {
    client,
    bucket,
    destroy() {
      client.destroy();
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

interface SdkErrorShape {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

/** The HTTP status of an SDK failure, if it got that far. */
export function httpStatusOf(error: unknown): number | undefined {
  return (error as SdkErrorShape | undefined)?.$metadata?.httpStatusCode;
}

/**
 * Translates an SDK failure into the stable code the repositories understand. `NoSuchBucket` is an
 * I/O failure (a misconfiguration), not a missing object, although both are 404s. A quota or a
 * full cluster is `STORAGE_FULL`, as a full disk is for the file driver.
 */
export function toStorageError(error: unknown, action: string): StorageError {
  if (error instanceof StorageError) return error;
  const shape = (error ?? {}) as SdkErrorShape;
  const name = shape.name ?? shape.Code ?? '';
  const status = httpStatusOf(error);
  let code: StorageErrorCode = 'STORAGE_IO';
  if (name === 'NoSuchUpload') code = 'STORAGE_UPLOAD_UNKNOWN';
  else if (name === 'NoSuchBucket') code = 'STORAGE_IO';
  else if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) code = 'STORAGE_NOT_FOUND';
  else if (name === 'PreconditionFailed' || status === 412) code = 'STORAGE_PRECONDITION_FAILED';
  // Out of room: a bucket or user quota (RGW, MinIO: QuotaExceeded), a full cluster (507).
  else if (name === 'QuotaExceeded' || name === 'InsufficientCapacity' || status === 507) code = 'STORAGE_FULL';
  const reason = error instanceof Error ? error.message : String(error);
  return new StorageError(code, `s3 ${action}: ${name || 'error'}${status ? ` (HTTP ${status})` : ''}: ${reason}`, {
    cause: error,
    ...(code === 'STORAGE_FULL' ? { full: 'quota' as const } : {}),
  });
}

/** True when the object does not exist (as opposed to any other failure). */
export function isNotFound(error: unknown): boolean {
  return toStorageError(error, 'probe').code === 'STORAGE_NOT_FOUND';
}

/** The current ETag of an object without quotes, or undefined when it does not exist. */
export async function headEtag(connection: S3Connection, key: string): Promise<string | undefined> {
  try {
    const head = await connection.client.send(new HeadObjectCommand({ Bucket: connection.bucket, Key: key }));
    return unquoteEtag(head.ETag);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw toStorageError(error, `head ${key}`);
  }
}

/**
 * ETags are compared and sent in conditional headers without their quotes: some servers compare the
 * header byte for byte with the stored, unquoted value.
 */
export function unquoteEtag(etag: string | undefined): string | undefined {
  if (etag === undefined || etag === '') return undefined;
  return etag.replace(/^W\//, '').replace(/^"|"$/g, '');
}

/** The hash constructor SigV4 expects, over node:crypto. */
class NodeSha256 {
  readonly #hash: Hash | Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#hash =
      secret === undefined
        ? createHash('sha256')
        : createHmac(
            'sha256',
            typeof secret === 'string'
              ? secret
              : ArrayBuffer.isView(secret)
                ? Buffer.from(secret.buffer, secret.byteOffset, secret.byteLength)
                : Buffer.from(secret),
          );
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    if (typeof data === 'string') this.#hash.update(data);
    else if (ArrayBuffer.isView(data)) this.#hash.update(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    else this.#hash.update(Buffer.from(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.#hash.digest();
  }
}

/**
 * A presigned GET URL for `key`, valid `expiresInSeconds`. Built from the client's own resolved
 * endpoint, region and credentials so it addresses exactly what the client would.
 */
export async function presignGet(connection: S3Connection, key: string, expiresInSeconds: number): Promise<string> {
  const config = connection.client.config;
  const region = await config.region();
  const credentials = await config.credentials();
  const endpoint = config.endpoint
    ? await config.endpoint()
    : { protocol: 'https:', hostname: `s3.${region}.amazonaws.com`, port: undefined, path: '/' };
  const encodedKey = key.split('/').map(encodeURIComponent).join('/');
  const pathStyle = config.forcePathStyle === true;
  const hostname = pathStyle ? endpoint.hostname : `${connection.bucket}.${endpoint.hostname}`;
  const basePath = (endpoint.path ?? '/').replace(/\/$/, '');
  const path = pathStyle ? `${basePath}/${connection.bucket}/${encodedKey}` : `${basePath}/${encodedKey}`;
  const host = endpoint.port ? `${hostname}:${endpoint.port}` : hostname;
  const signer = new SignatureV4({ credentials, region, service: 's3', sha256: NodeSha256, uriEscapePath: false });
  const signed = await signer.presign(
    {
      method: 'GET',
      protocol: endpoint.protocol,
      hostname,
      port: endpoint.port,
      path,
      // Hoisted into the query string: the URL's holder never has to send it.
      headers: { host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
      query: {},
    },
    { expiresIn: expiresInSeconds },
  );
  const query = Object.entries(signed.query ?? {})
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(String(value))}`)
    .join('&');
  return `${endpoint.protocol}//${host}${path}?${query}`;
}
