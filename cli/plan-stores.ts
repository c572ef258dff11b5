/**
 * For commands that work on the blob stores themselves, not through a running registry (`gc`,
 * `usage`): builds the config's plan, opens its stores, runs the command, closes them.
 */
import type { Plan } from '../compiler/plan.ts';
import type { BlobStore } from '../runtime/storage/blob-store.ts';
import { type CliIo, compiler, failureCode } from './io.ts';

/** Runs `fn` over the plan of `configPath` and its opened stores; a config that does not build prints its diagnostics. */
export async function withPlanStores(
  configPath: string | undefined,
  io: CliIo,
  fn: (plan: Plan, stores: ReadonlyMap<string, BlobStore>) => Promise<number>,
): Promise<number> {
  const { buildPlan, formatDiagnostics } = await compiler();
  const built = await buildPlan({ configPath });
  if (!built.ok) {
    io.stderr(formatDiagnostics(built.diagnostics, 'text'));
    return failureCode(built);
  }
  const { openPlanStores } = await import('../runtime/storage/index.ts');
  const stores = await openPlanStores(built.plan, { env: process.env });
  try {
    return await fn(built.plan, stores);
  } finally {
    for (const store of stores.values()) await store.close();
  }
}
