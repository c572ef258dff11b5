import { describe, expect, it } from 'vitest';
import { checkConfig } from '../../compiler/check.ts';
import { compilePlan } from '../../compiler/compile.ts';
import { type ConfigInput, ConfigSchema } from '../../schema/index.ts';

function parse(input: ConfigInput) {
  return ConfigSchema.parse(input);
}

const base: ConfigInput = {
  repositories: [{ name: 'team-a', type: 'hosted' }],
  listeners: [{ host: '127.0.0.1', port: 5000, repository: 'team-a' }],
};

describe('metrics, audit and notifications in the plan', () => {
  it('leaves a config without them at its plan id, and compiles them when present', () => {
    const plain = compilePlan(parse(base), { configDir: '/etc/regctl' });
    expect(plain).not.toHaveProperty('metrics');
    expect(plain).not.toHaveProperty('notifications');
    const plan = compilePlan(
      parse({
        ...base,
        metrics: {},
        audit: { file: './audit.log' },
        notifications: [
          { url: 'http://127.0.0.1:9/hook', events: ['push', 'push'], headers: { Authorization: { env: 'HOOK' } } },
        ],
      }),
      { configDir: '/etc/regctl' },
    );
    expect(plan.id).not.toBe(plain.id);
    expect(plan.metrics).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(plan.audit).toEqual({ file: '/etc/regctl/audit.log' });
    expect(plan.notifications).toEqual([
      {
        name: '127.0.0.1:9',
        url: 'http://127.0.0.1:9/hook',
        events: ['push'],
        repositories: ['*'],
        headers: { Authorization: { env: 'HOOK' } },
        timeoutMs: 5000,
        queueSize: 1000,
        maxAttempts: 10,
      },
    ]);
    expect(compilePlan(parse({ ...base, audit: { file: 'stdout' } }), { configDir: '/x' }).audit).toEqual({
      file: 'stdout',
    });
  });

  it("compiles the issue's example as written", () => {
    const plan = compilePlan(
      parse({
        ...base,
        metrics: { host: '127.0.0.1', port: 9464 },
        audit: { file: './audit.log' },
        notifications: [
          {
            url: 'https://hooks.example.com/registry',
            events: ['push', 'delete', 'pull'],
            repositories: ['team-*'],
            headers: { Authorization: { env: 'HOOK_TOKEN' } },
            timeout: '5s',
          },
        ],
      }),
      { configDir: '/etc/regctl' },
    );
    expect(plan.metrics).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(plan.audit).toEqual({ file: '/etc/regctl/audit.log' });
    expect(plan.notifications).toEqual([
      {
        name: 'hooks.example.com',
        url: 'https://hooks.example.com/registry',
        events: ['delete', 'pull', 'push'],
        repositories: ['team-*'],
        headers: { Authorization: { env: 'HOOK_TOKEN' } },
        timeoutMs: 5000,
        queueSize: 1000,
        maxAttempts: 10,
      },
    ]);
  });

  it('reports each mistake at its path', () => {
    const diagnostics = checkConfig({
      ...base,
      metrics: { host: '0.0.0.0', port: 5000 },
      notifications: [
        { url: 'http://user:pw@hooks.example/a', headers: { Authorization: 'Bearer abc' } },
        { url: 'ftp://hooks.example/b', repositories: ['team-b'] },
      ],
    }).diagnostics.map((d) => `${d.severity} ${d.code} ${d.path.join('.')}`);
    expect(diagnostics).toEqual(
      expect.arrayContaining([
        'error listener-conflict metrics.port',
        'error url-credentials notifications.0.url',
        'error plaintext-secret notifications.0.headers.Authorization',
        'error invalid-url notifications.1.url',
        'error duplicate-name notifications.1.name',
        'warning unknown-repository notifications.1.repositories.0',
      ]),
    );
  });
});
