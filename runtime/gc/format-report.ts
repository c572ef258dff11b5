/** Human output of garbage-collection reports (`regctl gc`); `--json` prints the reports as they are. */
import type { GcReport } from './collector.ts';

/** `1.5 GiB`-style sizes. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** The report of one store, several lines. */
export function formatGcReport(report: GcReport): string {
  const lines: string[] = [];
  const seconds = (report.durationMs / 1000).toFixed(1);
  if (report.skipped !== undefined) {
    const until = new Date(report.skipped.heldBy.expiresAt).toISOString();
    return `blob store ${report.store}: skipped, another collector holds the lease (${report.skipped.heldBy.holder}, until ${until} unless renewed)`;
  }
  const s = report.scanned;
  lines.push(
    `blob store ${report.store}: scanned ${s.blobs} blobs (${formatBytes(s.bytes)}), ${s.manifests} manifests and ${s.tags} tags ` +
      `in ${s.images} images of ${s.repositories} repositories, ${s.cacheRecords} proxy cache records, in ${seconds} s`,
  );
  const verb = report.dryRun ? 'would delete' : 'deleted';
  if (report.aborted)
    lines.push('  stopped: the lease was lost midway; everything it had taken out of sight was put back');
  if (report.recovered.blobs + report.recovered.documents > 0) {
    lines.push(
      `  put back ${report.recovered.blobs} blobs and ${report.recovered.documents} documents an interrupted pass had left`,
    );
  }
  lines.push(`  ${verb} ${report.deleted.tags.length} tags (cleanup rules)`);
  for (const t of report.deleted.tags) lines.push(`    ${t.repository}/${t.image}:${t.tag}  ${t.digest}  ${t.reason}`);
  lines.push(`  ${verb} ${report.deleted.manifests.length} manifests`);
  for (const m of report.deleted.manifests) lines.push(`    ${m.repository}/${m.image}@${m.digest}  ${m.reason}`);
  lines.push(`  ${verb} ${report.deleted.layerLinks} layer links no manifest uses`);
  lines.push(
    `  ${verb} ${report.deleted.blobs.length} blobs: ${formatBytes(report.reclaimedBytes)} ${report.dryRun ? 'to reclaim' : 'reclaimed'}`,
  );
  for (const b of report.deleted.blobs) lines.push(`    ${b.digest}  ${formatBytes(b.size)}  ${b.reason}`);
  if (report.restored.blobs + report.restored.documents > 0) {
    lines.push(
      `  kept ${report.restored.blobs} blobs and ${report.restored.documents} documents a push made during the pass relies on`,
    );
  }
  return lines.join('\n');
}
