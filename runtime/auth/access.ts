/**
 * Permissions: who may do what on which repository. Pure data from the plan, evaluated with
 * precompiled globs and memoised per (user, repository), so a check is two map lookups.
 *
 * The rules:
 * - anonymous requests get the repository's `access.anonymous` actions;
 * - an authenticated user gets the union of its permissions (role grants resolved by the
 *   compiler) whose repository glob matches, plus what anonymous gets: logging in never
 *   takes rights away;
 * - permissions are written against plan repository names, never the name a client sees.
 */
import { type Action, compileGlob, type PermissionPlan, type Plan } from '../../compiler/plan.ts';

const NO_ACTIONS: ReadonlySet<Action> = new Set();

interface CompiledPermission {
  readonly patterns: readonly RegExp[];
  readonly actions: readonly Action[];
}

function compilePermissions(permissions: readonly PermissionPlan[]): CompiledPermission[] {
  return permissions.map((permission) => ({
    patterns: permission.repositories.map(compileGlob),
    actions: permission.actions,
  }));
}

/** A principal as the policy knows it: a user name and its permissions, or null for anonymous. */
export interface PolicySubject {
  readonly name: string;
  readonly permissions: readonly PermissionPlan[];
}

/**
 * Evaluates the plan's access rules. One instance per plan; its memo never outlives the plan.
 * Memoised per subject *object* (the controller's users are fixed for its plan), so a lookup
 * builds no key string; a subject object that goes away takes its memo with it.
 */
export class AccessPolicy {
  readonly #plan: Plan;
  readonly #compiled = new WeakMap<PolicySubject, CompiledPermission[]>();
  readonly #memo = new WeakMap<PolicySubject, Map<string, ReadonlySet<Action>>>();
  readonly #anonymous = new Map<string, ReadonlySet<Action>>();

  constructor(plan: Plan) {
    this.#plan = plan;
  }

  /** What anonymous requests may do on `repository` (nothing for a repository not in the plan). */
  anonymous(repository: string): ReadonlySet<Action> {
    return this.allowed(null, repository);
  }

  /** What `subject` (null = anonymous) may do on `repository`. */
  allowed(subject: PolicySubject | null, repository: string): ReadonlySet<Action> {
    let perRepository = subject === null ? this.#anonymous : this.#memo.get(subject);
    const known = perRepository?.get(repository);
    if (known !== undefined) return known;
    const plan = this.#plan.repositories[repository];
    if (plan === undefined) return NO_ACTIONS;
    const actions = new Set<Action>(plan.access.anonymous);
    if (subject !== null) {
      for (const permission of this.#permissionsOf(subject)) {
        if (permission.patterns.some((pattern) => pattern.test(repository))) {
          for (const action of permission.actions) actions.add(action);
        }
      }
    }
    if (perRepository === undefined) {
      perRepository = new Map();
      this.#memo.set(subject!, perRepository);
    }
    perRepository.set(repository, actions);
    return actions;
  }

  /** True when anonymous requests may pull from at least one of `repositories` (the `/v2/` ping). */
  anonymousCanPullAny(repositories: readonly string[]): boolean {
    return repositories.some((repository) => this.anonymous(repository).has('pull'));
  }

  #permissionsOf(subject: PolicySubject): CompiledPermission[] {
    let compiled = this.#compiled.get(subject);
    if (compiled === undefined) {
      compiled = compilePermissions(subject.permissions);
      this.#compiled.set(subject, compiled);
    }
    return compiled;
  }
}

/** True when every action of `wanted` is in `granted`. */
export function coversAll(granted: ReadonlySet<Action>, wanted: readonly Action[]): boolean {
  return wanted.every((action) => granted.has(action));
}
