/** Renders benchmark reports as a Markdown table (what `npm run bench` prints and docs/benchmarks.md holds). */
import type { BenchReport } from './types.ts';

function figure(value: number | null): string {
  if (value === null || Number.isNaN(value)) return '–';
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** One Markdown table per report, with the ratio and whether the target is met. */
export function formatReport(report: BenchReport): string {
  const lines = [
    `### ${report.name} (baseline: ${report.baseline})`,
    '',
    '| metric | unit | regctl | baseline | ratio | target | met |',
    '|---|---|---:|---:|---:|---|:---:|',
  ];
  for (const row of report.rows) {
    const ratio = row.ratio === null ? '–' : `${figure(row.ratio)}×`;
    const met = row.pass === null ? '' : row.pass ? 'yes' : '**no**';
    lines.push(
      `| ${row.metric} | ${row.unit} | ${figure(row.regctl)} | ${figure(row.baseline)} | ${ratio} | ${row.target} | ${met} |`,
    );
  }
  if (report.notes.length) lines.push('', ...report.notes.map((n) => `- ${n}`));
  return lines.join('\n');
}
