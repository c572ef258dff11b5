/**
 * Plan diff: what a new plan adds, removes or changes, per section (blob stores, repositories,
 * listeners and their routes, users, roles, token and reload settings, metrics, audit and
 * notifications). Values are compared by canonical JSON and shown redacted, so a diff can be
 * printed in CI logs; each change appears once (a user's permissions, compiled from its roles,
 * are not compared: the role's change is). Printing is format-plan-diff.ts.
 */
import { canonicalJson, DEFAULT_RELOAD_TIMEOUT_MS, type Plan } from './plan.ts';
import { redactPlan } from './redact.ts';

/** One changed field of an entry, as redacted JSON values. */
export interface FieldChange {
  readonly field: string;
  readonly before: unknown;
  readonly after: unknown;
}

export interface SectionDiff {
  readonly added: string[];
  readonly removed: string[];
  readonly changed: { readonly name: string; readonly changes: FieldChange[] }[];
}

export interface PlanDiff {
  readonly from: string;
  readonly to: string;
  /** True when both plans have the same id. */
  readonly identical: boolean;
  readonly blobStores: SectionDiff;
  readonly repositories: SectionDiff;
  readonly listeners: SectionDiff;
  readonly users: SectionDiff;
  readonly roles: SectionDiff;
  readonly settings: FieldChange[];
}

type Entries = Record<string, Record<string, unknown>>;

function fieldChanges(before: Record<string, unknown>, after: Record<string, unknown>, prefix = ''): FieldChange[] {
  const out: FieldChange[] = [];
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  for (const key of keys) {
    const a = before[key];
    const b = after[key];
    if (canonicalJson(a ?? null) === canonicalJson(b ?? null)) continue;
    const isRecord = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);
    if (isRecord(a) && isRecord(b))
      out.push(...fieldChanges(a as Record<string, unknown>, b as Record<string, unknown>, `${prefix}${key}.`));
    else out.push({ field: `${prefix}${key}`, before: a ?? null, after: b ?? null });
  }
  return out;
}

function diffSection(before: Entries, after: Entries): SectionDiff {
  const added = Object.keys(after)
    .filter((k) => !(k in before))
    .sort();
  const removed = Object.keys(before)
    .filter((k) => !(k in after))
    .sort();
  const changed = Object.keys(after)
    .filter((k) => k in before)
    .sort()
    .map((name) => ({ name, changes: fieldChanges(before[name]!, after[name]!) }))
    .filter((c) => c.changes.length > 0);
  return { added, removed, changed };
}

function byKey(list: readonly unknown[], key: string): Entries {
  return Object.fromEntries((list as Record<string, unknown>[]).map((e) => [String(e[key]), e]));
}

/** Compares two plans; values in the result are redacted. */
export function diffPlans(a: Plan, b: Plan): PlanDiff {
  const ra = redactPlan(a) as Record<string, Record<string, unknown>> & {
    listeners: unknown[];
    security: Record<string, unknown>;
  };
  const rb = redactPlan(b) as typeof ra;
  // A user's permissions are its roles' (compiled in): a role change is shown once, on the role.
  const users = (r: typeof ra) =>
    Object.fromEntries(
      Object.entries(byKey(r.security.users as unknown[], 'name')).map(([name, { permissions: _, ...user }]) => [
        name,
        user,
      ]),
    );
  const roles = (r: typeof ra) =>
    Object.fromEntries(
      Object.entries(r.security.roles as Record<string, unknown>).map(([k, v]) => [k, { permissions: v }]),
    );
  const settings = (r: typeof ra) => ({
    realm: r.security.realm,
    token: r.security.token,
    loginThrottle: r.security.loginThrottle,
  });
  const observability = (r: typeof ra) => ({
    metrics: r.metrics ?? null,
    audit: r.audit ?? null,
    notifications: r.notifications ?? [],
  });
  const reload = (r: typeof ra) => (r.reload ?? { timeoutMs: DEFAULT_RELOAD_TIMEOUT_MS }) as Record<string, unknown>;
  return {
    from: a.id,
    to: b.id,
    identical: a.id === b.id,
    blobStores: diffSection(ra.blobStores as Entries, rb.blobStores as Entries),
    repositories: diffSection(ra.repositories as Entries, rb.repositories as Entries),
    listeners: diffSection(byKey(ra.listeners, 'id'), byKey(rb.listeners, 'id')),
    users: diffSection(users(ra), users(rb)),
    roles: diffSection(roles(ra), roles(rb)),
    settings: [
      ...fieldChanges(settings(ra), settings(rb), 'security.'),
      ...fieldChanges(reload(ra), reload(rb), 'reload.'),
      ...fieldChanges(observability(ra), observability(rb)),
      ...fieldChanges({ ui: ra.ui?.enabled ?? true }, { ui: rb.ui?.enabled ?? true }),
    ],
  };
}
