/**
 * The serving plan (`/ui/plan`) and the reload history (`/ui/reloads`), for operators only (see
 * viewer.ts). The plan is rendered from the `Plan` itself: blob stores, repositories with their
 * access, listeners with their routes, security (users and roles, never a password or a secret
 * reference's value: only which environment variable holds it), GC and reload settings. The
 * history is the holder's latest attempts, each failure with its diagnostics as the reloader
 * wrote them (they never quote a secret: compiler/secret-values.ts).
 */
import type { Plan, RepositoryPlan } from '../../../compiler/plan.ts';
import type { ReloadRecord } from '../../server/plan-holder.ts';
import { formatTime, urls } from '../format.ts';
import { type Html, html } from '../html.ts';
import type { UiContext } from './context.ts';
import { empty, facts } from './layout.ts';
import type { PageContent } from './repositories.ts';

function seconds(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${ms / 1000}s`;
}

function repositoryDetail(repository: RepositoryPlan): Html {
  switch (repository.type) {
    case 'hosted':
      return html`${repository.deploymentPolicy}${repository.quotaBytes === undefined ? undefined : html`, quota ${repository.quotaBytes} bytes`}`;
    case 'proxy':
      return html`remote <code>${repository.remote.url}</code>, metadataMaxAge ${seconds(repository.metadataMaxAgeMs)}${repository.offline ? ', offline' : undefined}${repository.remote.auth ? ', with credentials' : undefined}`;
    case 'group':
      return html`members ${repository.members.join(' → ')}; pushes to ${repository.writableMember ?? '(none)'}`;
  }
}

function revision(record: { revision?: { commit: string; dirty: boolean } } | undefined): string | undefined {
  const value = record?.revision;
  return value === undefined
    ? undefined
    : `${value.commit.slice(0, 12)}${value.dirty ? ' (with uncommitted changes)' : ''}`;
}

function planBody(plan: Plan): Html {
  const stores = Object.values(plan.blobStores);
  const repositories = Object.values(plan.repositories);
  return html`<h2>Blob stores</h2>
<table class="rows"><thead><tr><th scope="col">Name</th><th scope="col">Driver</th><th scope="col">Where</th></tr></thead><tbody>${stores.map(
    (store) =>
      html`<tr><td data-label="Name">${store.name}</td><td data-label="Driver">${store.driver}</td><td data-label="Where"><code>${store.driver === 'file' ? store.path : `bucket ${typeof store.bucket === 'string' ? store.bucket : `env:${store.bucket.env}`}`}</code></td></tr>`,
  )}</tbody></table>
<h2>Repositories</h2>
<table class="rows"><thead><tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Store</th><th scope="col">Anonymous</th><th scope="col">Settings</th></tr></thead><tbody>${repositories.map(
    (repository) =>
      html`<tr><td data-label="Name"><a href="${urls.repository(repository.name)}">${repository.name}</a></td><td data-label="Type">${repository.type}${repository.online ? undefined : ' (offline)'}</td><td data-label="Store">${repository.blobStore}</td><td data-label="Anonymous">${repository.access.anonymous.join(', ') || 'nothing'}</td><td data-label="Settings">${repositoryDetail(repository)}</td></tr>`,
  )}</tbody></table>
<h2>Listeners</h2>
<table class="rows"><thead><tr><th scope="col">Address</th><th scope="col">Routes</th></tr></thead><tbody>${plan.listeners.map(
    (listener) =>
      html`<tr><td data-label="Address"><code>${listener.tls ? 'https' : 'http'}://${listener.id}</code></td><td data-label="Routes"><ul>${[
        ...Object.entries(listener.mirrors).map(([ns, repo]) => `?ns=${ns} → ${repo}`),
        ...Object.entries(listener.virtualHosts).map(([host, repo]) => `host ${host} → ${repo}`),
        ...Object.entries(listener.paths).map(([prefix, repo]) => `/v2/${prefix}/… → ${repo}`),
        ...(listener.defaultRepository ? [`/v2/… → ${listener.defaultRepository}`] : []),
      ].map((route) => html`<li><code>${route}</code></li>`)}</ul></td></tr>`,
  )}</tbody></table>
<h2>Security</h2>
${facts([
  ['Realm', plan.security.realm],
  ['Tokens', plan.security.token.enabled ? `on, ${seconds(plan.security.token.ttlMs)}` : 'off (Basic only)'],
  ['Login throttle', plan.security.loginThrottle?.enabled === false ? 'off' : 'on'],
])}
<table class="rows"><thead><tr><th scope="col">User</th><th scope="col">Password from</th><th scope="col">Roles</th></tr></thead><tbody>${plan.security.users.map(
    (user) =>
      html`<tr><td data-label="User">${user.name}</td><td data-label="Password from">${'env' in user.password ? html`<code>env:${user.password.env}</code>` : 'bcrypt hash in the config'}</td><td data-label="Roles">${user.roles.join(', ') || '—'}</td></tr>`,
  )}</tbody></table>
<h2>Other settings</h2>
${facts([
  [
    'Garbage collection',
    plan.gc === undefined
      ? 'not scheduled'
      : plan.gc.intervalMs === 0
        ? 'manual (regctl gc)'
        : `every ${seconds(plan.gc.intervalMs)}, grace ${seconds(plan.gc.gracePeriodMs)}`,
  ],
  ['Reload timeout', plan.reload === undefined ? undefined : seconds(plan.reload.timeoutMs)],
  ['Metrics', plan.metrics === undefined ? 'off' : 'on'],
  ['Audit log', plan.audit === undefined ? 'off' : 'on'],
  ['Webhooks', String(plan.notifications?.length ?? 0)],
])}`;
}

/** `/ui/plan`. */
export function planPage(ui: UiContext): PageContent {
  const { plan } = ui.state;
  const sync = ui.holder.config;
  const body = html`${facts([
    ['Plan id', html`<code>${plan.id}</code>`],
    [
      'Config revision',
      revision({ ...(sync.servingRevision === undefined ? {} : { revision: sync.servingRevision }) }) ??
        'not in a git checkout',
    ],
    ['Config file', sync.path === undefined ? undefined : html`<code>${sync.path}</code>`],
    ['Serving since', formatTime(sync.servingSince)],
    [
      'In sync with the config on disk',
      sync.inSync
        ? 'yes'
        : html`<span class="bad">no: the last reload failed</span> (<a href="${urls.reloads}">see why</a>)`,
    ],
  ])}
${planBody(plan)}`;
  return { title: 'Running plan', body };
}

function recordRow(record: ReloadRecord): Html {
  return html`<tr>
<td data-label="When"><time datetime="${record.at}">${formatTime(record.at)}</time></td>
<td data-label="Outcome">${record.ok ? html`<span class="good">${record.outcome}</span>` : html`<span class="bad">${record.outcome}</span>`}</td>
<td data-label="Plan"><code>${record.planId.slice(0, 12)}</code>${record.previousPlanId === undefined ? undefined : html` <span class="muted">(was <code>${record.previousPlanId.slice(0, 12)}</code>)</span>`}</td>
<td data-label="Revision">${revision(record) ?? '—'}</td>
<td data-label="Took">${record.durationMs === undefined ? '—' : `${Math.round(record.durationMs)} ms`}</td>
<td data-label="Details">${record.error === undefined ? (record.diff ?? '') : html`<pre>${record.error}</pre>`}</td>
</tr>`;
}

/** `/ui/reloads`. */
export function reloadsPage(ui: UiContext): PageContent {
  const history = ui.holder.history;
  const body =
    history.length === 0
      ? empty('No load attempts recorded.')
      : html`<p class="muted">The latest ${history.length} attempts, newest first (kept in memory: a restart starts over).</p>
<table class="rows"><thead><tr><th scope="col">When</th><th scope="col">Outcome</th><th scope="col">Plan</th><th scope="col">Revision</th><th scope="col">Took</th><th scope="col">Details</th></tr></thead><tbody>${history.map(recordRow)}</tbody></table>`;
  return { title: 'Reload history', body };
}
