/**
 * A human-readable summary of a plan for `regctl plan`: blob stores, repositories, listeners with
 * their route tables, users. Secrets are shown redacted; `--json` prints the full redacted plan.
 */
import { DEFAULT_RELOAD_TIMEOUT_MS, type Plan, type RepositoryPlan } from './plan.ts';

function seconds(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${ms / 1000}s`;
}

function access(repo: RepositoryPlan): string {
  return repo.access.anonymous.length ? `anonymous ${repo.access.anonymous.join('/')}` : 'authenticated';
}

function describeRepository(repo: RepositoryPlan): string {
  const head = `  ${repo.name} (${repo.type}${repo.online ? '' : ', offline'}) store=${repo.blobStore} ${access(repo)}`;
  switch (repo.type) {
    case 'hosted':
      return `${head} ${repo.deploymentPolicy}`;
    case 'proxy':
      return `${head}\n    remote ${repo.remote.url} index=${repo.remote.index}${repo.remote.auth ? ' auth' : ''} metadataMaxAge=${seconds(repo.metadataMaxAgeMs)} negativeCacheTtl=${seconds(repo.negativeCacheTtlMs)}${repo.offline ? ' offline' : ''}${repo.httpProxy ? ` via ${repo.httpProxy.url}` : ''}`;
    case 'group':
      return `${head}\n    members ${repo.members.join(' → ')}; writable ${repo.writableMember ?? '(none)'}`;
  }
}

/** Multi-line text summary of `plan`. */
export function formatPlan(plan: Plan): string {
  const lines = [`plan ${plan.id}`, 'blob stores:'];
  for (const store of Object.values(plan.blobStores)) {
    lines.push(
      store.driver === 'file'
        ? `  ${store.name} (file) ${store.path}`
        : `  ${store.name} (s3) bucket=${typeof store.bucket === 'string' ? store.bucket : `env:${store.bucket.env}`}`,
    );
  }
  lines.push('repositories:');
  for (const repo of Object.values(plan.repositories)) lines.push(describeRepository(repo));
  lines.push('listeners:');
  for (const listener of plan.listeners) {
    lines.push(`  ${listener.tls ? 'https' : 'http'}://${listener.id}`);
    for (const [ns, repo] of Object.entries(listener.mirrors)) lines.push(`    ?ns=${ns} → ${repo}`);
    for (const [host, repo] of Object.entries(listener.virtualHosts)) lines.push(`    host ${host} → ${repo}`);
    for (const [prefix, repo] of Object.entries(listener.paths)) lines.push(`    /v2/${prefix}/… → ${repo}`);
    if (listener.defaultRepository) lines.push(`    /v2/… → ${listener.defaultRepository}`);
  }
  const { security } = plan;
  lines.push(
    `security: realm=${security.realm} token=${security.token.enabled ? `on ttl=${seconds(security.token.ttlMs)}` : 'off'}`,
  );
  for (const user of security.users) {
    const password = 'env' in user.password ? `env:${user.password.env}` : 'bcrypt <redacted>';
    lines.push(`  user ${user.name} (${password}) roles=${user.roles.join(',') || '-'}`);
  }
  lines.push(`reload: timeout=${seconds(plan.reload?.timeoutMs ?? DEFAULT_RELOAD_TIMEOUT_MS)}`);
  return lines.join('\n');
}
