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
  // line:column only for a config that does not build: placing them loads the TypeScript parser
  // (≈ 75 MiB of RSS that a GC pass would carry to its end).
  const built = await buildPlan({ ...(configPath === undefined ? {} : { configPath }), positions: 'failed' });
  if (built.diagnostics.length > 0) io.stderr(formatDiagnostics(built.diagnostics, 'text'));
  if (!built.ok) return failureCode(built);
  const { openPlanStores } = await import('../runtime/storage/index.ts');
  const { boundBatchHeap } = await import('../runtime/server/memory-reducer.ts');
  const heap = boundBatchHeap();
  const stores = await openPlanStores(built.plan, { env: process.env });
  try {
    return await fn(built.plan, stores);
  } finally {
    for (const store of stores.values()) await store.close();
    heap.stop();
  }
}
