/**
 * Redaction for printing: a plan holds no secret values, but bcrypt hashes are still worth hiding
 * from logs and terminals, and secret references read better as `env:NAME`.
 */
import type { Plan } from './plan.ts';

/** The JSON value of `plan` with bcrypt hashes as `<redacted>` and every `{ env }` as `env:NAME`. */
export function redactPlan(plan: Plan): unknown {
  const visit = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(visit);
    if (value === null || typeof value !== 'object') return value;
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record);
    if (keys.length === 1 && typeof record.env === 'string') return `env:${record.env}`;
    if (keys.length === 1 && typeof record.bcrypt === 'string') return '<redacted>';
    return Object.fromEntries(keys.map((k) => [k, visit(record[k])]));
  };
  return visit(plan);
}
