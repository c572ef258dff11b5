/**
 * What every command shares: where output goes, how a usage error is reported, and the exit code
 * of a failed build. Exit codes: 0 ok (warnings allowed), 1 invalid config or a failed command,
 * 2 the config could not be loaded or the usage is wrong.
 */
import type { ParseArgsConfig } from 'node:util';
import type { BuildResult } from '../compiler/index.ts';

/** Output of a command: one call per line (the newline is added). */
export interface CliIo {
  readonly stdout: (line: string) => void;
  readonly stderr: (line: string) => void;
  /** Whether stdout is a terminal (colour, progress views). */
  readonly isTTY: boolean;
}

export const processIo: CliIo = {
  stdout: (line) => process.stdout.write(`${line}\n`),
  stderr: (line) => process.stderr.write(`${line}\n`),
  get isTTY() {
    return process.stdout.isTTY === true;
  },
};

/** One command of the CLI: its name, its help, and what it does (its one-line summary is in main.ts). */
export interface Command {
  readonly name: string;
  readonly help: string;
  /** The command's options, as `parseArgs` takes them (also what shell completion offers). */
  readonly options: NonNullable<ParseArgsConfig['options']>;
  /** What its positional arguments are, for completion: files (the default), given words, or nothing. */
  readonly positionals?: 'files' | 'none' | readonly string[];
  /** The values an option takes, for completion (`format: ['text', 'json', 'github']`). */
  readonly choices?: Readonly<Record<string, readonly string[]>>;
  /** Resolves to the exit code, or -1 when the process must stay alive (serve). */
  readonly run: (args: string[], io: CliIo) => Promise<number>;
}

/** A usage error of `command`: says what is wrong, then the command's help; exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Exit code of a failed build: 2 when nothing could be loaded, 1 when the config is invalid. */
export function failureCode(result: BuildResult): number {
  return !result.ok && result.stage === 'load' ? 2 : 1;
}

/** Turns a client's usage error (a bad --registry, half a pair of credentials) into the CLI's. */
export function asUsageError(cause: unknown): never {
  if (cause instanceof Error && cause.name === 'ClientUsageError') throw new UsageError(cause.message);
  throw cause;
}

/** The options every command talking to a running registry has. */
export const TARGET_OPTIONS = {
  config: { type: 'string', short: 'c' },
  registry: { type: 'string' },
} as const;

/** The compiler, imported on demand so `--help`, `--version` and `serve` start without it. */
export const compiler = () => import('../compiler/index.ts');
