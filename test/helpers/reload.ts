/**
 * Driving hot reloads of a running `regctl serve` from a test: rewrite its config the way git
 * and git-sync do (a new file renamed over the old one), then wait until `/-/status` reports the
 * attempt that change caused.
 */
import { rename, writeFile } from 'node:fs/promises';
import type { ConfigInput } from '../../schema/index.ts';
import { configSource, type TestConfig } from './regctl-server.ts';

/** What `/-/status` says about plans and reloads. */
export interface ServerStatus {
  readonly planId: string;
  readonly lastReload: { ok: boolean; planId: string; at: string; error?: string; diff?: string };
}

export async function getStatus(url: string): Promise<ServerStatus> {
  const response = await fetch(`${url}/-/status`);
  if (response.status !== 200) throw new Error(`GET ${url}/-/status: ${response.status}`);
  return (await response.json()) as ServerStatus;
}

/** Replaces `file` atomically with `text` (write a sibling, rename over). */
export async function replaceFile(file: string, text: string): Promise<void> {
  const temp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(temp, text);
  await rename(temp, file);
}

/**
 * Rewrites the config at `file` with `config` (every listener with its port: a reload keeps the
 * ports a test knows) and waits (up to `timeoutMs`) for the reload it
 * causes to finish; returns the status after it. Throws when the reload failed, unless
 * `expectFailure`, or when none was recorded in time.
 */
export async function reloadWith(
  url: string,
  file: string,
  config: TestConfig,
  options: { timeoutMs?: number; expectFailure?: boolean } = {},
): Promise<ServerStatus> {
  const before = await getStatus(url);
  await replaceFile(file, configSource(config as ConfigInput));
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  while (Date.now() < deadline) {
    const status = await getStatus(url).catch(() => undefined);
    if (status !== undefined && status.lastReload.at !== before.lastReload.at) {
      if (!status.lastReload.ok && !options.expectFailure) {
        throw new Error(`reload failed: ${status.lastReload.error ?? '(no error recorded)'}`);
      }
      return status;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`no reload recorded within ${options.timeoutMs ?? 15_000} ms of rewriting ${file}`);
}
