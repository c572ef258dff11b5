/**
 * The compiler's public entry: load → validate → compile. Used by the CLI (`validate`, `plan`),
 * by the runtime at start and on every hot reload, and by tests. Re-exports only.
 */
export { type BuildOptions, type BuildResult, buildPlan, locateDiagnostics } from './build.ts';
export { checkConfig } from './check.ts';
export { compilePlan, DOCKER_HUB_HOSTS } from './compile.ts';
export type { Diagnostic, DiagnosticFormat, Severity } from './diagnostics.ts';
export { formatDiagnostics, formatPath, hasErrors } from './diagnostics.ts';
export { diffPlans, type FieldChange, type PlanDiff } from './diff.ts';
export { formatPlan } from './format-plan.ts';
export {
  formatDuration,
  formatPlanDiff,
  type PlanDiffFormat,
  type PlanDiffFormatOptions,
  summaryLine,
} from './format-plan-diff.ts';
export { buildPlanAtRevision } from './git-revision.ts';
export { CONFIG_FILE_NAMES, loadConfig } from './load.ts';
export type { Plan } from './plan.ts';
export { canonicalJson, computePlanId, deepFreeze } from './plan.ts';
export { redactPlan } from './redact.ts';
