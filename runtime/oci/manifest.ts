/**
 * Parsing and validation of a pushed manifest: everything that can be decided from the bytes and
 * the Content-Type alone, before the repository checks what the manifest references.
 *
 * The result lists what the repository must then verify or record: the blobs (config, layers) that
 * must be linked in the image, the child manifests of an index, and the `subject` whose referrers
 * list gains this manifest.
 */

import type { Readable } from 'node:stream';
import type { Descriptor } from '../repositories/repository.ts';
import type { Digest } from '../storage/blob-store.ts';
import { digestOf, isDigest, parseDigest } from './digest.ts';
import { RegistryError } from './errors.ts';
import {
  FOREIGN_LAYER_MEDIA_TYPES,
  isGenericContentType,
  isMediaTypeShaped,
  isSchema1MediaType,
  type ManifestKind,
  manifestKindOf,
  normalizeMediaType,
  SUPPORTED_MANIFEST_MEDIA_TYPES,
} from './media-types.ts';

/** The largest manifest accepted (the HTTP layer enforces it too, before buffering). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** A stored manifest's bytes, or undefined when there are more than {@link MAX_MANIFEST_BYTES}. */
export async function readManifestBytes(stream: Readable): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > MAX_MANIFEST_BYTES) {
      stream.destroy();
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

/** A manifest that passed every check that needs no storage. */
export interface ParsedManifest {
  /** Digest of the exact bytes, with the algorithm asked for (sha256 unless pushed by a sha512 digest). */
  readonly digest: Digest;
  readonly mediaType: string;
  readonly kind: ManifestKind;
  readonly size: number;
  /** Blobs (config and distributable layers) that must exist in the image. */
  readonly blobs: readonly Descriptor[];
  /** Child manifests of an index, which must exist in the image. */
  readonly manifests: readonly Descriptor[];
  readonly subject?: Descriptor;
  /** `artifactType`, else (image manifests) the config's media type: what referrers filter on. */
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

const SCHEMA1_MESSAGE =
  'Docker schema 1 manifests are not supported: convert the image to schema 2 or OCI, e.g. ' +
  '`skopeo copy --format v2s2 docker://old/image:tag docker://this-registry/image:tag`';

function invalid(message: string, detail?: unknown): RegistryError {
  return new RegistryError('MANIFEST_INVALID', { message, detail });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseAnnotations(value: unknown, path: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    throw invalid(`${path} must be an object of string values`, { path });
  }
  return value as Record<string, string>;
}

/** Validates one descriptor and returns it reduced to the fields the registry keeps. */
export function parseDescriptor(value: unknown, path: string): Descriptor & { urls?: string[] } {
  if (!isRecord(value)) throw invalid(`${path} must be a descriptor object`, { path });
  const { mediaType, digest, size, urls, artifactType } = value;
  if (!isMediaTypeShaped(mediaType)) throw invalid(`${path}.mediaType must be a media type`, { path, mediaType });
  if (typeof digest !== 'string' || !isDigest(digest)) {
    throw invalid(`${path}.digest is not a valid digest`, { path, digest });
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw invalid(`${path}.size must be a non-negative integer`, { path, size });
  }
  if (urls !== undefined && (!Array.isArray(urls) || urls.some((u) => typeof u !== 'string'))) {
    throw invalid(`${path}.urls must be an array of strings`, { path });
  }
  if (artifactType !== undefined && !isMediaTypeShaped(artifactType)) {
    throw invalid(`${path}.artifactType must be a media type`, { path, artifactType });
  }
  const annotations = parseAnnotations(value.annotations, `${path}.annotations`);
  return {
    mediaType,
    digest,
    size,
    ...(artifactType !== undefined ? { artifactType } : {}),
    ...(annotations !== undefined ? { annotations } : {}),
    ...(urls !== undefined ? { urls: urls as string[] } : {}),
  };
}

/**
 * Decides the manifest's media type: the Content-Type when it names a manifest format, else the
 * body's `mediaType` (umoci leaves it out of the body, curl leaves out the header). When both name
 * one they must agree, because the digest a client computed covers a body that says what it is.
 */
function resolveMediaType(contentType: string, json: Record<string, unknown>): string {
  const header = normalizeMediaType(contentType);
  const declared = json.mediaType;
  if (declared !== undefined && typeof declared !== 'string') throw invalid('mediaType must be a string');
  const inBody = declared === undefined ? '' : normalizeMediaType(declared);
  if (isSchema1MediaType(header) || isSchema1MediaType(inBody) || json.schemaVersion === 1) {
    throw invalid(SCHEMA1_MESSAGE, { mediaType: header || inBody, schemaVersion: json.schemaVersion });
  }
  const fromHeader = isGenericContentType(header) ? '' : header;
  if (fromHeader !== '' && inBody !== '' && fromHeader !== inBody) {
    throw invalid(`Content-Type ${fromHeader} does not match the manifest's mediaType ${inBody}`, {
      contentType: fromHeader,
      mediaType: inBody,
    });
  }
  const mediaType = fromHeader || inBody;
  if (mediaType === '') {
    throw invalid(`the manifest's media type is unknown: send it as Content-Type or in the body's mediaType`, {
      supported: SUPPORTED_MANIFEST_MEDIA_TYPES,
    });
  }
  if (manifestKindOf(mediaType) === undefined) {
    throw invalid(`unsupported manifest media type ${mediaType}`, {
      mediaType,
      supported: SUPPORTED_MANIFEST_MEDIA_TYPES,
    });
  }
  return mediaType;
}

function parseDescriptorList(value: unknown, path: string): (Descriptor & { urls?: string[] })[] {
  if (!Array.isArray(value)) throw invalid(`${path} must be an array of descriptors`, { path });
  return value.map((item, i) => parseDescriptor(item, `${path}[${i}]`));
}

/**
 * Parses and validates a pushed manifest. Throws `MANIFEST_INVALID` (schema 1, bad JSON, wrong
 * schemaVersion, bad descriptors, media type conflicts, too large: 413) and `DIGEST_INVALID` when
 * `expectedDigest` (a PUT by digest) does not match the bytes.
 */
export function parseManifest(body: Buffer, contentType: string, expectedDigest?: Digest): ParsedManifest {
  if (body.length > MAX_MANIFEST_BYTES) {
    throw new RegistryError('MANIFEST_INVALID', {
      status: 413,
      message: `manifest is ${body.length} bytes, more than the limit of ${MAX_MANIFEST_BYTES}`,
      detail: { size: body.length, limit: MAX_MANIFEST_BYTES },
    });
  }
  const digest = digestOf(body, isDigest(expectedDigest) ? parseDigest(expectedDigest).algorithm : 'sha256');
  if (expectedDigest !== undefined && expectedDigest !== digest) {
    throw new RegistryError('DIGEST_INVALID', {
      message: `manifest body has digest ${digest}, not the ${expectedDigest} it was pushed as`,
      detail: { expected: expectedDigest, actual: digest },
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw invalid(`manifest is not valid JSON: ${(error as Error).message}`);
  }
  if (!isRecord(json)) throw invalid('manifest must be a JSON object');
  const mediaType = resolveMediaType(contentType, json);
  if (json.schemaVersion !== 2) {
    throw invalid(`schemaVersion must be 2, got ${JSON.stringify(json.schemaVersion)}`, {
      schemaVersion: json.schemaVersion,
    });
  }
  const kind = manifestKindOf(mediaType) as ManifestKind;
  const { artifactType } = json;
  if (artifactType !== undefined && !isMediaTypeShaped(artifactType)) {
    throw invalid('artifactType must be a media type', { artifactType });
  }
  const annotations = parseAnnotations(json.annotations, 'annotations');
  const subject = json.subject === undefined ? undefined : parseDescriptor(json.subject, 'subject');
  let blobs: Descriptor[] = [];
  let manifests: Descriptor[] = [];
  let configType: string | undefined;
  if (kind === 'image') {
    if (json.manifests !== undefined) throw invalid(`an image manifest (${mediaType}) has no manifests field`);
    const config = parseDescriptor(json.config, 'config');
    configType = config.mediaType;
    const layers = parseDescriptorList(json.layers, 'layers');
    const distributable = layers.filter(
      (layer) => !(FOREIGN_LAYER_MEDIA_TYPES.has(layer.mediaType) && (layer.urls?.length ?? 0) > 0),
    );
    blobs = [config, ...distributable];
  } else {
    if (json.config !== undefined || json.layers !== undefined) {
      throw invalid(`an index (${mediaType}) has a manifests field, not config or layers`);
    }
    manifests = parseDescriptorList(json.manifests, 'manifests');
  }
  return {
    digest,
    mediaType,
    kind,
    size: body.length,
    blobs: blobs.map(strip),
    manifests: manifests.map(strip),
    ...(subject !== undefined ? { subject: strip(subject) } : {}),
    ...((artifactType ?? configType) !== undefined ? { artifactType: (artifactType as string) ?? configType } : {}),
    ...(annotations !== undefined ? { annotations } : {}),
  };
}

/** Drops `urls`: the registry never follows them. */
function strip(descriptor: Descriptor & { urls?: string[] }): Descriptor {
  const { urls: _urls, ...rest } = descriptor;
  return rest;
}

/** The descriptor under which a manifest appears in its subject's referrers list. */
export function referrerDescriptor(manifest: ParsedManifest): Descriptor {
  return {
    mediaType: manifest.mediaType,
    digest: manifest.digest,
    size: manifest.size,
    ...(manifest.artifactType !== undefined ? { artifactType: manifest.artifactType } : {}),
    ...(manifest.annotations !== undefined ? { annotations: manifest.annotations } : {}),
  };
}
