/**
 * Shared by the reload isolation tests (test/runtime and test/e2e): a TypeScript config with code
 * of the test's choosing before its export (a hang, a busy loop, an exit), and the config
 * evaluator's child processes of a process, read from /proc.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from './regctl-server.ts';

const SCHEMA = JSON.stringify(join(REPO_ROOT, 'schema', 'index.ts'));

/** Top-level code for {@link isolationConfig}: a config that never resolves. */
export const HANG = 'await new Promise(() => {});';
/** Top-level code for {@link isolationConfig}: a config that keeps its event loop busy. */
export const BUSY = 'while (Date.now() > 0) {}';

/**
 * A config with hosted repositories `repos` (the first the default route, the others path
 * prefixes) on 127.0.0.1:`port`, `reload.timeout` (default `'1s'`), and `prelude` run first.
 */
export function isolationConfig(
  port: number,
  repos: readonly string[],
  options: { timeout?: string; prelude?: string } = {},
): string {
  const repositories = repos.map((name) => `{ name: '${name}', type: 'hosted', anonymous: ['pull', 'push'] }`);
  return `import { defineConfig } from ${SCHEMA};
${options.prelude ?? ''}
export default defineConfig({
  blobStores: [{ name: 'default', type: 'file', path: './data' }],
  repositories: [${repositories.join(', ')}],
  listeners: [{ host: '127.0.0.1', port: ${port}, repository: '${repos[0]}', paths: ${JSON.stringify(repos.slice(1))} }],
  reload: { timeout: '${options.timeout ?? '1s'}' },
});
`;
}

/** Pids of `pid`'s children that run the config evaluator's child entry. */
export async function evaluatorChildren(pid: number): Promise<number[]> {
  const pids: number[] = [];
  for (const task of await readdir(`/proc/${pid}/task`).catch(() => [])) {
    const children = await readFile(`/proc/${pid}/task/${task}/children`, 'utf8').catch(() => '');
    for (const child of children.split(' ').filter(Boolean).map(Number)) {
      const cmdline = await readFile(`/proc/${child}/cmdline`, 'utf8').catch(() => '');
      if (cmdline.includes('config-evaluator-child')) pids.push(child);
    }
  }
  return pids;
}
