/**
 * The repository's root `registry.config.ts` as a benchmark serves it: copied into a temp folder,
 * its listener moved from port 5000 to a free loopback port and its relative schema import made
 * absolute, and nothing else changed. Also the rename-replacement git and git-sync write with.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../../test/helpers/free-port.ts';
import { REPO_ROOT, type RegctlServer, startRegctl } from '../../test/helpers/regctl-server.ts';

const PORT_LINE = /port: 5000\b/;
const SCHEMA_IMPORT = `from './schema/index.ts'`;

/** The root config's text for `port`; throws when the config lacks the two lines it rewrites. */
export async function rootConfigText(port: number): Promise<string> {
  const source = await readFile(join(REPO_ROOT, 'registry.config.ts'), 'utf8');
  if (!PORT_LINE.test(source) || !source.includes(SCHEMA_IMPORT))
    throw new Error(`registry.config.ts needs \`port: 5000\` and \`${SCHEMA_IMPORT}\` to be served on a free port`);
  return source
    .replace(PORT_LINE, `port: ${port}`)
    .replace(SCHEMA_IMPORT, `from ${JSON.stringify(join(REPO_ROOT, 'schema', 'index.ts'))}`);
}

/** Writes `text` beside `file` and renames it over `file`; resolves once the rename is done. */
export async function replaceFile(file: string, text: string): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, text);
  await rename(temp, file);
}

/** What `GET /-/status` says about the plan and the last reload. */
export interface ServerStatus {
  readonly planId: string;
  readonly lastReload: { readonly ok: boolean; readonly at: string; readonly planId: string; readonly error?: string };
}

export async function fetchStatus(url: string): Promise<ServerStatus> {
  const res = await fetch(`${url}/-/status`);
  return (await res.json()) as ServerStatus;
}

/** What {@link changeConfig} saw: the first status with another plan id, and when. */
export interface ConfigChange {
  readonly status: ServerStatus;
  /** Milliseconds from the rename into place to that status. */
  readonly elapsedMs: number;
}

/**
 * Writes `text` beside `file`, renames it over `file` (the clock starts there, as the watcher's
 * does), then polls `url`'s `/-/status` every `pollMs` until its plan id is not `planId`. Throws
 * when that has not happened within `deadlineMs`.
 */
export async function changeConfig(
  url: string,
  file: string,
  text: string,
  planId: string,
  options: { pollMs: number; deadlineMs: number },
): Promise<ConfigChange> {
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, text);
  const start = performance.now();
  await rename(temp, file);
  let status = await fetchStatus(url);
  while (status.planId === planId && performance.now() - start < options.deadlineMs) {
    if (options.pollMs > 0) await new Promise((r) => setTimeout(r, options.pollMs));
    status = await fetchStatus(url);
  }
  const elapsedMs = performance.now() - start;
  if (status.planId === planId)
    throw new Error(`the change is not serving after ${options.deadlineMs} ms: ${JSON.stringify(status.lastReload)}`);
  return { status, elapsedMs };
}

/** `regctl serve` on a copy of the root config: see {@link startRootConfig}. */
export interface RootConfigServer {
  readonly regctl: RegctlServer;
  readonly url: string;
  readonly configFile: string;
  /** The config as first written (the root config, moved to the free port). */
  readonly text: string;
}

/**
 * Serves the root config ({@link rootConfigText}) from `root/config/registry.config.ts` on a free
 * loopback port, logging to `root/regctl.log`: outside the watched folder, where each log write
 * would wake the watcher.
 */
export async function startRootConfig(root: string, logLevel: string): Promise<RootConfigServer> {
  const dir = join(root, 'config');
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const text = await rootConfigText(port);
  const configFile = join(dir, 'registry.config.ts');
  await replaceFile(configFile, text);
  const regctl = await startRegctl({
    dir,
    configFile,
    ports: [port],
    logFile: join(root, 'regctl.log'),
    env: { LOG_LEVEL: logLevel },
  });
  return { regctl, url: `http://127.0.0.1:${port}`, configFile, text };
}
