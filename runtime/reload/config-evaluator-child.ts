/**
 * The child process of a {@link ConfigEvaluator} (config-evaluator.ts): builds one plan and exits.
 *
 * Protocol over the IPC channel (JSON messages):
 * - child → parent `{ type: 'ready' }` once the compiler is loaded (the child then idles as the
 *   spare until a request comes);
 * - parent → child `{ type: 'build', configPath, env }`, exactly once;
 * - child → parent `{ type: 'files', files }` as soon as the config is bundled, before it runs;
 * - child → parent `{ type: 'result', result }` (a {@link BuildResult}, plain JSON), then exit.
 *
 * The parent kills the child when the build takes longer than the reload timeout or when it shuts
 * down. A parent that dies without doing so (SIGKILL, a crash) leaves no orphan: the IPC channel's
 * `disconnect` ends an idle or waiting child, and a watchdog thread, started with the build, ends
 * one whose config keeps the event loop busy (a `while (true) {}` never lets `disconnect` run).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { type BuildResult, buildPlan } from '../../compiler/build.ts';

/** A request from the parent. */
export interface EvaluatorRequest {
  readonly type: 'build';
  readonly configPath: string;
  /** The serving process's environment, for the `env-unset` warnings (the child runs with it too). */
  readonly env: NodeJS.ProcessEnv;
}

/** What the child sends. */
export type EvaluatorMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'files'; readonly files: string[] }
  | { readonly type: 'result'; readonly result: BuildResult };

const WARM_UP_CONFIG = `const repositories: { name: string; type: 'hosted'; anonymous: string[] }[] = [
  { name: 'warm', type: 'hosted', anonymous: ['pull'] },
];
export default {
  repositories,
  listeners: [{ host: '127.0.0.1', port: 1, repository: 'warm' }],
};
`;

// Checks the parent every 500 ms from its own thread, so that even a busy main thread ends.
const WATCHDOG = `
const { workerData } = require('node:worker_threads');
setInterval(() => {
  if (process.ppid !== workerData.parent) process.kill(workerData.self, 'SIGKILL');
}, 500);
`;

function send(message: EvaluatorMessage, then?: () => void): void {
  process.send?.(message, undefined, {}, () => then?.());
}

if (process.send === undefined) {
  process.stderr.write('config-evaluator-child: must be started by a ConfigEvaluator (no IPC channel)\n');
  process.exit(2);
}
process.once('disconnect', () => process.exit(0));
process.once('message', (message: EvaluatorRequest) => {
  // Started with the build, not while idle: the thread costs ≈ 10 MiB, and starts on its own.
  const watchdog = new Worker(WATCHDOG, {
    eval: true,
    execArgv: [], // no module loader in the watchdog, whatever this process was started with
    workerData: { parent: process.ppid, self: process.pid },
  });
  watchdog.unref();
  void build(message).then(
    (result) => send({ type: 'result', result }, () => process.exit(0)),
    (error: unknown) => {
      // buildPlan never throws by contract: this is a bug, reported as the child's crash.
      process.stderr.write(`config-evaluator-child: ${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(1);
    },
  );
});
await warmUp();
send({ type: 'ready' });

/**
 * Builds a small config of our own, so that the user's config finds esbuild's service started and
 * the loader, zod and the compiler compiled by V8 (measured: the first build of the root config
 * took 58–67 ms in a fresh process, 23–34 ms after this). Best effort: without a writable temp
 * folder the first build is merely slower.
 */
async function warmUp(): Promise<void> {
  let dir: string | undefined;
  try {
    dir = await mkdtemp(join(tmpdir(), 'regctl-evaluator-'));
    const file = join(dir, 'registry.config.ts');
    await writeFile(file, WARM_UP_CONFIG);
    await buildPlan({ configPath: file, env: {}, positions: false });
  } catch {
    // Not needed for a correct build.
  } finally {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * `buildPlan`, placing the diagnostics of a failed build at line:column: the TypeScript parser
 * that takes (≈ 0.7 s, 50 MiB) goes with this process. A valid config's warnings keep their paths
 * only, as a reload does not print them and should not wait for the parser.
 */
function build(request: EvaluatorRequest): Promise<BuildResult> {
  return buildPlan({
    configPath: request.configPath,
    env: request.env,
    positions: 'failed',
    onFiles: (files) => send({ type: 'files', files }),
  });
}
