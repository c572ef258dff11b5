/**
 * Warnings a reload computes from the plan it replaces and the plan it installs: the changes an
 * operator must not miss even though the reload itself is valid. They are logged and shown in the
 * reload record of `/-/status`; none of them blocks the reload.
 */
import type { BlobStorePlan, Plan } from '../../compiler/plan.ts';

/** Where a blob store keeps its content, as a comparable string (the path or the bucket+prefix). */
function locationOf(store: BlobStorePlan): string {
  if (store.driver === 'file') return `path ${store.path}`;
  const bucket = typeof store.bucket === 'string' ? store.bucket : `env:${store.bucket.env}`;
  return `bucket ${bucket}${store.prefix ? `/${store.prefix}` : ''}`;
}

/**
 * Lists what the operator should know about a `previous` → `next` change:
 * - a repository removed: its content stays in its blob store (a config change never deletes
 *   content), so re-adding it brings the images back;
 * - a blob store whose path or bucket changed: the repositories on it now see another store's
 *   content, and the old content is left where it was;
 * - a listener port changed (a listener on the same host removed and another added): clients
 *   configured with the old port will fail.
 */
export function computeReloadWarnings(previous: Plan, next: Plan): string[] {
  const warnings: string[] = [];
  for (const name of Object.keys(previous.repositories)) {
    if (next.repositories[name]) continue;
    const store = previous.repositories[name]?.blobStore ?? '?';
    warnings.push(
      `repository ${name} removed: its content stays in blob store ${store} (config changes never delete content)`,
    );
  }
  for (const [name, before] of Object.entries(previous.blobStores)) {
    const after = next.blobStores[name];
    if (!after) continue;
    const [from, to] = [locationOf(before), locationOf(after)];
    if (from !== to)
      warnings.push(`blob store ${name} moved from ${from} to ${to}: content at the old location is not moved`);
  }
  const nextIds = new Set(next.listeners.map((listener) => listener.id));
  const prevIds = new Set(previous.listeners.map((listener) => listener.id));
  for (const listener of previous.listeners) {
    if (nextIds.has(listener.id)) continue;
    const moved = next.listeners.filter((other) => other.host === listener.host && !prevIds.has(other.id));
    warnings.push(
      moved.length > 0
        ? `listener ${listener.id} moved to port ${moved.map((other) => other.port).join(', ')}: clients of the old port will fail`
        : `listener ${listener.id} removed: it is drained and closed`,
    );
  }
  return warnings;
}
