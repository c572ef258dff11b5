/**
 * The image references the client commands take (`warm`, `export`, and serve's declared
 * prefetch): `name[:tag][@digest]` from the command line and from a list file (one a line, `#`
 * comments, blank lines), their checks, and the platform an index entry is picked by.
 */
import { readFile } from 'node:fs/promises';
import { isDigest } from '../runtime/oci/digest.ts';
import { isValidName, isValidTag } from '../runtime/oci/names.ts';

/** `os/arch[/variant]`, as `--platform` takes it. */
export const PLATFORM_PATTERN = /^[a-z0-9_.-]+\/[a-z0-9_.-]+(\/[a-z0-9_.-]+)?$/i;

/** Splits `name[:tag][@digest]` into name and reference (`latest` by default). */
export function parseImageReference(value: string): { name: string; reference: string } {
  const at = value.indexOf('@');
  if (at !== -1) return { name: value.slice(0, at), reference: value.slice(at + 1) };
  const slash = value.lastIndexOf('/');
  const colon = value.lastIndexOf(':');
  if (colon > slash) return { name: value.slice(0, colon), reference: value.slice(colon + 1) };
  return { name: value, reference: 'latest' };
}

/** Why `name` and `reference` cannot be pulled from any registry, or undefined when they can. */
export function referenceProblem(name: string, reference: string): string | undefined {
  if (!isValidName(name)) return `${JSON.stringify(name)} is not a repository name (lower case, [a-z0-9._-] and /)`;
  if (reference.includes(':') ? !isDigest(reference) : !isValidTag(reference)) {
    return `${JSON.stringify(reference)} is neither a tag nor a sha256/sha512 digest`;
  }
  return undefined;
}

/** The references of a list file's text: one a line, `#` starts a comment, blank lines skipped. */
export function parseReferenceList(text: string): string[] {
  const references: string[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.replace(/#.*/, '').trim();
    if (trimmed !== '') references.push(trimmed);
  }
  return references;
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
