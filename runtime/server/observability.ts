/**
 * What a running registry tells the outside besides its answers, for the life of the process:
 * the Prometheus metrics and their listener, the audit log and the webhook endpoints. One instance
 * per `serve`, created before the first plan and kept across reloads (a counter keeps counting
 * through a reload; the metrics registry is never rebuilt).
 *
 * Each plan is adopted like the registry listeners (build → check → swap → dispose): `prepare`
 * opens what the new plan needs (a new metrics socket, a new audit file, endpoints with their
 * header secrets resolved) and throws, changing nothing, when any of it fails — the reload then
 * fails and the old plan keeps serving; `commit` after the swap closes what the new plan dropped.
 *
 * It is the HTTP layer's {@link EventSink}: pushes and deletes go to the audit log and the
 * webhooks, pulls to the webhooks that asked for them, auth failures to the metrics and the audit log.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { ConfigRevision } from '../../compiler/config-revision.ts';
import type { Plan } from '../../compiler/plan.ts';
import { AuditLog, type AuditRecord } from '../audit/audit-log.ts';
import type { ArtifactEvent, AuthFailure, EventSink } from '../events.ts';
import { MetricsListener } from '../metrics/metrics-listener.ts';
import { RegistryMetrics } from '../metrics/registry-metrics.ts';
import { Notifier } from '../notifications/notifier.ts';

/** The `revision` label of `regctl_plan_info`: the commit, `+dirty` when it has changes; '' outside git. */
export function revisionLabel(revision: ConfigRevision | undefined): string {
  if (revision === undefined) return '';
  return revision.dirty ? `${revision.commit}+dirty` : revision.commit;
}

export interface ObservabilityOptions {
  readonly log: FastifyBaseLogger;
  /** For tests: the first webhook retry delay (default 1 s). */
  readonly notificationBackoffMs?: number;
}

/** What {@link Observability.prepare} opened, to make live after the swap or to undo. */
export interface ObservabilityChange {
  commit(info?: { revision?: string }): Promise<void>;
  abort(): Promise<void>;
}

export class Observability implements EventSink {
  readonly metrics = new RegistryMetrics();
  readonly #log: FastifyBaseLogger;
  readonly #listener: MetricsListener;
  readonly #audit: AuditLog;
  readonly #notifier: Notifier;
  #wantsPull = false;

  constructor(options: ObservabilityOptions) {
    this.#log = options.log;
    this.#listener = new MetricsListener(this.metrics, options.log);
    this.#audit = new AuditLog({ log: options.log, onLine: (ok) => this.metrics.auditLine(ok) });
    this.#notifier = new Notifier({
      log: options.log,
      metrics: this.metrics,
      ...(options.notificationBackoffMs === undefined ? {} : { firstBackoffMs: options.notificationBackoffMs }),
    });
  }

  /** `http://host:port` of the metrics listener, or undefined when the plan has none. */
  get metricsUrl(): string | undefined {
    return this.#listener.url;
  }

  /** Opens what `plan` needs; throws (nothing changed) when something cannot be opened or resolved. */
  async prepare(plan: Plan, env: NodeJS.ProcessEnv): Promise<ObservabilityChange> {
    const listener = await this.#listener.prepare(plan.metrics);
    let audit: Awaited<ReturnType<AuditLog['prepare']>> | undefined;
    try {
      audit = await this.#audit.prepare(plan.audit);
      const notifier = this.#notifier.prepare(plan.notifications ?? [], env);
      return {
        commit: async (info = {}) => {
          this.metrics.applyPlan(plan, info);
          await Promise.all([listener.commit(), audit!.commit(), notifier.commit()]);
          this.#wantsPull = this.#notifier.wants('pull');
        },
        abort: async () => {
          await Promise.all([listener.abort(), audit?.abort(), notifier.abort()]);
        },
      };
    } catch (error) {
      await Promise.all([listener.abort(), audit?.abort()]);
      throw error;
    }
  }

  wants(action: ArtifactEvent['action']): boolean {
    return action === 'pull' ? this.#wantsPull : true;
  }

  artifact(event: ArtifactEvent & { readonly error?: string }): void {
    if (event.action !== 'pull') this.#audit.write(auditRecord(event));
    if (event.error === undefined) this.#notifier.publish(event);
  }

  authFailure(failure: AuthFailure): void {
    this.metrics.authFailure(failure.reason);
    // A client without credentials is challenged first by design (every docker pull): not audited.
    if (failure.reason === 'missing_credentials' || failure.reason === 'insufficient_scope') return;
    this.#audit.write({
      action: failure.reason === 'denied' ? 'access.denied' : 'login.failed',
      result: 'refused',
      user: failure.user,
      addr: failure.addr,
      ...(failure.repository === undefined ? {} : { repository: failure.repository }),
      ...(failure.name === undefined ? {} : { name: failure.name }),
      ...(failure.actions === undefined ? {} : { actions: failure.actions }),
      error: failure.reason,
      requestId: failure.requestId,
    });
  }

  /** A reload attempt: counted, timed and audited. */
  reload(outcome: {
    status: 'applied' | 'unchanged' | 'failed';
    reason: string;
    planId: string;
    previousPlanId: string;
    durationMs: number;
    error?: string;
    revision?: string;
  }): void {
    this.metrics.reload(outcome.status, outcome.durationMs / 1000, outcome.status !== 'failed');
    if (outcome.status === 'unchanged') this.metrics.planRevision(outcome.planId, outcome.revision ?? '');
    this.#audit.write({
      action: 'reload',
      result: outcome.status === 'failed' ? 'failed' : 'ok',
      outcome: outcome.status,
      trigger: outcome.reason,
      planId: outcome.planId,
      previousPlanId: outcome.previousPlanId,
      durationMs: outcome.durationMs,
      ...(outcome.revision === undefined ? {} : { revision: outcome.revision }),
      ...(outcome.error === undefined ? {} : { error: outcome.error.split('\n')[0] }),
    });
  }

  /** Reopens the audit file (SIGHUP, after logrotate moved it). */
  reopen(): Promise<void> {
    return this.#audit.reopen();
  }

  /** Closes the metrics listener and the audit log; webhook queues get a short grace. */
  async close(): Promise<void> {
    await Promise.all([this.#listener.close(), this.#notifier.close(), this.#audit.close()]);
    this.#log.debug('observability closed');
  }
}

function auditRecord(event: ArtifactEvent & { readonly error?: string }): AuditRecord {
  const moved = event.previousDigest !== undefined && event.previousDigest !== event.digest;
  return {
    action: event.action === 'push' && moved ? 'tag.move' : (event.action as 'push' | 'delete'),
    result: event.error === undefined ? 'ok' : 'failed',
    user: event.user,
    addr: event.request.addr,
    repository: event.repository,
    name: event.name,
    ...(event.tag === undefined ? {} : { tag: event.tag }),
    ...(event.digest === undefined ? {} : { digest: event.digest }),
    ...(event.mediaType === undefined ? {} : { mediaType: event.mediaType }),
    ...(moved ? { previousDigest: event.previousDigest } : {}),
    ...(event.error === undefined ? {} : { error: event.error }),
    requestId: event.request.id,
  };
}
