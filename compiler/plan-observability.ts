/**
 * The observability part of the {@link Plan} contract: the metrics listener, the audit log and the
 * webhook endpoints, as the compiler emits them and the runtime reads them (`runtime/metrics/`,
 * `runtime/audit/`, `runtime/notifications/`). Plain JSON, no zod, no I/O.
 */
import type { SecretRef } from './plan.ts';

/** `metrics`: the Prometheus listener, serving `GET /metrics`. */
export interface MetricsPlan {
  readonly host: string;
  readonly port: number;
}

/** The audit `file` that means the process's standard output. */
export const AUDIT_STDOUT = 'stdout';

/** `audit`: where audit lines go. */
export interface AuditPlan {
  /** An absolute path, or `'stdout'`. */
  readonly file: string;
}

/** The events a webhook endpoint can ask for. */
export type NotificationEvent = 'push' | 'delete' | 'pull';

/** One webhook endpoint of `notifications`. */
export interface NotificationPlan {
  /** Unique among the plan's endpoints: the label of its metrics and its name in logs. */
  readonly name: string;
  /** Absolute http(s) URL, without credentials. */
  readonly url: string;
  readonly events: readonly NotificationEvent[];
  /** Plan repository names or globs (`team-*`), matched as permissions are (`compileGlob`). */
  readonly repositories: readonly string[];
  /** Extra headers; values from the environment as {@link SecretRef}s. */
  readonly headers: Readonly<Record<string, string | SecretRef>>;
  readonly timeoutMs: number;
  /** Most events waiting for this endpoint; more are dropped (counted and logged). */
  readonly queueSize: number;
  /** Attempts of one batch before it is dropped. */
  readonly maxAttempts: number;
}
