/** One structured access-log line per request, without query secrets; LOG_LEVEL honoured. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createRegistryApp } from '../../../runtime/server/app.ts';
import { createLogger, redactUrl } from '../../../runtime/server/log.ts';
import { PlanHolder } from '../../../runtime/server/plan-holder.ts';
import { createRuntimeState } from '../../../runtime/server/state.ts';
import { FakeWorld, makePlan, sha256 } from './fakes.ts';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  let text = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      text += chunk;
      done();
    },
  });
  return {
    stream,
    lines: () =>
      text
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line)),
  };
}

describe('access log', () => {
  it('writes one line per request with method, url, status, bytes, ms and repository', async () => {
    const out = capture();
    const log = createLogger({ env: { LOG_LEVEL: 'info' }, destination: out.stream });
    const world = new FakeWorld();
    const plan = makePlan();
    const holder = new PlanHolder(await createRuntimeState(plan, { env: {}, log, factories: world.factories }));
    const app = createRegistryApp({ holder, listenerId: plan.listeners[0]!.id, log });
    const data = Buffer.from('abc');
    await app.inject({
      method: 'POST',
      url: `/v2/app/blobs/uploads/?digest=${sha256(data)}`,
      payload: data,
      headers: { 'content-type': 'application/octet-stream' },
    });
    await app.inject({ method: 'GET', url: `/v2/app/blobs/${sha256(data)}` });
    await app.inject({ method: 'GET', url: '/-/token?account=ci&password=hunter2' });
    await app.close();
    await holder.close();

    const requests = out.lines().filter((line) => line.msg === 'request');
    expect(requests).toHaveLength(3);
    expect(requests[0]).toMatchObject({ method: 'POST', status: 201, repository: 'private', listener: '127.0.0.1:0' });
    expect(requests[1]).toMatchObject({ method: 'GET', url: `/v2/app/blobs/${sha256(data)}`, status: 200, bytes: 3 });
    expect(typeof requests[1]!.ms).toBe('number');
    expect(requests[2]!.url).toBe('/-/token?account=ci&password=REDACTED');
    expect(JSON.stringify(out.lines())).not.toContain('hunter2');
  });

  it('LOG_LEVEL=warn silences request lines', async () => {
    const out = capture();
    const log = createLogger({ env: { LOG_LEVEL: 'warn' }, destination: out.stream });
    log.info('hidden');
    log.warn('shown');
    expect(out.lines().map((line) => line.msg)).toEqual(['shown']);
  });

  it('redactUrl keeps paths and harmless parameters', () => {
    expect(redactUrl('/v2/app/tags/list?n=10&last=b')).toBe('/v2/app/tags/list?n=10&last=b');
    expect(redactUrl('/x?X-Amz-Signature=abc&n=1')).toBe('/x?X-Amz-Signature=REDACTED&n=1');
  });
});
