/**
 * A plan diff for reviewers: a summary line (`2 to add, 1 to change, 0 to destroy`), each change
 * once (`+` added, `-` removed, `~` changed with its fields), durations as people write them
 * (`metadataMaxAge: 24h → 1h`, not milliseconds), and the warnings the reload would log. As text
 * (coloured on a terminal only) or as Markdown for a pull-request comment (a `diff` block, which
 * code hosts colour, under the summary, then the warnings).
 */
import type { FieldChange, PlanDiff } from './diff.ts';

export type PlanDiffFormat = 'text' | 'markdown';

export interface PlanDiffFormatOptions {
  readonly format?: PlanDiffFormat;
  /** ANSI colours (text only): the CLI passes true on a terminal without NO_COLOR. */
  readonly color?: boolean;
  /** What the reload would warn about (runtime/reload/warnings.ts), printed after the changes. */
  readonly warnings?: readonly string[];
}

const SECTIONS = [
  ['blobStores', 'blob store'],
  ['repositories', 'repository'],
  ['listeners', 'listener'],
  ['users', 'user'],
  ['roles', 'role'],
] as const;

/** Counts for the summary line: entries added, changed (each settings change counts), removed. */
export function countChanges(diff: PlanDiff): { add: number; change: number; destroy: number } {
  let add = 0;
  let change = diff.settings.length;
  let destroy = 0;
  for (const [key] of SECTIONS) {
    add += diff[key].added.length;
    change += diff[key].changed.length;
    destroy += diff[key].removed.length;
  }
  return { add, change, destroy };
}

/** `2 to add, 1 to change, 0 to destroy`. */
export function summaryLine(diff: PlanDiff): string {
  if (diff.identical) return 'no changes';
  const { add, change, destroy } = countChanges(diff);
  return `${add} to add, ${change} to change, ${destroy} to destroy`;
}

/** 86_400_000 → `24h`, 90_000 → `1m30s`, 1_500 → `1.5s`, 250 → `250ms`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return String(ms);
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(3))}s`;
  const units: [string, number][] = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ];
  let rest = Math.round(ms / 1000) * 1000;
  let out = '';
  for (const [unit, size] of units) {
    const count = Math.floor(rest / size);
    if (count > 0) {
      out += `${count}${unit}`;
      rest -= count * size;
    }
  }
  // `24h` rather than `1d`: the unit the config's own examples use for a day.
  return out === '1d' ? '24h' : out;
}

/** A field change as people read it: `…Ms` fields without the suffix, their values as durations. */
function showChange(change: FieldChange): string {
  const isDuration = /Ms$/.test(change.field);
  const field = isDuration ? change.field.replace(/Ms$/, '') : change.field;
  const value = (v: unknown) => (isDuration && typeof v === 'number' ? formatDuration(v) : JSON.stringify(v));
  return `${field}: ${value(change.before)} → ${value(change.after)}`;
}

interface Line {
  readonly mark: '+' | '-' | '~' | ' ';
  readonly text: string;
}

function lines(diff: PlanDiff): Line[] {
  const out: Line[] = [];
  for (const [key, label] of SECTIONS) {
    const section = diff[key];
    for (const name of section.added) out.push({ mark: '+', text: `${label} ${name}` });
    for (const name of section.removed) out.push({ mark: '-', text: `${label} ${name}` });
    for (const { name, changes } of section.changed) {
      out.push({ mark: '~', text: `${label} ${name}` });
      for (const c of changes) out.push({ mark: ' ', text: `    ${showChange(c)}` });
    }
  }
  for (const c of diff.settings) out.push({ mark: '~', text: showChange(c) });
  return out;
}

const COLOURS = { '+': '\x1b[32m', '-': '\x1b[31m', '~': '\x1b[33m', ' ': '' } as const;
const RESET = '\x1b[0m';

function text(diff: PlanDiff, options: PlanDiffFormatOptions): string {
  const paint = (code: string, s: string) => (options.color && code ? `${code}${s}${RESET}` : s);
  const out = [`plan ${diff.from.slice(0, 12)} → ${diff.to.slice(0, 12)}: ${summaryLine(diff)}`];
  for (const line of lines(diff))
    out.push(line.mark === ' ' ? line.text : paint(COLOURS[line.mark], `${line.mark} ${line.text}`));
  for (const warning of options.warnings ?? []) out.push(paint('\x1b[33;1m', `warning: ${warning}`));
  return out.join('\n');
}

function markdown(diff: PlanDiff, options: PlanDiffFormatOptions): string {
  const out = [
    `### regctl plan \`${diff.from.slice(0, 12)}\` → \`${diff.to.slice(0, 12)}\``,
    '',
    `**${summaryLine(diff)}**`,
  ];
  const body = lines(diff);
  if (body.length > 0) {
    // In a `diff` block, `+` lines show green, `-` red and `!` orange.
    out.push('', '```diff');
    for (const line of body)
      out.push(line.mark === '~' ? `! ${line.text}` : line.mark === ' ' ? line.text : `${line.mark} ${line.text}`);
    out.push('```');
  }
  const warnings = options.warnings ?? [];
  if (warnings.length > 0) {
    out.push('', '**The reload would warn:**', '');
    for (const warning of warnings) out.push(`- ⚠️ ${warning.replaceAll('|', '\\|')}`);
  }
  return out.join('\n');
}

/** The diff for people (see the module comment). */
export function formatPlanDiff(diff: PlanDiff, options: PlanDiffFormatOptions = {}): string {
  return options.format === 'markdown' ? markdown(diff, options) : text(diff, options);
}
