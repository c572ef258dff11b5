/**
 * The audit log and webhook notifications end to end, on a `regctl serve` with forced
 * authentication: skopeo pushes, a tag move, a failed login, a refused push, a delete and a
 * reload each leave one JSON line in the audit file (with user, address, repository, tag, digest,
 * result) and never a secret; SIGHUP after logrotate's rename reopens the file without losing a
 * line. A real HTTP receiver gets the CNCF registry's envelope for push, pull and delete events
 * with its Authorization header from the environment; a receiver that is down at first gets the
 * event by a retry once it is up; a dead receiver and one that never answers do not slow pushes
 * (measured against the same server after a reload removed them).
 */
import { once } from 'node:events';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../runtime/audit/audit-log.ts';
import type { EnvelopeEvent } from '../../runtime/notifications/envelope.ts';
import type { ConfigInput } from '../../schema/index.ts';
import { type ContainersTools, createContainersTools } from '../helpers/clients.ts';
import { deadPort, freePort } from '../helpers/free-port.ts';
import { TEST_USER } from '../helpers/hosted-configs.ts';
import { buildImage, writeOciLayout } from '../helpers/oci-image.ts';
import { waitUntil } from '../helpers/process.ts';
import { configSource, type RegctlServer, startRegctl, type TestConfig } from '../helpers/regctl-server.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
const HOOK_TOKEN = 'hook-secret-value-0123456789';
const READER = { name: 'reader', password: 'reader-secret-password' };
const basic = (user: { name: string; password: string }) =>
  `Basic ${Buffer.from(`${user.name}:${user.password}`).toString('base64')}`;
const first = buildImage({ layers: 1, layerSize: 32 * 1024, seed: 'audit-first' });
const second = buildImage({ layers: 1, layerSize: 32 * 1024, seed: 'audit-second' });
let server: RegctlServer;
let tools: ContainersTools;
let auditFile: string;
let metricsPort: number;
/** One POST the webhook receiver got: its headers and the CNCF envelope it carried. */
interface Delivery {
  readonly headers: IncomingMessage['headers'];
  readonly body: { readonly events: readonly EnvelopeEvent[] };
}
/** One line of the audit file. */
type AuditLine = Omit<AuditRecord, 'action'> & { readonly action: string; readonly time: string };
let receiver: { server: Server; url: string; received: Delivery[] };
let slow: { server: Server; url: string; sockets: Set<Socket> };
let deadUrl: string;
/** A receiver that is down at first and comes up later (the port stays free until then). */
let latePort: number;

function config(withBadReceivers: boolean): TestConfig {
  return {
    blobStores: [{ name: 'default', type: 'file', path: './data' }],
    repositories: [
      { name: 'private', type: 'hosted', deploymentPolicy: 'allowRedeploy', anonymous: [] },
      { name: 'public', type: 'hosted', anonymous: ['pull', 'push', 'delete'] },
    ],
    listeners: [{ host: '127.0.0.1', port: server?.port ?? 0, repository: 'private', paths: ['public'] }],
    security: {
      users: [
        { name: TEST_USER.name, password: { env: 'CI_PASSWORD' }, roles: ['developer'] },
        { name: READER.name, password: { env: 'READER_PASSWORD' }, roles: ['reader'] },
      ],
      roles: {
        developer: [{ repositories: ['private'], actions: ['pull', 'push', 'delete'] }],
        reader: [{ repositories: ['private'], actions: ['pull'] }],
      },
    },
    metrics: { host: '127.0.0.1', port: metricsPort },
    audit: { file: './audit.log' },
    notifications: [
      {
        name: 'receiver',
        url: `${receiver.url}/events`,
        events: ['push', 'delete', 'pull'],
        repositories: ['priv*'],
        headers: { Authorization: { env: 'HOOK_TOKEN' }, 'X-Source': 'regctl-e2e' },
      },
      { name: 'late', url: `http://127.0.0.1:${latePort}/hook`, events: ['push'], repositories: ['public'] },
      ...(withBadReceivers
        ? [
            { name: 'dead', url: deadUrl, timeout: '2s', maxAttempts: 2, queueSize: 5 },
            { name: 'slow', url: slow.url, timeout: '2s', maxAttempts: 2, queueSize: 5 },
          ]
        : []),
    ],
  };
}

async function auditLines(file = auditFile): Promise<AuditLine[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as AuditLine);
}

async function lastAudit(action: string): Promise<AuditLine> {
  let found: AuditLine | undefined;
  await waitUntil(async () => {
    found = (await auditLines()).filter((l) => l.action === action).at(-1);
    return found !== undefined;
  }, `an audit line ${action}`);
  return found!;
}

/** PUTs a manifest; resolves with the status and the time it took (ms). */
async function putManifest(tag: string, image = first): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const response = await fetch(`${server.url}/v2/app/manifests/${tag}`, {
    method: 'PUT',
    headers: { authorization: basic(TEST_USER), 'content-type': image.mediaType },
    body: image.manifest.bytes,
  });
  await response.arrayBuffer();
  return { status: response.status, ms: performance.now() - started };
}

/** Pushes the blobs of `image` into `name`; `authorization` null: anonymously. */
async function pushBlobs(
  image: typeof first,
  name = 'app',
  authorization: string | null = basic(TEST_USER),
): Promise<void> {
  for (const blob of [image.config, ...image.layers]) {
    const response = await fetch(`${server.url}/v2/${name}/blobs/uploads/?digest=${blob.digest}`, {
      method: 'POST',
      headers: { ...(authorization === null ? {} : { authorization }), 'content-type': 'application/octet-stream' },
      body: blob.bytes,
    });
    expect(response.status).toBe(201);
  }
}

beforeAll(async () => {
  const received: Delivery[] = [];
  const hook = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    received.push({ headers: request.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
    response.writeHead(200).end();
  });
  hook.listen(0, '127.0.0.1');
  await once(hook, 'listening');
  receiver = { server: hook, url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}`, received };
  const sockets = new Set<Socket>();
  const hang = createServer(() => {}); // accepts, reads, never answers
  hang.on('connection', (socket) => sockets.add(socket));
  hang.listen(0, '127.0.0.1');
  await once(hang, 'listening');
  slow = { server: hang, url: `http://127.0.0.1:${(hang.address() as AddressInfo).port}/hook`, sockets };
  deadUrl = `http://127.0.0.1:${await deadPort()}/hook`;
  latePort = await deadPort();
  metricsPort = await freePort();
  const dir = await dirs.make();
  auditFile = join(dir, 'audit.log');
  server = await startRegctl({
    dir,
    config: config(true),
    env: { CI_PASSWORD: TEST_USER.password, READER_PASSWORD: READER.password, HOOK_TOKEN: `Bearer ${HOOK_TOKEN}` },
  });
  tools = await createContainersTools(await dirs.make());
}, 120_000);

afterAll(async () => {
  await server?.stop();
  for (const socket of slow?.sockets ?? []) socket.destroy();
  slow?.server.close();
  receiver?.server.close();
  await dirs.cleanup();
});

/**
 * The `late` endpoint's receiver is down when the push happens: the first attempt fails (counted),
 * then the receiver comes up on that port and a retry (1 s backoff, then 2 s) delivers the event.
 */
async function lateReceiverGetsTheRetry(digest: string): Promise<void> {
  const scrape = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  await waitUntil(
    async () => /^regctl_notifications_failed_attempts_total\{endpoint="late"\} [1-9]/m.test(await scrape()),
    'a failed attempt to the receiver that is down',
  );
  const got: EnvelopeEvent[] = [];
  const late = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    got.push(...(JSON.parse(Buffer.concat(chunks).toString('utf8')) as { events: EnvelopeEvent[] }).events);
    response.writeHead(200).end();
  });
  late.listen(latePort, '127.0.0.1');
  await once(late, 'listening');
  try {
    await waitUntil(async () => got.length > 0, 'the retried event at the receiver that came up', {
      timeoutMs: 20_000,
    });
    expect(got).toMatchObject([{ action: 'push', target: { repository: 'public/app', tag: 'anon', digest } }]);
    await waitUntil(
      async () => /^regctl_notifications_sent_total\{endpoint="late"\} 1$/m.test(await scrape()),
      'the retried event counted as sent',
    );
  } finally {
    late.close();
    late.closeAllConnections();
  }
}

describe('audit log and webhooks', () => {
  it('a skopeo push: one audit line and a CNCF envelope push event with repository, tag and digest', async () => {
    const layout = await dirs.make();
    await writeOciLayout(layout, { own: first });
    await tools.skopeo([
      'copy',
      '--dest-tls-verify=false',
      `--dest-creds=${TEST_USER.name}:${TEST_USER.password}`,
      `oci:${layout}:own`,
      `docker://${server.host}/app:v1`,
    ]);
    const line = await lastAudit('push');
    expect(line).toMatchObject({
      action: 'push',
      result: 'ok',
      user: 'ci',
      addr: '127.0.0.1',
      repository: 'private',
      name: 'app',
      tag: 'v1',
      digest: first.manifest.digest,
    });
    expect(Date.parse(line.time)).toBeGreaterThan(Date.now() - 60_000);
    await waitUntil(async () => receiver.received.length > 0, 'the push event at the receiver');
    const delivery = receiver.received[0]!;
    expect(delivery.headers['content-type']).toBe('application/vnd.docker.distribution.events.v1+json');
    expect(delivery.headers.authorization).toBe(`Bearer ${HOOK_TOKEN}`);
    expect(delivery.headers['x-source']).toBe('regctl-e2e');
    const event = delivery.body.events.find((e) => e.action === 'push');
    expect(event).toMatchObject({
      action: 'push',
      target: {
        repository: 'app',
        tag: 'v1',
        digest: first.manifest.digest,
        size: first.manifest.bytes.length,
        url: `${server.url}/v2/app/manifests/${first.manifest.digest}`,
      },
      request: { addr: '127.0.0.1', method: 'PUT' },
      actor: { name: 'ci' },
    });
    expect(event?.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(event?.source.instanceID).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('a pull is sent to the receiver that asked for pulls; it is not audited', async () => {
    const before = receiver.received.length;
    const response = await fetch(`${server.url}/v2/app/manifests/v1`, {
      headers: { authorization: basic(TEST_USER), accept: first.mediaType },
    });
    expect(response.status).toBe(200);
    await waitUntil(async () => receiver.received.length > before, 'the pull event');
    expect(receiver.received.at(-1)!.body.events[0]).toMatchObject({
      action: 'pull',
      target: { repository: 'app', tag: 'v1', digest: first.manifest.digest },
      request: { method: 'GET' },
    });
    expect((await auditLines()).some((l) => l.action === 'pull')).toBe(false);
  });

  it('a tag move, a failed login, a refused push and a delete are audited; no line holds a secret', async () => {
    await pushBlobs(second);
    expect((await putManifest('v1', second)).status).toBe(201);
    expect(await lastAudit('tag.move')).toMatchObject({
      result: 'ok',
      user: 'ci',
      tag: 'v1',
      digest: second.manifest.digest,
      previousDigest: first.manifest.digest,
    });

    const wrong = await fetch(`${server.url}/v2/`, {
      headers: { authorization: basic({ name: 'ci', password: 'nope' }) },
    });
    expect(wrong.status).toBe(401);
    expect(await lastAudit('login.failed')).toMatchObject({
      result: 'refused',
      user: 'ci',
      addr: '127.0.0.1',
      error: 'invalid_credentials',
    });

    const refused = await fetch(`${server.url}/v2/app/manifests/v2`, {
      method: 'PUT',
      headers: { authorization: basic(READER), 'content-type': first.mediaType },
      body: first.manifest.bytes,
    });
    expect(refused.status).toBe(403);
    expect(await lastAudit('access.denied')).toMatchObject({
      result: 'refused',
      user: 'reader',
      repository: 'private',
      name: 'app',
      actions: ['push'],
      error: 'denied',
    });

    const deleted = await fetch(`${server.url}/v2/app/manifests/${first.manifest.digest}`, {
      method: 'DELETE',
      headers: { authorization: basic(TEST_USER) },
    });
    expect(deleted.status).toBe(202);
    expect(await lastAudit('delete')).toMatchObject({ result: 'ok', user: 'ci', digest: first.manifest.digest });
    await waitUntil(
      async () => receiver.received.some((d) => d.body.events.some((e) => e.action === 'delete')),
      'the delete event',
    );

    const text = await readFile(auditFile, 'utf8');
    for (const secret of [TEST_USER.password, READER.password, HOOK_TOKEN, 'nope', 'Basic ', 'Bearer ']) {
      expect(text).not.toContain(secret);
    }
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^regctl_auth_failures_total\{reason="invalid_credentials"\} [1-9]/m);
    expect(metrics).toMatch(/^regctl_auth_failures_total\{reason="denied"\} 1$/m);
  });

  it('an anonymous push, a failed push, a tag and a blob delete are audited with every field; webhooks filtered by repository; a receiver down at first gets the push by a retry', async () => {
    // Anonymous, into `public` (not matched by the receiver's `priv*`).
    await pushBlobs(second, 'public/app', null);
    const anonymous = await fetch(`${server.url}/v2/public/app/manifests/anon`, {
      method: 'PUT',
      headers: { 'content-type': second.mediaType },
      body: second.manifest.bytes,
    });
    expect(anonymous.status).toBe(201);
    const anonymousLine = await lastAudit('push');
    expect(anonymousLine).toMatchObject({
      action: 'push',
      result: 'ok',
      user: null,
      addr: '127.0.0.1',
      repository: 'public',
      name: 'public/app',
      tag: 'anon',
      digest: second.manifest.digest,
      mediaType: second.mediaType,
    });
    expect(anonymousLine.requestId).toEqual(expect.any(String));
    expect(Date.parse(anonymousLine.time)).toBeGreaterThan(Date.now() - 60_000);
    await lateReceiverGetsTheRetry(second.manifest.digest);

    // A push whose blobs the registry does not have: audited as failed, with the error code.
    const orphan = buildImage({ layers: 1, layerSize: 1024, seed: 'audit-orphan' });
    const failed = await putManifest('broken', orphan);
    expect(failed.status).toBeGreaterThanOrEqual(400);
    expect(await lastAudit('push')).toMatchObject({
      result: 'failed',
      user: 'ci',
      addr: '127.0.0.1',
      repository: 'private',
      name: 'app',
      tag: 'broken',
      error: 'MANIFEST_BLOB_UNKNOWN',
    });

    // A tag delete (v1 points at the second image since the tag move).
    const before = receiver.received.length;
    const untag = await fetch(`${server.url}/v2/app/manifests/v1`, {
      method: 'DELETE',
      headers: { authorization: basic(TEST_USER) },
    });
    expect(untag.status).toBe(202);
    expect(await lastAudit('delete')).toMatchObject({
      result: 'ok',
      user: 'ci',
      addr: '127.0.0.1',
      repository: 'private',
      name: 'app',
      tag: 'v1',
    });
    // Deliveries are in order: once the tag delete has arrived, the anonymous push would have too.
    await waitUntil(
      async () =>
        receiver.received
          .slice(before)
          .some((d) => d.body.events.some((e) => e.action === 'delete' && e.target.tag === 'v1')),
      'the tag delete event',
    );
    // A blob delete: audited, and sent as a delete of that digest.
    const layer = second.layers[0]!.digest;
    const blobDelete = await fetch(`${server.url}/v2/app/blobs/${layer}`, {
      method: 'DELETE',
      headers: { authorization: basic(TEST_USER) },
    });
    expect(blobDelete.status).toBe(202);
    expect(await lastAudit('delete')).toMatchObject({ result: 'ok', user: 'ci', repository: 'private', digest: layer });
    await waitUntil(
      async () => receiver.received.some((d) => d.body.events.some((e) => e.target.digest === layer)),
      'the blob delete event',
    );
    expect(receiver.received.flatMap((d) => d.body.events).find((e) => e.target.digest === layer)).toMatchObject({
      action: 'delete',
      target: { repository: 'app', digest: layer, url: `${server.url}/v2/app/blobs/${layer}` },
    });
    const events = receiver.received.flatMap((d) => d.body.events);
    expect(events.filter((e) => e.target.repository === 'public/app')).toEqual([]);
    expect(events.filter((e) => e.target.tag === 'broken')).toEqual([]);
  });

  it('SIGHUP after logrotate renamed the file: every line stays, new lines go to the new file', async () => {
    const before = await auditLines();
    await rename(auditFile, `${auditFile}.1`);
    const reloads = before.filter((l) => l.action === 'reload').length;
    process.kill(server.pid(), 'SIGHUP');
    // The SIGHUP also reloads (the config is unchanged): that line is in the new file.
    await waitUntil(
      async () => (await auditLines()).some((l) => l.action === 'reload'),
      'the reload line in the new file',
    );
    expect(await auditLines()).toHaveLength(1);
    expect((await auditLines())[0]).toMatchObject({
      action: 'reload',
      result: 'ok',
      outcome: 'unchanged',
      trigger: 'SIGHUP',
    });
    expect(await auditLines(`${auditFile}.1`)).toEqual(before);
    expect(reloads).toBe(0);
    expect((await putManifest('v3')).status).toBe(201);
    expect((await lastAudit('push')).tag).toBe('v3');
  });

  it('a dead receiver and one that never answers do not slow pushes (measured)', async () => {
    const rounds = 30;
    const measure = async (prefix: string) => {
      const times: number[] = [];
      for (let i = 0; i < rounds; i++) {
        const { status, ms } = await putManifest(`${prefix}-${i}`);
        expect(status).toBe(201);
        times.push(ms);
      }
      return times.sort((a, b) => a - b);
    };
    const withBad = await measure('bad');
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^regctl_notifications_dropped_total\{endpoint="(dead|slow)",reason="queue_full"\} [1-9]/m);
    expect(metrics).toMatch(/^regctl_notifications_failed_attempts_total\{endpoint="dead"\} [1-9]/m);
    expect(metrics).toMatch(/^regctl_notifications_queue_length\{endpoint="slow"\} 5$/m);
    // The same server without the two bad endpoints.
    const status = async () => ((await (await fetch(`${server.url}/-/status`)).json()) as { planId: string }).planId;
    const plan = await status();
    await writeFile(server.configFile, configSource(config(false) as ConfigInput));
    process.kill(server.pid(), 'SIGHUP');
    await waitUntil(async () => (await status()) !== plan, 'the reload without the bad receivers');
    const without = await measure('good');
    const median = (times: number[]) => times[Math.floor(times.length / 2)]!;
    console.log(
      `manifest PUT with a dead and a hanging receiver: median ${median(withBad).toFixed(1)} ms, max ${withBad.at(-1)!.toFixed(1)} ms; ` +
        `without them: median ${median(without).toFixed(1)} ms, max ${without.at(-1)!.toFixed(1)} ms (${rounds} each)`,
    );
    // A push that waited for a receiver would take its 2 s timeout.
    expect(withBad.at(-1)!).toBeLessThan(1000);
    expect(median(withBad)).toBeLessThan(median(without) * 2 + 5);
  });

  it('a failed reload is audited and leaves the config out of sync; every line and event is counted', async () => {
    const status = async () => (await (await fetch(`${server.url}/-/status`)).json()) as { planId: string };
    const serving = (await status()).planId;
    const good = await readFile(server.configFile, 'utf8');
    await writeFile(server.configFile, 'export default { repositories: [ };\n');
    process.kill(server.pid(), 'SIGHUP');
    const lastReload = async () => (await auditLines()).filter((l) => l.action === 'reload').at(-1);
    await waitUntil(async () => (await lastReload())?.result === 'failed', 'the failed reload line');
    const line = (await lastReload())!;
    expect(line).toMatchObject({ result: 'failed', outcome: 'failed', planId: serving, previousPlanId: serving });
    expect(line.trigger).toEqual(expect.any(String));
    expect(line.error).toEqual(expect.any(String));
    expect((await status()).planId).toBe(serving);
    const scrape = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    let metrics = await scrape();
    expect(metrics).toMatch(/^regctl_config_in_sync 0$/m);
    expect(metrics).toMatch(/^regctl_reloads_total\{outcome="failed"\} 1$/m);

    await writeFile(server.configFile, good);
    process.kill(server.pid(), 'SIGHUP');
    await waitUntil(async () => /^regctl_config_in_sync 1$/m.test(await scrape()), 'in sync again');

    // Every audit line written is counted (the rotated file's and the current one's), and
    // every event the receiver got is counted as sent to it.
    const counted = (text: string, series: string) =>
      Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\d+)$`, 'm').exec(text)?.[1]);
    await waitUntil(async () => {
      metrics = await scrape();
      const lines = (await auditLines()).length + (await auditLines(`${auditFile}.1`)).length;
      return counted(metrics, 'regctl_audit_lines_total') === lines;
    }, 'regctl_audit_lines_total equal to the lines in the files');
    expect(metrics).not.toMatch(/^regctl_audit_write_errors_total [1-9]/m);
    const received = receiver.received.flatMap((d) => d.body.events).length;
    expect(counted(metrics, 'regctl_notifications_sent_total{endpoint="receiver"}')).toBe(received);
    const text = (await readFile(auditFile, 'utf8')) + (await readFile(`${auditFile}.1`, 'utf8'));
    for (const secret of [TEST_USER.password, READER.password, HOOK_TOKEN]) expect(text).not.toContain(secret);
  });
});
