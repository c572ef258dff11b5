/**
 * Image references as clients and regctl's own commands write them, `name[:tag][@digest]`: the
 * one parser and check, shared by the compiler (a proxy's `prefetch.images`) and the client
 * commands (`warm`, `export`). Pure.
 */
import { NAME_COMPONENT_SOURCE, TAG_PATTERN } from './plan.ts';

const NAME = new RegExp(`^${NAME_COMPONENT_SOURCE}(?:/${NAME_COMPONENT_SOURCE})*$`);
const DIGEST = /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

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
  if (!(name.length <= 255 && NAME.test(name)))
    return `${JSON.stringify(name)} is not a repository name (lower case, [a-z0-9._-] and /)`;
  if (reference.includes(':') ? !DIGEST.test(reference) : !TAG_PATTERN.test(reference)) {
    return `${JSON.stringify(reference)} is neither a tag nor a sha256/sha512 digest`;
  }
  return undefined;
}

/** The references of a list file's text with their line numbers: `#` starts a comment, blank lines skipped. */
export function parseReferenceLines(text: string): { line: number; value: string }[] {
  const references: { line: number; value: string }[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    const value = line.replace(/#.*/, '').trim();
    if (value !== '') references.push({ line: i + 1, value });
  }
  return references;
}
