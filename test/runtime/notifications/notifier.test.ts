/**
 * Notifier with a real HTTP receiver on loopback: each endpoint gets only the actions and the
 * repositories (globs such as `team-*`) it asked for, its headers resolved from the environment,
 * and its deliveries counted in the metrics; a header naming an unset variable fails `prepare`,
 * naming the variable and nothing else.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NotificationPlan, Plan } from '../../../compiler/plan.ts';
import type { ArtifactEvent } from '../../../runtime/events.ts';
import { RegistryMetrics } from '../../../runtime/metrics/registry-metrics.ts';
import type { EnvelopeEvent } from '../../../runtime/notifications/envelope.ts';
import { Notifier } from '../../../runtime/notifications/notifier.ts';
import { waitUntil } from '../../helpers/process.ts';
import { silentLog } from '../http/fakes.ts';
import { notificationPlan } from './fixtures.ts';

interface Delivery {
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly events: readonly EnvelopeEvent[];
}

const deliveries: Delivery[] = [];
const server = createServer(async (request, response) => {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { events: EnvelopeEvent[] };
  deliveries.push({ path: request.url ?? '', headers: request.headers, events: body.events });
  response.writeHead(202).end();
});
let base: string;

beforeAll(async () => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.close();
});

const endpoint = (name: string, overrides: Partial<NotificationPlan>) =>
  notificationPlan(name, `${base}/${name}`, overrides);

function artifact(action: ArtifactEvent['action'], repository: string, tag: string): ArtifactEvent {
  return {
    action,
    repository,
    name: `${repository}/app`,
    tag,
    digest: `sha256:${'a'.repeat(64)}`,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    size: 123,
    user: 'ci',
    request: { id: 'req-1', addr: '127.0.0.1', host: 'registry.test', method: 'PUT', userAgent: 'skopeo' },
    origin: 'http://registry.test',
  };
}

describe('Notifier', () => {
  it('sends each endpoint only the actions and repositories it asked for, with its env headers', async () => {
    const metrics = new RegistryMetrics();
    const notifier = new Notifier({ log: silentLog, metrics });
    const plans = [
      endpoint('teams', {
        events: ['push', 'delete'],
        repositories: ['team-*'],
        headers: { Authorization: { env: 'HOOK_TOKEN' }, 'X-Static': 'yes' },
      }),
      endpoint('pulls', { events: ['pull'], repositories: ['other'] }),
    ];
    metrics.applyPlan({
      id: 'p',
      repositories: {},
      blobStores: {},
      metrics: { host: '127.0.0.1', port: 0 },
      notifications: plans,
    } as unknown as Plan);
    const change = notifier.prepare(plans, { HOOK_TOKEN: 'Bearer hook-secret' });
    await change.commit();
    expect(notifier.wants('pull')).toBe(true);

    notifier.publish(artifact('push', 'team-a', 'pushed')); // teams
    notifier.publish(artifact('pull', 'team-a', 'pulled')); // nobody: teams wants no pulls, pulls not team-a
    notifier.publish(artifact('push', 'other', 'elsewhere')); // nobody: teams is team-* only, pulls wants pulls
    notifier.publish(artifact('pull', 'other', 'pulled-other')); // pulls
    notifier.publish(artifact('delete', 'team-b', 'deleted')); // teams
    notifier.publish(artifact('push', 'teamless', 'no-dash')); // nobody: `team-*` needs the dash

    await waitUntil(async () => deliveries.flatMap((d) => d.events).length === 3, 'three events delivered', {
      intervalMs: 10,
    });
    await notifier.close();
    const seen = deliveries.flatMap((d) => d.events.map((e) => [d.path, e.action, e.target.tag]));
    expect(seen.sort()).toEqual(
      [
        ['/pulls', 'pull', 'pulled-other'],
        ['/teams', 'delete', 'deleted'],
        ['/teams', 'push', 'pushed'],
      ].sort(),
    );
    const teams = deliveries.find((d) => d.path === '/teams')!;
    expect(teams.headers.authorization).toBe('Bearer hook-secret');
    expect(teams.headers['x-static']).toBe('yes');
    expect(deliveries.find((d) => d.path === '/pulls')!.headers.authorization).toBeUndefined();
    const push = deliveries.flatMap((d) => d.events).find((e) => e.action === 'push')!;
    expect(push).toMatchObject({
      action: 'push',
      target: {
        repository: 'team-a/app',
        tag: 'pushed',
        digest: `sha256:${'a'.repeat(64)}`,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        size: 123,
        length: 123,
        url: `http://registry.test/v2/team-a/app/manifests/sha256:${'a'.repeat(64)}`,
      },
      request: { id: 'req-1', addr: '127.0.0.1', host: 'registry.test', method: 'PUT', useragent: 'skopeo' },
      actor: { name: 'ci' },
    });
    const text = (await metrics.render()).body;
    expect(text).toMatch(/^regctl_notifications_sent_total\{endpoint="teams"\} 2$/m);
    expect(text).toMatch(/^regctl_notifications_sent_total\{endpoint="pulls"\} 1$/m);
    expect(text).toMatch(/^regctl_notifications_queue_length\{endpoint="teams"\} 0$/m);
  });

  it('fails prepare on a header whose variable is unset, naming the variable, not a value', () => {
    const notifier = new Notifier({ log: silentLog, metrics: new RegistryMetrics() });
    const plans = [endpoint('hook', { headers: { Authorization: { env: 'UNSET_HOOK_TOKEN' } } })];
    expect(() => notifier.prepare(plans, { OTHER: 'Bearer not-this' })).toThrow(/UNSET_HOOK_TOKEN/);
    expect(() => notifier.prepare(plans, { OTHER: 'Bearer not-this' })).not.toThrow(/not-this/);
  });
});
