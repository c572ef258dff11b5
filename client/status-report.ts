/** The parts of `/-/status` the report reads (see runtime/http/routes/ops.ts). */
export interface StatusDocument {
  readonly planId: string;
  readonly startedAt: string;
  readonly uptimeSeconds: number;
  readonly inFlight?: number;
  readonly lastReload: {
    readonly at: string;
    readonly outcome: string;
    readonly ok: boolean;
    readonly error?: string;
    readonly planId: string;
    readonly diff?: string;
    readonly revision?: { readonly commit?: string; readonly dirty?: boolean };
  };
  readonly config?: {
    readonly path?: string;
    readonly inSync: boolean;
    readonly servingSince?: string;
    readonly servingRevision?: { readonly commit?: string; readonly dirty?: boolean };
  };
  readonly listeners: readonly {
    readonly id: string;
    readonly tls: boolean;
    readonly defaultRepository: string | null;
  }[];
  readonly repositories: readonly {
    readonly name: string;
    readonly type: string;
    readonly online?: boolean;
    /** A proxy's declared prefetch (runtime/prefetch/scheduler.ts). */
    readonly prefetch?: {
      readonly images: number;
      readonly running: boolean;
      readonly nextRunAt: string | null;
      readonly lastRun: {
        readonly finishedAt: string;
        readonly ok: number;
        readonly images: number;
        readonly misses: readonly { readonly image: string; readonly reason: string }[];
      } | null;
    };
  }[];
  readonly upstreams?: readonly {
    readonly name: string;
    readonly url: string;
    readonly lastSuccessAt: string | null;
    readonly lastErrorAt: string | null;
    readonly lastError: string | null;
    readonly rateLimitRemaining: number | null;
    readonly rateLimitLimit: number | null;
    /** Its mirrors and remote URL in the order tried, with their circuit breakers (absent before mirrors). */
    readonly endpoints?: readonly {
      readonly url: string;
      readonly role: string;
      readonly state: string;
      readonly consecutiveFailures: number;
      readonly nextRetryAt: string | null;
      readonly lastError: string | null;
    }[];
  }[];
}

function duration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${seconds % 60 ? `${seconds % 60}s` : ''}`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h${Math.floor((seconds % 3600) / 60)}m`;
  return `${Math.floor(seconds / 86400)}d${Math.floor((seconds % 86400) / 3600)}h`;
}

const revision = (r?: { commit?: string; dirty?: boolean }) =>
  r?.commit === undefined ? '' : ` at ${r.commit.slice(0, 12)}${r.dirty ? ' (uncommitted changes)' : ''}`;

/** The report, and whether the last reload failed. */
export function formatStatusReport(status: StatusDocument, registry: string): { text: string; failed: boolean } {
  const failed = !status.lastReload.ok;
  const lines = [
    `registry   ${registry}`,
    `plan       ${status.planId.slice(0, 12)}${revision(status.config?.servingRevision)}, serving since ${status.config?.servingSince ?? status.startedAt}`,
    `uptime     ${duration(status.uptimeSeconds)} (started ${status.startedAt})${status.inFlight === undefined ? '' : `, ${status.inFlight} requests in flight`}`,
  ];
  if (status.config?.path !== undefined)
    lines.push(
      `config     ${status.config.path}: ${status.config.inSync ? 'serving' : 'NOT serving (the last reload of it failed)'}`,
    );
  const reload = status.lastReload;
  lines.push(
    `last reload ${reload.outcome} at ${reload.at}${revision(reload.revision)}${reload.ok ? '' : ': FAILED, the previous plan keeps serving'}`,
  );
  if (!reload.ok && reload.error !== undefined) for (const line of reload.error.split('\n')) lines.push(`  ${line}`);
  if (reload.ok && reload.diff !== undefined) lines.push(`  ${reload.diff}`);
  lines.push('listeners');
  for (const l of status.listeners)
    lines.push(`  ${l.id}${l.tls ? ' (TLS)' : ''}${l.defaultRepository ? ` → ${l.defaultRepository}` : ''}`);
  lines.push('repositories');
  for (const r of status.repositories) {
    lines.push(`  ${r.name} (${r.type}${r.online === false ? ', offline' : ''})`);
    const prefetch = r.prefetch;
    if (prefetch === undefined) continue;
    const run = prefetch.lastRun;
    const next = prefetch.running ? 'running now' : prefetch.nextRunAt === null ? '' : `next at ${prefetch.nextRunAt}`;
    lines.push(
      run === null
        ? `    prefetch of ${prefetch.images} images: first run ${prefetch.running ? 'running' : 'not done yet'}`
        : `    prefetch: ${run.ok}/${run.images} images cached at ${run.finishedAt}${run.misses.length > 0 ? `, ${run.misses.length} MISSED` : ''}${next === '' ? '' : `; ${next}`}`,
    );
    for (const miss of run?.misses ?? []) lines.push(`      ${miss.image}: ${miss.reason}`);
  }
  const upstreams = status.upstreams ?? [];
  if (upstreams.length > 0) {
    lines.push('upstreams');
    for (const u of upstreams) {
      const health =
        u.lastErrorAt !== null && (u.lastSuccessAt === null || u.lastErrorAt > u.lastSuccessAt)
          ? `FAILING since ${u.lastErrorAt}: ${u.lastError}`
          : u.lastSuccessAt !== null
            ? `ok (last answer ${u.lastSuccessAt})`
            : 'not contacted yet';
      const quota =
        u.rateLimitRemaining === null ? '' : `, quota ${u.rateLimitRemaining}/${u.rateLimitLimit ?? '?'} left`;
      lines.push(`  ${u.name} ${u.url}: ${health}${quota}`);
      // Each endpoint once there are mirrors, or when the only one is skipped or rate-limited.
      const endpoints = u.endpoints ?? [];
      if (endpoints.length > 1 || endpoints.some((e) => e.state !== 'closed')) {
        for (const e of endpoints) {
          const state =
            e.state === 'closed'
              ? 'closed'
              : `${e.state.toUpperCase()}${e.consecutiveFailures > 0 ? ` after ${e.consecutiveFailures} failures` : ''}, next try ${e.nextRetryAt}${e.lastError === null ? '' : `: ${e.lastError}`}`;
          lines.push(`    ${e.role} ${e.url}: ${state}`);
        }
      }
    }
  }
  return { text: lines.join('\n'), failed };
}
