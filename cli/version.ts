/**
 * The package's name and version, read from its package.json: the nearest one named
 * `regctl-registry` above the running module (`cli/` in a checkout, `dist/cli/` in the package,
 * the development bundle under `node_modules/.cache/regctl/<hash>/`).
 */
import { readFile } from 'node:fs/promises';

/** The npm package regctl is published as; the command stays `regctl`. */
export const PACKAGE_NAME = 'regctl-registry';

export interface PackageVersion {
  readonly name: string;
  readonly version: string;
}

export async function readPackageVersion(moduleUrl: string = import.meta.url): Promise<PackageVersion> {
  for (let up = 1; up <= 6; up += 1) {
    const text = await readFile(new URL(`${'../'.repeat(up)}package.json`, moduleUrl), 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    const parsed = JSON.parse(text) as { name?: unknown; version?: unknown };
    if (parsed.name === PACKAGE_NAME && typeof parsed.version === 'string')
      return { name: parsed.name, version: parsed.version };
  }
  throw new Error(`the package.json of ${PACKAGE_NAME} was not found next to ${moduleUrl}`);
}

/** `regctl --version`: the version first (what scripts parse), then the package and the runtime. */
export function formatVersion({ name, version }: PackageVersion): string {
  return `regctl ${version} (${name}, node ${process.version}, ${process.platform}-${process.arch})`;
}
