/**
 * Cleanup policies (`cleanup:` of a hosted repository): which tags a garbage-collection pass
 * deletes. Pure: the collector hands in each image's tags with their times.
 *
 * Each rule selects tags and deletes some of them; a tag goes when any rule deletes it:
 * - `tags` (a regular expression, default every tag) and not `protect` select the rule's tags;
 * - `olderThan` / `notPulledFor` delete the selected tags pushed longer ago / not pulled for
 *   longer (a tag never pulled counts from its push); both given: both must hold;
 * - `keep: N` always keeps the N most recently pushed of the selected tags; with no other
 *   condition it deletes the rest, so `{ tags: '^nightly-', keep: 3 }` keeps the last three nightlies,
 *   and `{ olderThan: '90d', keep: 5 }` deletes old tags but never leaves fewer than five.
 * Times are per image: an image's tags compete only with each other.
 */
import type { Digest } from '../storage/blob-store.ts';

/** One rule as the plan carries it (durations in ms, patterns as RegExp sources). */
export interface CleanupRule {
  readonly tags?: string;
  readonly protect?: string;
  readonly keep?: number;
  readonly olderThanMs?: number;
  readonly notPulledForMs?: number;
}

/** A tag with the times the rules look at. */
export interface TagFacts {
  readonly tag: string;
  readonly digest: Digest;
  /** Epoch ms the manifest was pushed (its link time). */
  readonly pushedAt: number;
  /** Epoch ms of its last recorded pull, if any. */
  readonly pulledAt?: number;
}

/** A tag a rule deletes, and why. */
export interface TagRemoval {
  readonly tag: string;
  readonly digest: Digest;
  /** Index of the rule in `cleanup` (the first that deletes it). */
  readonly rule: number;
  readonly reason: string;
}

const DAY = 86_400_000;
const formatAge = (ms: number) =>
  ms >= DAY
    ? `${Math.floor(ms / DAY)}d`
    : ms >= 3_600_000
      ? `${Math.floor(ms / 3_600_000)}h`
      : `${Math.floor(ms / 60_000)}m`;

/** The tags of one image that `rules` delete at `now`, each once, in tag order. */
export function selectTagRemovals(rules: readonly CleanupRule[], tags: readonly TagFacts[], now: number): TagRemoval[] {
  const removed = new Map<string, TagRemoval>();
  rules.forEach((rule, index) => {
    const select = rule.tags === undefined ? undefined : new RegExp(rule.tags);
    const protect = rule.protect === undefined ? undefined : new RegExp(rule.protect);
    const selected = tags.filter((t) => (select === undefined || select.test(t.tag)) && !protect?.test(t.tag));
    const conditioned = rule.olderThanMs !== undefined || rule.notPulledForMs !== undefined;
    const doomed = selected.filter(
      (t) =>
        (rule.olderThanMs === undefined || now - t.pushedAt > rule.olderThanMs) &&
        (rule.notPulledForMs === undefined || now - (t.pulledAt ?? t.pushedAt) > rule.notPulledForMs),
    );
    if (!conditioned && rule.keep === undefined) return; // the compiler refuses such a rule
    const newestFirst = (list: readonly TagFacts[]) =>
      [...list].sort((a, b) => b.pushedAt - a.pushedAt || (a.tag < b.tag ? -1 : 1));
    const spared = new Set(
      newestFirst(selected)
        .slice(0, rule.keep ?? 0)
        .map((t) => t.tag),
    );
    for (const t of newestFirst(doomed)) {
      if (spared.has(t.tag) || removed.has(t.tag)) continue;
      const why: string[] = [];
      if (rule.keep !== undefined)
        why.push(`not among the ${rule.keep} newest${select ? ` tags matching ${rule.tags}` : ''}`);
      if (rule.olderThanMs !== undefined)
        why.push(`pushed ${formatAge(now - t.pushedAt)} ago (olderThan ${formatAge(rule.olderThanMs)})`);
      if (rule.notPulledForMs !== undefined) {
        why.push(
          t.pulledAt === undefined
            ? `never pulled since its push ${formatAge(now - t.pushedAt)} ago (notPulledFor ${formatAge(rule.notPulledForMs)})`
            : `last pulled ${formatAge(now - t.pulledAt)} ago (notPulledFor ${formatAge(rule.notPulledForMs)})`,
        );
      }
      removed.set(t.tag, { tag: t.tag, digest: t.digest, rule: index, reason: `cleanup[${index}]: ${why.join(', ')}` });
    }
  });
  return [...removed.values()].sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
}
