/**
 * A deterministic fuzzer of malformed registry requests: a seeded generator mixes broken names
 * (traversal, encoded traversal, upper case, overlong), references and digests (bad algorithm,
 * wrong length, upper-case hex), query values, Range and Content-Range headers, odd headers,
 * framing (lying Content-Length, broken chunks) and bodies (junk, deep JSON, manifests naming
 * unknown blobs), written on a bare socket. Same seed → same cases, so a failure names a case
 * that can be replayed. {@link checkFuzzAnswer} says what is wrong with an answer.
 */
import { createHash } from 'node:crypto';
import { REGISTRY_ERROR_CODES } from '../../runtime/oci/errors.ts';
import { type RawAnswer, rawExchange } from './raw-http.ts';

/** What exists on the server, so some cases hit real content (ranges of a real blob, a live upload). */
export interface FuzzTargets {
  /** `host:port` to send in `Host`. */
  readonly host: string;
  /** A pushed image: its name, tag and blob digests. */
  readonly name: string;
  readonly tag: string;
  readonly digests: readonly string[];
  /** Paths of open upload sessions (`/v2/<name>/blobs/uploads/<id>`). */
  readonly uploads: readonly string[];
  /** A route segment that needs credentials (`/v2/<segment>/…`), and a user of it. */
  readonly securedSegment: string;
  readonly user: { readonly name: string; readonly password: string };
}

export interface FuzzCase {
  readonly id: number;
  readonly method: string;
  /** The request target as written (for reports). */
  readonly target: string;
  /** The request's bytes; a number is a pause in ms between writes. */
  readonly parts: readonly (string | Buffer | number)[];
  /** The request ends short of its `Content-Length`: the client half-closes after it. */
  readonly short: boolean;
}

/** mulberry32: a small seeded PRNG, good enough to pick among cases. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hex = (seed: string, length: number) =>
  createHash('sha512').update(seed).digest('hex').repeat(2).slice(0, length);

const NAMES = [
  'fuzz/app',
  'a',
  '..',
  '../../etc',
  'a/../b',
  '%2e%2e',
  '%2E%2E/%2e%2e/etc',
  'a/%2e%2e/%2e%2e/b',
  '..%2f..%2fetc',
  '%252e%252e',
  '%c0%ae%c0%ae',
  '.',
  'a/./b',
  'a//b',
  '/a',
  'a/',
  '',
  'App',
  'FUZZ/APP',
  'a'.repeat(256),
  `${'ab/'.repeat(90)}c`,
  'a'.repeat(3000),
  'a%20b',
  'a%00b',
  'a%2fb',
  'a\\b',
  '..\\..\\etc',
  'a~b',
  'a@b',
  'a:b',
  'a;b',
  'a%3fb',
  '-a',
  'a-',
  'a___b',
  'a__b',
  'a%ff',
  '%',
  '%2',
  'caf\u00e9',
];

const TAGS = [
  'v1',
  'latest',
  '',
  '-x',
  '.x',
  'a'.repeat(128),
  'a'.repeat(129),
  'a%20b',
  '%2e%2e',
  'UPPER',
  'a:b',
  '..',
];

function digests(pick: <T>(items: readonly T[]) => T, real: readonly string[]): string[] {
  const h = hex('fuzz', 128);
  return [
    `sha256:${h.slice(0, 64)}`,
    `sha256:${h.slice(0, 64).toUpperCase()}`,
    `sha256:${h.slice(0, 63)}`,
    `sha256:${h.slice(0, 65)}`,
    `sha256:${'g'.repeat(64)}`,
    `md5:${h.slice(0, 32)}`,
    `sha512:${h.slice(0, 64)}`,
    `sha512:${h.slice(0, 128)}`,
    'sha256',
    'sha256:',
    `:${h.slice(0, 64)}`,
    `SHA256:${h.slice(0, 64)}`,
    `sha256:${h.slice(0, 64)}%00`,
    `sha256+b64:${h.slice(0, 43)}`,
    `sha256:..%2f..%2f${h.slice(0, 50)}`,
    pick(real),
    pick(real),
  ];
}

const QUERIES = [
  '',
  'n=-1',
  'n=abc',
  'n=99999999999',
  'n=0',
  'n=1&last=%ff',
  'last=..%2f..',
  '%',
  '&&&=',
  'ns=docker.io',
  'ns=%00',
  'n=1.5',
];

const RANGES = [
  'bytes=0-0',
  'bytes=5-1',
  'bytes=-0',
  'bytes=-5',
  'bytes=abc',
  'bytes=0-1,3-4',
  'bytes=99999999999999999999-',
  'bytes=0-99999999999999999999',
  'items=0-1',
  'bytes=',
  'bytes=-',
  'bytes=1-',
];

const CONTENT_RANGES = ['0-9', '5-1', 'bytes 0-9/10', '0-99999999999999999999', 'x-y', '-1-2', '0-0', ''];

const CONTENT_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/octet-stream',
  ';;',
  'text/plain; charset=\u00ff',
  'application/json',
  '',
];

function manifestBody(digest: string): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: 2 },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size: 10 }],
  });
}

/** `count` cases from `seed` against `targets`. */
export function generateFuzzCases(seed: number, count: number, targets: FuzzTargets): FuzzCase[] {
  const random = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const chance = (p: number) => random() < p;
  const allDigests = digests(pick, targets.digests);
  const basic = Buffer.from(`${targets.user.name}:${targets.user.password}`).toString('base64');
  const cases: FuzzCase[] = [];
  for (let id = 0; id < count; id++) {
    const name = chance(0.25) ? targets.name : chance(0.1) ? `${targets.securedSegment}/app` : pick(NAMES);
    const prefix = chance(0.1)
      ? `/repository/${pick(['docker-hub', targets.securedSegment, '..', '%2e%2e', 'x'])}`
      : '';
    const digest = pick(allDigests);
    const uploadId = pick(['..', '%2e%2e', hex(String(id), 32), 'x'.repeat(300), '']);
    // Each URL shape with the methods it answers: most cases use one of those, so they get past
    // the method check into validation, auth and the repository.
    const [tail, methods] = pick<() => [string, readonly string[]]>([
      () => [`${name}/manifests/${chance(0.5) ? pick(TAGS) : digest}`, ['GET', 'HEAD', 'PUT', 'DELETE']],
      () => [`${name}/manifests/${targets.tag}`, ['GET', 'HEAD', 'GET', 'PUT']],
      () => [`${name}/blobs/${digest}`, ['GET', 'GET', 'HEAD', 'DELETE']],
      () => [`${name}/blobs/uploads/`, ['POST']],
      () => [`${name}/blobs/uploads/?digest=${digest}`, ['POST']],
      () => [`${name}/blobs/uploads/?mount=${digest}&from=${pick(NAMES)}`, ['POST']],
      () => [`${name}/blobs/uploads/${uploadId}`, ['GET', 'PATCH', 'PUT', 'DELETE']],
      () => [
        targets.uploads.length ? pick(targets.uploads).replace(/^\/v2\//, '') : `${name}/blobs/uploads/`,
        ['GET', 'PATCH', 'PUT', 'PATCH'],
      ],
      () => [`${name}/tags/list?${pick(QUERIES)}`, ['GET']],
      () => [`_catalog?${pick(QUERIES)}`, ['GET']],
      () => [`${name}/referrers/${digest}?artifactType=${pick(['', '%ff', 'a/b', '..'])}`, ['GET']],
      () => [`${name}/${pick(['', 'x', 'manifests', 'blobs', 'tags'])}`, ['GET']],
      () => ['', ['GET', 'HEAD']],
    ])();
    const method = chance(0.8)
      ? pick(methods)
      : pick([
          'GET',
          'HEAD',
          'PUT',
          'POST',
          'PATCH',
          'DELETE',
          'OPTIONS',
          'TRACE',
          'PROPFIND',
          'FOO',
          'get',
          'CONNECT',
        ]);
    let target = `${prefix}/v2/${tail}`;
    // Some single-POST uploads carry the digest of their body, so they get as far as storing it.
    const payload = Buffer.from(hex(`body${id}`, Math.floor(random() * 70_000)));
    const matched = method === 'POST' && target.includes('?digest=') && chance(0.5);
    if (matched) {
      target = target.replace(/\?digest=.*$/, `?digest=sha256:${createHash('sha256').update(payload).digest('hex')}`);
    }
    if (chance(0.03)) target = pick(['http://elsewhere.example/v2/', '*', 'v2/', `http://${targets.host}/v2/`]);
    if (method === 'CONNECT') target = pick(['example.com:443', target]);
    const headers: string[] = [];
    if (!chance(0.03)) headers.push(`Host: ${chance(0.05) ? pick(['', 'a b', 'x'.repeat(300)]) : targets.host}`);
    if (chance(0.3)) headers.push(`Range: ${pick(RANGES)}`);
    if (chance(0.15)) headers.push(`Content-Range: ${pick(CONTENT_RANGES)}`);
    if (chance(0.3)) headers.push(`Content-Type: ${pick(CONTENT_TYPES)}`);
    if (chance(0.15))
      headers.push(`Accept: ${pick(['*/*', ';;;', 'application/vnd.oci.image.index.v1+json, */*;q=0.1', ','])}`);
    if (chance(0.15)) {
      headers.push(
        `Authorization: ${pick([`Basic ${basic}`, 'Basic !!!', `Basic ${Buffer.from(':').toString('base64')}`, 'Bearer a.b.c', 'Bearer', 'Negotiate x', `Basic ${Buffer.from(`${targets.user.name}:wrong`).toString('base64')}`])}`,
      );
    }
    if (chance(0.05)) headers.push(`If-None-Match: ${pick(['*', '"x"', `"${digest}"`])}`);
    if (chance(0.04)) headers.push(`Expect: ${pick(['100-continue', 'magic'])}`);
    if (chance(0.03)) headers.push(`X-Long: ${'l'.repeat(pick([100, 8000, 20_000]))}`);
    if (chance(0.02))
      headers.push(pick(['X(bad: 1', 'X-Nul: a\0b', 'X-Fold: a\r\n  folded', ': empty', 'X-Utf: \u00e9']));
    const upgrade = chance(0.03);
    if (upgrade) headers.push('Connection: keep-alive, Upgrade', 'Upgrade: websocket');

    const body = matched
      ? payload
      : chance(method === 'GET' || method === 'HEAD' ? 0.05 : 0.8)
        ? pick<() => Buffer>([
            () => Buffer.from(manifestBody(digest)),
            () => Buffer.from(manifestBody(pick(targets.digests))),
            () =>
              Buffer.from(
                pick(['{', 'null', '[]', '{"schemaVersion":2}', '{"schemaVersion":"2","layers":null}', '\u00ff\u00fe']),
              ),
            () => Buffer.from(`${'['.repeat(50_000)}${']'.repeat(50_000)}`),
            () => payload,
            () => payload,
            () => Buffer.alloc(0),
          ])()
        : undefined;
    let framing =
      body === undefined ? 'none' : pick(['length', 'length', 'chunked', 'short', 'long', 'both', 'broken']);
    // Node's parser does not report a broken chunk in a request that asks for an upgrade: the
    // server waits for the body until its idle timeout (60 s) closes the connection, which
    // test/runtime/http/connections.test.ts checks. Too slow for a fuzz case's bound.
    if (upgrade && framing === 'broken') framing = 'chunked';
    const parts: (string | Buffer | number)[] = [];
    const version = chance(0.05) ? pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1 ', 'HTTX/1.1']) : 'HTTP/1.1';
    const head = (extra: string[]) =>
      `${method} ${target} ${version}\r\n${[...headers, ...extra].join('\r\n')}\r\n\r\n`;
    if (body === undefined) {
      parts.push(head([]));
    } else if (framing === 'length') {
      parts.push(head([`Content-Length: ${body.length}`]), body);
    } else if (framing === 'chunked' || framing === 'broken') {
      const size = framing === 'broken' ? pick(['zz', '-1', '1;a=b', 'ffffffffffffffffff']) : body.length.toString(16);
      parts.push(head(['Transfer-Encoding: chunked']), `${size}\r\n`, body, '\r\n0\r\n\r\n');
    } else if (framing === 'short') {
      parts.push(head([`Content-Length: ${body.length + 10}`]), body);
    } else if (framing === 'long') {
      parts.push(head([`Content-Length: ${Math.max(0, body.length - 3)}`]), body);
    } else {
      parts.push(head([`Content-Length: ${body.length}`, 'Transfer-Encoding: chunked']), body);
    }
    cases.push({ id, method, target: target.slice(0, 120), parts, short: framing === 'short' });
  }
  return cases;
}

const OCI_CODES = new Set(Object.keys(REGISTRY_ERROR_CODES));

/** What is wrong with `answer` to `fuzz` (empty when nothing is): no answer, a 5xx, a body not in the OCI shape, a leak. */
export function checkFuzzAnswer(
  fuzz: FuzzCase,
  answer: RawAnswer,
  options: { canary: string; boundMs: number },
): string[] {
  const problems: string[] = [];
  const label = `case ${fuzz.id} (${fuzz.method} ${fuzz.target})`;
  if (answer.status === undefined || (!answer.closed && answer.ms >= options.boundMs)) {
    const why =
      answer.error ?? (answer.closed ? 'closed without one' : `not complete within ${Math.round(answer.ms)} ms`);
    problems.push(`${label}: no answer (${why}; got ${JSON.stringify(answer.raw.slice(0, 80))})`);
    return problems;
  }
  if (answer.status >= 500) problems.push(`${label}: ${answer.status} ${answer.body.slice(0, 200)}`);
  const bodyless = fuzz.method === 'HEAD' || answer.status === 304 || answer.status < 300;
  if (!bodyless) {
    let code: unknown;
    try {
      code = (JSON.parse(answer.body) as { errors: { code: unknown; message: unknown }[] }).errors[0]?.code;
    } catch {
      code = undefined;
    }
    if (typeof code !== 'string' || !OCI_CODES.has(code)) {
      problems.push(`${label}: ${answer.status} without the OCI error body: ${answer.body.slice(0, 200)}`);
    }
  }
  if (answer.raw.includes(options.canary)) problems.push(`${label}: the answer holds a file from outside the store`);
  return problems;
}

/** Result of {@link runFuzzer}. */
export interface FuzzReport {
  /** Status (or `none`) → number of cases. */
  readonly histogram: ReadonlyMap<string, number>;
  readonly problems: readonly string[];
  readonly slowestMs: number;
  readonly cases: number;
}

/** Sends every case (`concurrency` at a time), each bounded by `boundMs`, and checks every answer. */
export async function runFuzzer(
  port: number,
  cases: readonly FuzzCase[],
  options: { concurrency: number; boundMs: number; canary: string },
): Promise<FuzzReport> {
  const histogram = new Map<string, number>();
  const problems: string[] = [];
  let slowestMs = 0;
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const fuzz = cases[next++]!;
      const answer = await rawExchange(port, fuzz.parts, {
        boundMs: options.boundMs,
        untilAnswer: true,
        head: fuzz.method === 'HEAD',
        halfClose: fuzz.short,
      });
      const key = answer.status === undefined ? 'none' : String(answer.status);
      histogram.set(key, (histogram.get(key) ?? 0) + 1);
      slowestMs = Math.max(slowestMs, answer.ms);
      problems.push(...checkFuzzAnswer(fuzz, answer, options));
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return { histogram, problems, slowestMs, cases: cases.length };
}
