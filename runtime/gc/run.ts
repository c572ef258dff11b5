/**
 * Garbage collection of every blob store of a plan: what `regctl gc` runs once and what `serve`
 * runs on the plan's `gc.interval` (scheduler.ts). The cleanup rules of the plan's hosted
 * repositories apply; repositories only present in the store are marked but never cleaned.
 */
import type { FastifyBaseLogger } from 'fastify';
import { DEFAULT_GC_GRACE_PERIOD_MS, type Plan } from '../../compiler/plan.ts';
import type { BlobStore } from '../storage/blob-store.ts';
import type { CleanupRule } from './cleanup.ts';
import { collectGarbage, type GcOptions, type GcReport } from './collector.ts';

/** The cleanup rules of `plan`'s hosted repositories on store `storeName`. */
export function cleanupRulesOf(plan: Plan, storeName: string): Map<string, readonly CleanupRule[]> {
  const rules = new Map<string, readonly CleanupRule[]>();
  for (const repository of Object.values(plan.repositories)) {
    if (repository.type === 'hosted' && repository.blobStore === storeName && repository.cleanup !== undefined) {
      rules.set(repository.name, repository.cleanup);
    }
  }
  return rules;
}

/** Options of {@link collectPlan}. */
export interface CollectPlanOptions {
  readonly dryRun?: boolean;
  readonly log?: FastifyBaseLogger;
  /** Extra pass options (tests: hooks, clock). */
  readonly pass?: Partial<GcOptions>;
}

/** One pass over each of `stores` (the plan's, opened by the caller), one after the other. */
export async function collectPlan(
  plan: Plan,
  stores: ReadonlyMap<string, BlobStore>,
  options: CollectPlanOptions = {},
): Promise<GcReport[]> {
  const reports: GcReport[] = [];
  for (const [name, store] of stores) {
    const report = await collectGarbage(store, {
      gracePeriodMs: plan.gc?.gracePeriodMs ?? DEFAULT_GC_GRACE_PERIOD_MS,
      ...(plan.gc?.settleMs === undefined ? {} : { settleMs: plan.gc.settleMs }),
      cleanup: cleanupRulesOf(plan, name),
      ...(options.dryRun === true ? { dryRun: true } : {}),
      ...options.pass,
    });
    options.log?.info(
      {
        store: name,
        dryRun: report.dryRun,
        skipped: report.skipped?.heldBy.holder,
        blobs: report.deleted.blobs.length,
        manifests: report.deleted.manifests.length,
        tags: report.deleted.tags.length,
        reclaimedBytes: report.reclaimedBytes,
        restored: report.restored,
        startedAt: report.startedAt,
        durationMs: report.durationMs,
      },
      report.skipped ? 'garbage collection skipped: another collector holds the lease' : 'garbage collection done',
    );
    reports.push(report);
  }
  return reports;
}
