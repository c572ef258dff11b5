/** ListenerSet: open new listeners before a swap, drain and close removed ones after it. */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { describe, expect, it } from 'vitest';
import type { Plan } from '../../../compiler/plan.ts';
import { ListenerSet } from '../../../runtime/server/listeners.ts';
import { PlanHolder } from '../../../runtime/server/plan-holder.ts';
import { createRuntimeState } from '../../../runtime/server/state.ts';
import { FakeWorld, listenerPlan, makePlan, silentLog } from '../http/fakes.ts';

/** A port free right now on 127.0.0.1 (found at runtime, never fixed). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function planWith(id: string, ports: number[]): Plan {
  return makePlan({ id, listeners: ports.map((port) => listenerPlan({ id: `127.0.0.1:${port}`, port })) });
}

async function ping(port: number): Promise<number | string> {
  try {
    const res = await request(`http://127.0.0.1:${port}/-/health`);
    await res.body.dump();
    return res.statusCode;
  } catch (error) {
    return (error as { code?: string }).code ?? 'error';
  }
}

describe('ListenerSet.applyListeners', () => {
  it('diffs listener sets: opens added, keeps unchanged, closes removed only in finish()', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const world = new FakeWorld();
    const plan1 = planWith('p1', [a]);
    const holder = new PlanHolder(
      await createRuntimeState(plan1, { env: {}, log: silentLog, factories: world.factories }),
    );
    const set = new ListenerSet({ holder, log: silentLog, drainTimeoutMs: 2000 });
    const initial = await set.applyListeners(null, plan1);
    expect(initial.opened).toEqual([`127.0.0.1:${a}`]);
    expect(await ping(a)).toBe(200);

    const plan2 = planWith('p2', [a, b]);
    const grow = await set.applyListeners(plan1, plan2);
    expect(grow).toMatchObject({ opened: [`127.0.0.1:${b}`], kept: [`127.0.0.1:${a}`], removed: [] });
    holder.swap(
      await createRuntimeState(plan2, { env: {}, log: silentLog, factories: world.factories, previous: holder.state }),
    );
    await grow.finish();
    expect(await ping(b)).toBe(200);

    const plan3 = planWith('p3', [b]);
    const shrink = await set.applyListeners(plan2, plan3);
    expect(shrink.removed).toEqual([`127.0.0.1:${a}`]);
    expect(await ping(a)).toBe(200);
    holder.swap(
      await createRuntimeState(plan3, { env: {}, log: silentLog, factories: world.factories, previous: holder.state }),
    );
    await shrink.finish();
    expect(await ping(a)).toBe('ECONNREFUSED');
    expect(await ping(b)).toBe(200);
    expect(set.listeners.map((listener) => listener.id)).toEqual([`127.0.0.1:${b}`]);

    await set.close();
    await holder.close();
    expect(await ping(b)).toBe('ECONNREFUSED');
  });

  it('a port that cannot be bound fails the change and closes what it opened', async () => {
    const [free, busyPort] = [await freePort(), await freePort()];
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(busyPort, '127.0.0.1', resolve));
    const world = new FakeWorld();
    const plan = planWith('p', [free, busyPort]);
    const holder = new PlanHolder(
      await createRuntimeState(plan, { env: {}, log: silentLog, factories: world.factories }),
    );
    const set = new ListenerSet({ holder, log: silentLog });
    try {
      await expect(set.applyListeners(null, plan)).rejects.toThrow(/EADDRINUSE/);
      expect(set.listeners).toEqual([]);
      expect(await ping(free)).toBe('ECONNREFUSED');
    } finally {
      blocker.close();
      await set.close();
      await holder.close();
    }
  });
});

describe('TLS listeners', () => {
  it('serves HTTPS with the configured certificate and key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'regctl-tls-'));
    try {
      const certFile = join(dir, 'cert.pem');
      const keyFile = join(dir, 'key.pem');
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-subj',
          '/CN=127.0.0.1',
          '-addext',
          'subjectAltName=IP:127.0.0.1',
          '-days',
          '1',
          '-keyout',
          keyFile,
          '-out',
          certFile,
        ],
        { stdio: 'ignore' },
      );
      const port = await freePort();
      const plan = makePlan({
        listeners: [listenerPlan({ id: `127.0.0.1:${port}`, port, tls: { certFile, keyFile } })],
      });
      const world = new FakeWorld();
      const holder = new PlanHolder(
        await createRuntimeState(plan, { env: {}, log: silentLog, factories: world.factories }),
      );
      const set = new ListenerSet({ holder, log: silentLog });
      await set.applyListeners(null, plan);
      const dispatcher = new Agent({ connect: { ca: await readFile(certFile) } });
      try {
        expect(set.get(`127.0.0.1:${port}`)!.url).toBe(`https://127.0.0.1:${port}`);
        const res = await request(`https://127.0.0.1:${port}/v2/`, { dispatcher });
        expect(res.statusCode).toBe(200);
        expect(await res.body.json()).toEqual({});
      } finally {
        await dispatcher.close();
        await set.close();
        await holder.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
