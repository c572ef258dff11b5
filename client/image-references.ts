/**
 * The image references the client commands take (`warm`, `export`, and serve's declared
 * prefetch): `name[:tag][@digest]` from the command line and from a list file (one a line, `#`
 * comments, blank lines), their checks, and the platform an index entry is picked by.
 */
import { readFile } from 'node:fs/promises';
import { parseReferenceLines } from '../compiler/image-reference.ts';
import { ClientUsageError } from './target.ts';

/** `os/arch[/variant]`, as `--platform` takes it. */
export const PLATFORM_PATTERN = /^[a-z0-9_.-]+\/[a-z0-9_.-]+(\/[a-z0-9_.-]+)?$/i;

/** `platform` unless it is not `os/arch[/variant]`: then the usage error warm and export give. */
export function checkPlatform(platform: string): string {
  if (!PLATFORM_PATTERN.test(platform)) {
    throw new ClientUsageError(`--platform ${platform}: expected OS/ARCH[/VARIANT], e.g. linux/amd64`);
  }
  return platform;
}

export { parseImageReference, referenceProblem } from '../compiler/image-reference.ts';

/** The references of a list file's text: one a line, `#` starts a comment, blank lines skipped. */
export function parseReferenceList(text: string): string[] {
  return parseReferenceLines(text).map((r) => r.value);
}

/** `images`, then the references of the `list` file when one is given. */
export async function collectReferences(images: readonly string[] = [], list?: string): Promise<string[]> {
  const references = [...images];
  if (list !== undefined) references.push(...parseReferenceList(await readFile(list, 'utf8')));
  return references;
}

/** The platform of this machine as an index names it (`linux/amd64`). */
export function hostPlatform(): string {
  const arch = (
    { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>
  )[process.arch];
  return `linux/${arch ?? process.arch}`;
}

/** An index entry with its platform. */
export interface Platformed {
  readonly digest: string;
  readonly platform?: { os?: string; architecture?: string; variant?: string };
}

/** Whether the index entry is for `wanted` (`os/arch[/variant]`; no variant matches any). */
export function matchesPlatform(entry: Platformed, wanted: string): boolean {
  const [os, architecture, variant] = wanted.split('/');
  const p = entry.platform;
  return p?.os === os && p?.architecture === architecture && (variant === undefined || p?.variant === variant);
}

/** `os/arch[/variant]` of an index entry, or undefined when it names none. */
export function platformOf(entry: Platformed): string | undefined {
  const p = entry.platform;
  if (p?.os === undefined || p.architecture === undefined) return undefined;
  return [p.os, p.architecture, ...(p.variant === undefined ? [] : [p.variant])].join('/');
}
