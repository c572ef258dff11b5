/**
 * The webhook endpoints of the serving plan, kept across reloads: an endpoint whose definition
 * (and resolved headers) did not change keeps its queue and loop; a removed or changed one gets a
 * short grace to deliver what it holds, then drops the rest (counted as `removed`). Header
 * secrets are resolved in `prepare`, so a reload that names an unset variable fails before the
 * swap, naming the variable (never a value).
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyBaseLogger } from 'fastify';
import { canonicalJson, compileGlob, type NotificationPlan } from '../../compiler/plan.ts';
import type { ArtifactEvent } from '../events.ts';
import type { RegistryMetrics } from '../metrics/registry-metrics.ts';
import { resolveSecret } from '../secrets.ts';
import { WebhookEndpoint } from './endpoint.ts';
import { createEventSource, type EventSource, toEnvelopeEvent } from './envelope.ts';

interface LiveEndpoint {
  readonly endpoint: WebhookEndpoint;
  /** The definition and resolved headers, hashed: equal means reuse. */
  readonly identity: string;
  readonly matches: (repository: string) => boolean;
  readonly events: ReadonlySet<string>;
}

export class Notifier {
  readonly #log: FastifyBaseLogger;
  readonly #metrics: RegistryMetrics;
  readonly #source: EventSource;
  readonly #firstBackoffMs: number | undefined;
  #endpoints: readonly LiveEndpoint[] = [];

  constructor(options: { log: FastifyBaseLogger; metrics: RegistryMetrics; firstBackoffMs?: number }) {
    this.#log = options.log.child({ component: 'notifications' });
    this.#metrics = options.metrics;
    this.#source = createEventSource(hostname());
    this.#firstBackoffMs = options.firstBackoffMs;
  }

  /** Whether any endpoint wants `action` events. */
  wants(action: ArtifactEvent['action']): boolean {
    return this.#endpoints.some((live) => live.events.has(action));
  }

  /** Queues `event` for every endpoint that asked for its action and repository. */
  publish(event: ArtifactEvent): void {
    let envelope: ReturnType<typeof toEnvelopeEvent> | undefined;
    for (const live of this.#endpoints) {
      if (!live.events.has(event.action) || !live.matches(event.repository)) continue;
      envelope ??= toEnvelopeEvent(event, this.#source);
      live.endpoint.enqueue(envelope);
    }
  }

  /** Builds the endpoints of `plans` (reusing unchanged ones); `commit()` makes them live. */
  prepare(
    plans: readonly NotificationPlan[],
    env: NodeJS.ProcessEnv,
  ): { commit(): Promise<void>; abort(): Promise<void> } {
    const byIdentity = new Map(this.#endpoints.map((live) => [live.identity, live]));
    const created: LiveEndpoint[] = [];
    const next: LiveEndpoint[] = [];
    try {
      plans.forEach((plan, index) => {
        const headers = Object.fromEntries(
          Object.entries(plan.headers).map(([name, value]) => [
            name,
            resolveSecret(value, env, `notifications[${index}].headers.${name}`),
          ]),
        );
        const identity = createHash('sha256').update(canonicalJson({ plan, headers })).digest('hex');
        const reused = byIdentity.get(identity);
        if (reused !== undefined) {
          next.push(reused);
          return;
        }
        const name = plan.name;
        const live: LiveEndpoint = {
          identity,
          events: new Set(plan.events),
          matches: matcher(plan.repositories),
          endpoint: new WebhookEndpoint({
            plan,
            headers,
            log: this.#log,
            ...(this.#firstBackoffMs === undefined ? {} : { firstBackoffMs: this.#firstBackoffMs }),
            observer: {
              sent: (count) => this.#metrics.notification(name, 'sent', count),
              failed: () => this.#metrics.notification(name, 'failed'),
              dropped: (reason, count) => this.#metrics.notificationsDropped(name, reason, count),
              queue: (length) => this.#metrics.notificationQueue(name, length),
            },
          }),
        };
        created.push(live);
        next.push(live);
      });
    } catch (error) {
      for (const live of created) void live.endpoint.close('removed', 0);
      throw error;
    }
    return {
      commit: async () => {
        const kept = new Set(next);
        const removed = this.#endpoints.filter((live) => !kept.has(live));
        this.#endpoints = next;
        await Promise.all(removed.map((live) => live.endpoint.close('removed')));
      },
      abort: async () => {
        await Promise.all(created.map((live) => live.endpoint.close('removed', 0)));
      },
    };
  }

  /** Stops every endpoint, giving queued events `graceMs` to go out. */
  async close(graceMs = 2000): Promise<void> {
    const endpoints = this.#endpoints;
    this.#endpoints = [];
    await Promise.all(endpoints.map((live) => live.endpoint.close('shutdown', graceMs)));
  }
}

function matcher(patterns: readonly string[]): (repository: string) => boolean {
  if (patterns.includes('*')) return () => true;
  const globs = patterns.map(compileGlob);
  return (repository) => globs.some((glob) => glob.test(repository));
}
