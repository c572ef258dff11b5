/**
 * WebhookEndpoint against a real HTTP receiver on loopback: retries with a doubling backoff, a
 * batch dropped after `maxAttempts`, `timeout` on a receiver that never answers, a bounded queue
 * whose overflow is dropped (counted and logged) without the caller waiting, events in order and
 * batched, and what shutdown drops.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { NotificationPlan } from '../../../compiler/plan.ts';
import { type EndpointObserver, WebhookEndpoint } from '../../../runtime/notifications/endpoint.ts';
import type { EnvelopeEvent } from '../../../runtime/notifications/envelope.ts';
import { waitUntil } from '../../helpers/process.ts';
import { notificationPlan } from './fixtures.ts';

/** One POST the receiver got. */
interface Arrival {
  readonly at: number;
  readonly headers: IncomingMessage['headers'];
  readonly ids: readonly string[];
}

interface Receiver {
  readonly url: string;
  readonly arrivals: Arrival[];
  /** Decides each answer: a status, or 'hang' (read the body, never answer). */
  answer: (index: number) => number | 'hang';
  close(): Promise<void>;
}

const servers: Receiver[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function startReceiver(answer: Receiver['answer'] = () => 200): Promise<Receiver> {
  const arrivals: Arrival[] = [];
  const sockets = new Set<Socket>();
  const receiver: Receiver = {
    url: '',
    arrivals,
    answer,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
  const server: Server = createServer(async (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { events: EnvelopeEvent[] };
    const index = arrivals.length;
    arrivals.push({ at: performance.now(), headers: request.headers, ids: body.events.map((e) => e.id) });
    const what = receiver.answer(index);
    if (what !== 'hang') response.writeHead(what).end();
  });
  server.on('connection', (socket) => sockets.add(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const withUrl = Object.assign(receiver, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook` });
  servers.push(withUrl);
  return withUrl;
}

/** What the endpoint reported, and the warnings it logged. */
function recorder() {
  const counts = { sent: 0, failed: 0, dropped: {} as Record<string, number>, queue: [] as number[] };
  const warnings: { fields: Record<string, unknown>; message: string }[] = [];
  const observer: EndpointObserver = {
    sent: (n) => {
      counts.sent += n;
    },
    failed: () => {
      counts.failed++;
    },
    dropped: (reason, n) => {
      counts.dropped[reason] = (counts.dropped[reason] ?? 0) + n;
    },
    queue: (length) => {
      counts.queue.push(length);
    },
  };
  const log = {
    warn: (fields: Record<string, unknown>, message: string) => warnings.push({ fields, message }),
    info: () => {},
    error: () => {},
    debug: () => {},
    child: () => log,
  } as unknown as FastifyBaseLogger;
  return { counts, warnings, observer, log };
}

const plan = (url: string, overrides: Partial<NotificationPlan> = {}) => notificationPlan('hook', url, overrides);

let sequence = 0;
function event(): EnvelopeEvent {
  sequence++;
  return {
    id: `event-${sequence}`,
    timestamp: new Date().toISOString(),
    action: 'push',
    target: { repository: 'app', tag: `v${sequence}`, digest: `sha256:${String(sequence).padStart(64, '0')}` },
    request: { id: 'r', addr: '127.0.0.1', host: 'localhost', method: 'PUT', useragent: 'test' },
    actor: {},
    source: { addr: 'host', instanceID: 'i' },
  };
}

describe('WebhookEndpoint', () => {
  it('retries a refused batch after a doubling backoff, with the same events, until it is accepted', async () => {
    const receiver = await startReceiver((index) => (index < 2 ? 503 : 200));
    const { counts, observer, log } = recorder();
    const endpoint = new WebhookEndpoint({
      plan: plan(receiver.url, { headers: {} }),
      headers: { authorization: 'Bearer from-env' },
      log,
      observer,
      firstBackoffMs: 100,
    });
    const sent = event();
    endpoint.enqueue(sent);
    await waitUntil(async () => counts.sent === 1, 'the third attempt accepted', { intervalMs: 10 });
    const [a, b, c] = receiver.arrivals;
    expect(receiver.arrivals.map((r) => r.ids)).toEqual([[sent.id], [sent.id], [sent.id]]);
    // 1st backoff 100 ms, 2nd 200 ms, each with ±25 % jitter.
    expect(b!.at - a!.at).toBeGreaterThanOrEqual(70);
    expect(c!.at - b!.at).toBeGreaterThanOrEqual(145);
    expect(c!.at - b!.at).toBeGreaterThan((b!.at - a!.at) * 1.1);
    expect(counts).toMatchObject({ sent: 1, failed: 2, dropped: {} });
    expect(a!.headers).toMatchObject({
      authorization: 'Bearer from-env',
      'content-type': 'application/vnd.docker.distribution.events.v1+json',
    });
    await endpoint.close('shutdown', 0);
  });

  it('drops a batch after maxAttempts, counts and logs it, and goes on with the next', async () => {
    const receiver = await startReceiver((index) => (index < 2 ? 500 : 204));
    const { counts, warnings, observer, log } = recorder();
    const endpoint = new WebhookEndpoint({
      plan: plan(receiver.url, { maxAttempts: 2 }),
      headers: {},
      log,
      observer,
      firstBackoffMs: 20,
    });
    const lost = event();
    endpoint.enqueue(lost);
    await waitUntil(async () => counts.dropped.attempts_exhausted === 1, 'the batch dropped', { intervalMs: 10 });
    expect(receiver.arrivals).toHaveLength(2);
    expect(warnings).toContainEqual({
      fields: { reason: 'attempts_exhausted', dropped: 1 },
      message: 'webhook events dropped',
    });
    const next = event();
    endpoint.enqueue(next);
    await waitUntil(async () => counts.sent === 1, 'the next event delivered', { intervalMs: 10 });
    expect(receiver.arrivals.map((r) => r.ids)).toEqual([[lost.id], [lost.id], [next.id]]);
    expect(counts.failed).toBe(2);
    await endpoint.close('shutdown', 0);
  });

  it('gives up an attempt after timeout when the receiver never answers', async () => {
    const receiver = await startReceiver(() => 'hang');
    const { counts, observer, log } = recorder();
    const endpoint = new WebhookEndpoint({
      plan: plan(receiver.url, { timeoutMs: 300, maxAttempts: 1 }),
      headers: {},
      log,
      observer,
    });
    const started = performance.now();
    endpoint.enqueue(event());
    await waitUntil(async () => counts.dropped.attempts_exhausted === 1, 'the attempt timed out', { intervalMs: 10 });
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(5000);
    expect(counts).toMatchObject({ sent: 0, failed: 1 });
    await endpoint.close('shutdown', 0);
  });

  it('a full queue drops new events at once, counted and logged; the caller never waits', async () => {
    const receiver = await startReceiver(() => 'hang');
    const { counts, warnings, observer, log } = recorder();
    const endpoint = new WebhookEndpoint({
      plan: plan(receiver.url, { queueSize: 3, timeoutMs: 60_000 }),
      headers: {},
      log,
      observer,
    });
    const started = performance.now();
    for (let i = 0; i < 1000; i++) endpoint.enqueue(event());
    const enqueueMs = performance.now() - started;
    expect(enqueueMs).toBeLessThan(250);
    expect(endpoint.queued).toBe(3);
    expect(counts.dropped).toEqual({ queue_full: 997 });
    expect(Math.max(...counts.queue)).toBe(3);
    // Logged at the first drop, then at most once a minute.
    expect(warnings.filter((w) => w.message === 'webhook events dropped')).toEqual([
      { fields: { reason: 'queue_full', dropped: 1 }, message: 'webhook events dropped' },
    ]);
    await waitUntil(async () => receiver.arrivals.length === 1, 'the first batch at the receiver', { intervalMs: 10 });
    // The POST still out (its timeout is a minute away) is abandoned when the grace ends.
    const closing = performance.now();
    await endpoint.close('shutdown', 200);
    expect(performance.now() - closing).toBeGreaterThanOrEqual(190);
    expect(performance.now() - closing).toBeLessThan(3000);
    // What was still queued when it closed is dropped as `shutdown`.
    expect(counts).toMatchObject({ failed: 0, dropped: { queue_full: 997, shutdown: 3 } });
    expect(endpoint.queued).toBe(0);
  });

  it('delivers in order, batching what queued while a POST was out', async () => {
    const receiver = await startReceiver(() => 200);
    const { counts, observer, log } = recorder();
    const endpoint = new WebhookEndpoint({ plan: plan(receiver.url), headers: {}, log, observer });
    const events = Array.from({ length: 6 }, () => event());
    // The first event goes out alone at once; the rest queue behind its POST and go in one batch.
    for (const e of events) endpoint.enqueue(e);
    await waitUntil(async () => counts.sent === events.length, 'every event delivered', { intervalMs: 10 });
    expect(receiver.arrivals.flatMap((a) => a.ids)).toEqual(events.map((e) => e.id));
    expect(receiver.arrivals.map((a) => a.ids.length)).toEqual([1, 5]);
    await endpoint.close('shutdown', 0);
  });
});
