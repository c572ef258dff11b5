/**
 * The build step that reads the list files of `prefetch: { images: { file } }` (relative to the
 * config file), so the plan holds the images themselves: a changed list is a changed plan (the
 * repository's schedule restarts), and the files are watched with the config. The compiler
 * proper stays pure; this is the one place it reads a file other than the config.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import type { Config } from '../schema/index.ts';
import { type Diagnostic, error } from './diagnostics.ts';
import { parseReferenceLines } from './image-reference.ts';
import { PREFETCH_IMAGE_HINT, prefetchImageProblem } from './rules/prefetch.ts';

export interface PrefetchLists {
  /** By repository name: the references of its list file, in file order. */
  readonly lists: ReadonlyMap<string, readonly string[]>;
  /** Absolute paths of the files read (for the watcher), also when one failed. */
  readonly files: readonly string[];
  readonly diagnostics: readonly Diagnostic[];
}

/** Reads every proxy's prefetch list file; problems are diagnostics at `…prefetch.images.file`. */
export async function readPrefetchLists(config: Config, configDir: string): Promise<PrefetchLists> {
  const lists = new Map<string, string[]>();
  const files: string[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const [index, repo] of config.repositories.entries()) {
    if (repo.type !== 'proxy' || repo.prefetch === undefined || Array.isArray(repo.prefetch.images)) continue;
    const path = ['repositories', index, 'prefetch', 'images', 'file'];
    const file = isAbsolute(repo.prefetch.images.file)
      ? repo.prefetch.images.file
      : resolve(configDir, repo.prefetch.images.file);
    const shown = relative(configDir, file) || file;
    files.push(file);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code;
      diagnostics.push(
        error(
          'prefetch-file-unreadable',
          path,
          `cannot read the prefetch list ${shown}: ${code === 'ENOENT' ? 'no such file' : (cause as Error).message}`,
          'the path is relative to the config file; one image reference a line, # for comments',
        ),
      );
      continue;
    }
    const lines = parseReferenceLines(text);
    for (const { line, value } of lines) {
      const problem = prefetchImageProblem(value);
      if (problem !== undefined)
        diagnostics.push(
          error('prefetch-image-invalid', path, `${shown} line ${line}: ${problem}`, PREFETCH_IMAGE_HINT),
        );
    }
    if (lines.length === 0)
      diagnostics.push(
        error(
          'prefetch-file-empty',
          path,
          `the prefetch list ${shown} names no image`,
          'list at least one image, or leave prefetch out',
        ),
      );
    lists.set(
      repo.name,
      lines.map((l) => l.value),
    );
  }
  return { lists, files, diagnostics };
}
