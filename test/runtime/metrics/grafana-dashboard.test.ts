/**
 * The Grafana dashboard in deploy/grafana/ queries only metrics the registry exports: every
 * `regctl_*` name in a panel's expression (histogram `_bucket` series included) is one
 * `RegistryMetrics` registers, so a renamed metric cannot leave a silent empty panel behind.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { RegistryMetrics } from '../../../runtime/metrics/registry-metrics.ts';
import { REPO_ROOT } from '../../helpers/regctl-server.ts';

describe('deploy/grafana/regctl-dashboard.json', () => {
  it('uses only metrics the registry exports, and covers the panels operations.md promises', async () => {
    const dashboard = JSON.parse(await readFile(`${REPO_ROOT}/deploy/grafana/regctl-dashboard.json`, 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    const exported = new Set((await new RegistryMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
    const used = new Set(
      dashboard.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/regctl_[a-z_]+/g) ?? [])),
    );
    const unknown = [...used].filter((name) => !exported.has(name.replace(/_bucket$/, '')));
    expect(unknown).toEqual([]);
    expect(used.size).toBeGreaterThan(15);
    const titles = dashboard.panels.map((p) => p.title).join('\n');
    for (const wanted of [
      'hit ratio',
      'bandwidth',
      'quota',
      'Latency percentiles',
      'Errors',
      'Blob store usage',
      'maxSize',
    ]) {
      expect(titles).toContain(wanted);
    }
  });
});
