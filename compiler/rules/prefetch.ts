import { type Diagnostic, error } from '../diagnostics.ts';
import { parseImageReference, referenceProblem } from '../image-reference.ts';
import type { Rule } from './types.ts';

/** How to write a prefetch image, for the hints. */
export const PREFETCH_IMAGE_HINT =
  'write it as a client names it in this repository, without the registry host: name[:tag] or name@sha256:<hex> (e.g. "library/alpine:3.20")';

/** Why one prefetch reference is wrong, or undefined (shared with the list-file reader). */
export function prefetchImageProblem(value: string): string | undefined {
  const { name, reference } = parseImageReference(value);
  return referenceProblem(name, reference);
}

/** Every inline `prefetch.images` entry of a proxy is an image reference. */
export const prefetch: Rule = (config) => {
  const out: Diagnostic[] = [];
  config.repositories.forEach((repo, index) => {
    if (repo.type !== 'proxy' || repo.prefetch === undefined || !Array.isArray(repo.prefetch.images)) return;
    repo.prefetch.images.forEach((value, i) => {
      const problem = prefetchImageProblem(value);
      if (problem === undefined) return;
      out.push(
        error(
          'prefetch-image-invalid',
          ['repositories', index, 'prefetch', 'images', i],
          `prefetch image ${JSON.stringify(value)}: ${problem}`,
          PREFETCH_IMAGE_HINT,
        ),
      );
    });
  });
  return out;
};
