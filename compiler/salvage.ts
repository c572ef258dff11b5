/**
 * A config the schema rejects still gets its cross-reference checks: the broken parts are taken
 * out of a copy of the input, so that the semantic rules can run over what is left and one run
 * reports every problem (a bad duration in one repository must not hide an unknown group member
 * in another).
 *
 * Taking out: a field the schema rejects is deleted (its default applies, or it was optional);
 * when the schema then misses a required field, its parent object is deleted instead, and so on
 * up. An element of a list that cannot be repaired that way (a repository without a usable
 * `remote`, a user with a plaintext password) is replaced by a stand-in that keeps its name and
 * the fields that refer to other parts of the config (members, blob store, roles, …), so those
 * references are still checked, and a reference *to* it is not reported as unknown.
 *
 * What the rules then say about taken-out or stand-in values is not about the user's config, so
 * it is dropped: {@link isReported} keeps a rule's diagnostic only outside every taken-out path,
 * or on a reference field a stand-in copied from the input.
 */
import type { z } from 'zod';
import type { DiagnosticPath } from './diagnostics.ts';

type Path = readonly (string | number)[];
type Json = Record<string | number, unknown>;

/** The fields of a list element that a stand-in copies, per list (paths from the config root). */
interface StandIn {
  readonly matches: (path: Path) => boolean;
  /** Fields copied from the input when they have the right type (they name other parts). */
  readonly references: Record<string, (value: unknown) => boolean>;
  readonly build: (raw: Json, index: number) => Json;
}

const isString = (v: unknown) => typeof v === 'string' && v.length > 0;
const isStrings = (v: unknown) => Array.isArray(v) && v.every(isString);
const isRouteMap = (v: unknown) =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every(isString);
const nameOf = (raw: Json, fallback: string) => (isString(raw.name) ? raw.name : fallback);

const STAND_INS: readonly StandIn[] = [
  {
    matches: (p) => p.length === 2 && p[0] === 'blobStores',
    references: {},
    build: (raw, i) => ({ name: nameOf(raw, `invalid-${i}`), type: 'file', path: `/regctl-stand-in/blob-store-${i}` }),
  },
  {
    matches: (p) => p.length === 2 && p[0] === 'repositories',
    references: { blobStore: isString, members: isStrings, writableMember: isString },
    build: (raw, i) => {
      const name = nameOf(raw, `invalid-${i}`);
      if (raw.type === 'group') return { name, type: 'group', members: [] };
      if (raw.type === 'proxy') return { name, type: 'proxy', remote: { url: 'https://stand-in.invalid' } };
      return { name, type: 'hosted' };
    },
  },
  {
    matches: (p) => p.length === 2 && p[0] === 'listeners',
    references: { repository: isString, paths: (v) => isStrings(v) || isRouteMap(v), mirrors: isRouteMap },
    // TEST-NET-1 addresses: a stand-in never conflicts with a real listener.
    build: (_raw, i) => ({ host: `192.0.2.${(i % 254) + 1}`, port: 1 }),
  },
  {
    matches: (p) => p.length === 3 && p[0] === 'security' && p[1] === 'users',
    references: { roles: isStrings },
    build: (raw, i) => ({ name: nameOf(raw, `invalid-${i}`), password: { env: 'REGCTL_STAND_IN' } }),
  },
  {
    matches: (p) => p.length === 4 && p[0] === 'security' && p[1] === 'roles',
    references: { repositories: isStrings },
    build: () => ({ repositories: ['*'], actions: ['pull'] }),
  },
];

/** The input with the broken parts taken out, and where; `undefined` when nothing usable is left. */
export interface Salvaged {
  readonly value: unknown;
  /** Paths deleted or replaced; rule diagnostics at or under them are dropped. */
  readonly removed: Path[];
  /** Reference fields stand-ins copied from the input: rule diagnostics there are kept. */
  readonly kept: Path[];
}

const startsWith = (path: Path, prefix: Path) => prefix.length <= path.length && prefix.every((s, i) => s === path[i]);

function get(root: unknown, path: Path): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Json)[key];
  }
  return value;
}

/**
 * Repairs `input` against `schema` in at most a few rounds; `undefined` when the root itself is
 * wrong or a part cannot be taken out (the caller then reports the schema's diagnostics alone).
 */
export function salvage(input: unknown, schema: z.ZodType, issues: readonly z.core.$ZodIssue[]): Salvaged | undefined {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return undefined;
  const value = structuredClone(input) as Json;
  const removed: Path[] = [];
  const kept: Path[] = [];
  let pending = issues;
  for (let round = 0; round < 8; round += 1) {
    const thisRound: Path[] = [];
    for (const issue of pending) {
      const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
      const targets = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => [...path, k]) : [path];
      for (const target of targets) if (!takeOut(value, target, thisRound, kept)) return undefined;
    }
    removed.push(...thisRound);
    const parsed = schema.safeParse(value);
    if (parsed.success) return { value, removed, kept };
    pending = parsed.error.issues;
  }
  return undefined;
}

/**
 * Deletes the value at `path`, or what holds it, or replaces the list element it is in; records
 * it in `removed` (this round's). A path under one already taken out this round is done.
 */
function takeOut(root: Json, path: Path, removed: Path[], kept: Path[]): boolean {
  if (removed.some((r) => startsWith(path, r))) return true;
  for (let n = path.length; n > 0; n -= 1) {
    const at = path.slice(0, n);
    const standIn = STAND_INS.find((s) => s.matches(at));
    const parent = get(root, at.slice(0, -1));
    if (parent === null || typeof parent !== 'object') continue;
    const key = at.at(-1)!;
    if (standIn) {
      const raw = (parent as Json)[key];
      const original = raw !== null && typeof raw === 'object' ? (raw as Json) : {};
      const replacement = standIn.build(original, typeof key === 'number' ? key : 0);
      for (const [field, usable] of Object.entries(standIn.references)) {
        if (usable(original[field])) {
          replacement[field] = original[field];
          kept.push([...at, field]);
        }
      }
      (parent as Json)[key] = replacement;
      removed.push(at);
      return true;
    }
    // An element of a list with no stand-in: take out the whole list (its field) instead.
    if (Array.isArray(parent)) continue;
    if (key in parent) {
      delete (parent as Json)[key];
      removed.push(at);
      return true;
    }
    // Already absent (a required field): take out what holds it, one level up.
  }
  return false;
}

/**
 * Whether a rule's diagnostic at `path` is about the user's input (see the file comment): not at
 * or under a taken-out path, nor on an object that lost a field (what a rule says about it, e.g.
 * "nobody can push" after a misspelled `anonymous` was taken out, rests on a default); kept on
 * the reference fields a stand-in copied.
 */
export function isReported(path: DiagnosticPath, salvaged: Salvaged): boolean {
  if (salvaged.kept.some((k) => startsWith(path, k))) return true;
  return !salvaged.removed.some((r) => startsWith(path, r) || startsWith(r, path));
}
