/**
 * Diagnostics are data: every problem found while loading, validating or checking a config is a
 * {@link Diagnostic}, collected in full (never stopping at the first) and printed separately by
 * {@link formatDiagnostics}. Paths are structured (`['repositories', 2, 'members', 1]`) and rendered
 * `repositories[2].members[1]`.
 */
import { relative } from 'node:path';

export type Severity = 'error' | 'warning';
export type DiagnosticPath = readonly (string | number)[];

/** One problem in a configuration. */
export interface Diagnostic {
  /** Stable, kebab-case identifier of the check (`unknown-member`, `invalid-type`, …). */
  readonly code: string;
  readonly severity: Severity;
  /** Where in the config: keys and array indexes from the root. */
  readonly path: DiagnosticPath;
  readonly message: string;
  /** How to fix it, when there is something useful to say (e.g. "did you mean `docker-hub`?"). */
  readonly hint?: string;
  /** Absolute path of the file, and 1-based position when known (YAML/JSON configs). */
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
}

/** Builds an error diagnostic. */
export function error(code: string, path: DiagnosticPath, message: string, hint?: string): Diagnostic {
  return hint === undefined
    ? { code, severity: 'error', path, message }
    : { code, severity: 'error', path, message, hint };
}

/** Builds a warning diagnostic. */
export function warning(code: string, path: DiagnosticPath, message: string, hint?: string): Diagnostic {
  return hint === undefined
    ? { code, severity: 'warning', path, message }
    : { code, severity: 'warning', path, message, hint };
}

/** `['repositories', 2, 'members', 1]` → `repositories[2].members[1]`; the root is `(root)`. */
export function formatPath(path: DiagnosticPath): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out === '' ? '(root)' : out;
}

/** Levenshtein distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  const previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = previous[0]!;
    previous[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = previous[j]!;
      const cost = a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1;
      previous[j] = Math.min(above + 1, previous[j - 1]! + 1, diagonal + cost);
      diagonal = above;
    }
  }
  return previous[b.length]!;
}

/** The closest candidate to `value` if it is close enough to be a likely typo, else undefined. */
export function closest(value: string, candidates: Iterable<string>): string | undefined {
  const list = [...candidates];
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of list) {
    const distance = editDistance(value, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const limit = Math.max(2, Math.floor(value.length / 3));
  if (best !== undefined && bestDistance <= limit) return best;
  // A truncated name (`writable` for `writableMember`) is far in edits but an obvious match.
  if (value.length < 4) return undefined;
  const lower = value.toLowerCase();
  const prefixed = list.filter((c) => c.toLowerCase().startsWith(lower));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

/** "did you mean `x`?" for the closest candidate, or undefined. */
export function didYouMean(value: string, candidates: Iterable<string>): string | undefined {
  const match = closest(value, candidates);
  return match === undefined ? undefined : `did you mean \`${match}\`?`;
}

/** True when at least one diagnostic is an error. */
export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}

/** Output formats of {@link formatDiagnostics}. */
export type DiagnosticFormat = 'text' | 'json' | 'github';

/**
 * Renders diagnostics for humans (`text`), machines (`json`: an array) or GitHub Actions
 * workflow commands (`github`: `::error file=…,line=…::…`, shown inline on pull requests).
 * `cwd` makes file names relative in text and github output.
 */
export function formatDiagnostics(
  diagnostics: readonly Diagnostic[],
  format: DiagnosticFormat,
  cwd: string = process.cwd(),
): string {
  if (format === 'json') return JSON.stringify(diagnostics, null, 2);
  if (format === 'github') return diagnostics.map((d) => formatGithub(d, cwd)).join('\n');
  const lines = diagnostics.map((d) => formatText(d, cwd));
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = diagnostics.length - errors;
  lines.push(`${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}`);
  return lines.join('\n');
}

function location(d: Diagnostic, cwd: string): string {
  if (d.file === undefined) return '';
  const name = relative(cwd, d.file) || d.file;
  if (d.line === undefined) return `${name}: `;
  return `${name}:${d.line}:${d.column ?? 1}: `;
}

function formatText(d: Diagnostic, cwd: string): string {
  const head = `${location(d, cwd)}${d.severity} ${formatPath(d.path)}: ${d.message} [${d.code}]`;
  return d.hint === undefined ? head : `${head}\n  hint: ${d.hint}`;
}

function escapeData(value: string): string {
  return value.replaceAll('%', '%25').replaceAll('\r', '%0D').replaceAll('\n', '%0A');
}

function escapeProperty(value: string): string {
  return escapeData(value).replaceAll(':', '%3A').replaceAll(',', '%2C');
}

function formatGithub(d: Diagnostic, cwd: string): string {
  const properties: string[] = [];
  if (d.file !== undefined) properties.push(`file=${escapeProperty(relative(cwd, d.file) || d.file)}`);
  if (d.line !== undefined) properties.push(`line=${d.line}`);
  if (d.column !== undefined) properties.push(`col=${d.column}`);
  properties.push(`title=${escapeProperty(`regctl ${d.code}`)}`);
  const message = `${formatPath(d.path)}: ${d.message}${d.hint === undefined ? '' : ` (${d.hint})`}`;
  return `::${d.severity} ${properties.join(',')}::${escapeData(message)}`;
}
