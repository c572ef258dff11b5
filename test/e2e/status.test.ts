/**
 * `/-/status` tells the truth about reloads, end to end (`regctl serve --watch` on a config in a
 * git checkout): the latest attempt whatever its outcome, whether the serving plan is what the
 * config on disk compiles to, the git revision serving, and uptime; and the metrics that say the
 * same (`regctl_plan_info` with the revision, `regctl_config_in_sync`, failed reloads).
 */
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/free-port.ts';
import { configSource, type RegctlServer, startRegctl, type TestConfig } from '../helpers/regctl-server.ts';
import { getStatus, replaceFile } from '../helpers/reload.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
let server: RegctlServer;
let dir: string;
let port: number;
let metricsPort: number;

interface Status {
  planId: string;
  startedAt: string;
  uptimeSeconds: number;
  lastReload: { outcome: string; ok: boolean; planId: string; at: string; error?: string; revision?: unknown };
  config: { path: string; inSync: boolean; servingRevision?: { commit: string; dirty: boolean }; servingSince: string };
}

const status = async () => (await getStatus(server.url)) as unknown as Status;
const metrics = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
/** The `regctl_plan_info` line of the serving plan and revision. */
const planInfo = (planId: string, revision: string) => `regctl_plan_info{plan_id="${planId}",revision="${revision}"} 1`;

function config(extra: boolean): TestConfig {
  return {
    blobStores: [{ name: 'default', type: 'file', path: './data' }],
    repositories: [
      { name: 'private', type: 'hosted', anonymous: ['pull'] },
      ...(extra ? [{ name: 'extra', type: 'hosted' as const }] : []),
    ],
    listeners: [{ host: '127.0.0.1', port, repository: 'private' }],
    metrics: { host: '127.0.0.1', port: metricsPort },
  };
}

function git(...args: string[]): string {
  return execFileSync('git', args, {
    cwd: dir,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@t',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@t',
    },
  }).trim();
}

/** Rewrites the config and waits for the attempt it causes (any outcome). */
async function rewrite(text: string): Promise<Status> {
  const before = (await status()).lastReload.at;
  await replaceFile(join(dir, 'registry.config.ts'), text);
  for (let i = 0; i < 300; i += 1) {
    const now = await status();
    if (now.lastReload.at !== before) return now;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('no reload attempt recorded within 6 s');
}

beforeAll(async () => {
  dir = await dirs.make();
  port = await freePort();
  metricsPort = await freePort();
  await writeFile(join(dir, '.gitignore'), 'data/\nregctl.log\n');
  await writeFile(join(dir, 'registry.config.ts'), configSource(config(false) as never));
  git('init', '-q');
  git('add', '.');
  git('commit', '-q', '-m', 'first');
  server = await startRegctl({ dir, configFile: join(dir, 'registry.config.ts'), ports: [port] });
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await dirs.cleanup();
});

describe('/-/status', () => {
  it('names the serving git commit and the process start', async () => {
    const first = await status();
    expect(first.lastReload).toMatchObject({ outcome: 'initial', ok: true });
    expect(first.config).toMatchObject({
      path: join(dir, 'registry.config.ts'),
      inSync: true,
      servingRevision: { commit: git('rev-parse', 'HEAD'), dirty: false },
    });
    expect(Date.parse(first.startedAt)).toBeLessThanOrEqual(Date.now());
    expect(first.uptimeSeconds).toBeGreaterThanOrEqual(0);
    expect(await metrics()).toContain(planInfo(first.planId, git('rev-parse', 'HEAD')));
  });

  it('a broken config is out of sync; restoring the serving config is in sync again', async () => {
    const serving = (await status()).planId;
    const broken = await rewrite(configSource(config(false) as never).replace('"type": "hosted"', '"type": "hostd"'));
    expect(broken.lastReload).toMatchObject({ outcome: 'failed', ok: false, planId: serving });
    expect(broken.config.inSync).toBe(false);
    expect(broken.planId).toBe(serving);
    const failed = await metrics();
    expect(failed).toMatch(/^regctl_config_in_sync 0$/m);
    expect(failed).toMatch(/^regctl_reloads_total\{outcome="failed"\} 1$/m);
    // Back to exactly what serves: nothing to apply, but the status must say all is well again.
    const restored = await rewrite(`${configSource(config(false) as never)}\n// the same config again\n`);
    expect(restored.lastReload).toMatchObject({ outcome: 'unchanged', ok: true, planId: serving });
    expect(restored.lastReload.error).toBeUndefined();
    expect(restored.config.inSync).toBe(true);
    expect(restored.config.servingRevision).toMatchObject({ commit: git('rev-parse', 'HEAD'), dirty: true });
    const again = await metrics();
    expect(again).toMatch(/^regctl_config_in_sync 1$/m);
    expect(again).toContain(planInfo(serving, `${git('rev-parse', 'HEAD')}+dirty`));
  });

  it('a committed change that applies reports the new commit, clean', async () => {
    await writeFile(join(dir, 'registry.config.ts'), configSource(config(true) as never));
    git('commit', '-q', '-am', 'second');
    const before = (await status()).planId;
    // The commit above rewrote the file in place; wait for the watcher's attempt.
    let now = await status();
    for (let i = 0; i < 300 && now.planId === before; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      now = await status();
    }
    expect(now.planId).not.toBe(before);
    expect(now.lastReload).toMatchObject({ outcome: 'applied', ok: true });
    expect(now.config).toMatchObject({
      inSync: true,
      servingRevision: { commit: git('rev-parse', 'HEAD'), dirty: false },
    });
    const text = await metrics();
    expect(text).toContain(planInfo(now.planId, git('rev-parse', 'HEAD')));
    expect(text).not.toContain(before);
  });
});
