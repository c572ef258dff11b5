/**
 * docs/operations.md documents every metric the registry registers, and nothing else: the names in
 * the first column of its metrics table are compared with the names `RegistryMetrics` puts in its
 * prom-client registry, both ways, so a metric added without a line in the table (or a line left
 * behind by a rename) fails here.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { RegistryMetrics } from '../../../runtime/metrics/registry-metrics.ts';
import { REPO_ROOT } from '../../helpers/regctl-server.ts';

/** The `regctl_*` names in the first column of the table under `## Metrics`. */
async function documentedMetrics(): Promise<string[]> {
  const text = await readFile(`${REPO_ROOT}/docs/operations.md`, 'utf8');
  const section = text.split(/^## /m).find((part) => part.startsWith('Metrics\n'));
  expect(section, 'a "## Metrics" section in docs/operations.md').toBeDefined();
  const firstColumns = section!
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => line.split('|')[1]!);
  return firstColumns.flatMap((cell) => cell.match(/regctl_[a-z_]+/g) ?? []);
}

describe('docs/operations.md metrics table', () => {
  it('lists exactly the metrics RegistryMetrics registers, with their labels', async () => {
    const registered = (await new RegistryMetrics().registry.getMetricsAsJSON()).map((m) => m.name);
    const documented = await documentedMetrics();
    expect(registered.length).toBeGreaterThan(30);
    expect([...new Set(documented)].sort()).toEqual([...new Set(registered)].sort());
    expect(documented.length, 'each metric documented once').toBe(new Set(documented).size);
  });

  it("names each metric's labels in its row", async () => {
    const text = await readFile(`${REPO_ROOT}/docs/operations.md`, 'utf8');
    const rows = text.split('\n').filter((line) => line.startsWith('| `regctl_'));
    const metrics = new RegistryMetrics().registry;
    for (const metric of await metrics.getMetricsAsJSON()) {
      const row = rows.find((line) => line.split('|')[1]!.includes(`\`${metric.name}\``));
      expect(row, metric.name).toBeDefined();
      const labelCell = row!.split('|')[3]!;
      const labels = (metrics.getSingleMetric(metric.name) as unknown as { labelNames?: string[] }).labelNames ?? [];
      for (const label of labels) expect(labelCell, `${metric.name} label ${label}`).toContain(`\`${label}\``);
    }
  });
});
