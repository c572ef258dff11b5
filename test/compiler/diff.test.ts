import { describe, expect, it } from 'vitest';
import { checkConfig, compilePlan, diffPlans, formatPlanDiff, type Plan, redactPlan } from '../../compiler/index.ts';
import type { ConfigInput } from '../../schema/index.ts';

function compile(input: ConfigInput): Plan {
  const { config } = checkConfig(input);
  if (!config) throw new Error('invalid');
  return compilePlan(config, { configDir: '/srv' });
}

const HASH = '$2y$05$abcdefghijklmnopqrstuu5wW4c/1ce.2bKRWkGnNU1RjJ4nrm4bW';
const base: ConfigInput = {
  repositories: [
    { name: 'private', type: 'hosted', anonymous: ['pull', 'push'] },
    { name: 'hub', type: 'proxy', remote: { url: 'http://127.0.0.1:5070' } },
  ],
  listeners: [{ host: '127.0.0.1', port: 5000, repository: 'private' }],
  security: { users: [{ name: 'admin', password: { bcrypt: HASH }, roles: [] }] },
};

describe('diffPlans', () => {
  it('reports identical plans as such', () => {
    const diff = diffPlans(compile(base), compile(base));
    expect(diff.identical).toBe(true);
    expect(formatPlanDiff(diff)).toMatch(/no changes$/);
  });

  it('lists added, removed and changed entries per section, with field paths', () => {
    const next: ConfigInput = {
      ...base,
      repositories: [
        { name: 'private', type: 'hosted', anonymous: ['pull'], deploymentPolicy: 'disableRedeploy' },
        { name: 'registry', type: 'group', members: ['private'] },
      ],
      listeners: [
        { host: '127.0.0.1', port: 5000, repository: 'registry', paths: ['private'] },
        { host: '127.0.0.1', port: 5001, repository: 'private' },
      ],
      security: { users: [{ name: 'ci', password: { env: 'CI_PASSWORD' }, roles: [] }], token: { ttl: '10m' } },
    };
    const diff = diffPlans(compile(base), compile(next));
    expect(diff.identical).toBe(false);
    expect(diff.repositories).toEqual({
      added: ['registry'],
      removed: ['hub'],
      changed: [
        {
          name: 'private',
          changes: [
            { field: 'access.anonymous', before: ['pull', 'push'], after: ['pull'] },
            { field: 'deploymentPolicy', before: 'allowRedeploy', after: 'disableRedeploy' },
          ],
        },
      ],
    });
    expect(diff.listeners.added).toEqual(['127.0.0.1:5001']);
    expect(diff.listeners.changed).toEqual([
      {
        name: '127.0.0.1:5000',
        changes: [
          { field: 'defaultRepository', before: 'private', after: 'registry' },
          { field: 'paths.private', before: null, after: 'private' },
        ],
      },
    ]);
    expect(diff.users).toEqual({ added: ['ci'], removed: ['admin'], changed: [] });
    expect(diff.settings).toEqual([{ field: 'security.token.ttlMs', before: 300_000, after: 600_000 }]);
    const text = formatPlanDiff(diff);
    expect(text).toContain('+ repository registry');
    expect(text).toContain('- repository hub');
    expect(text).toContain('~ repository private\n    access.anonymous: ["pull","push"] → ["pull"]');
    expect(text).toContain('~ security.token.ttl: 5m → 10m');
    expect(text.split('\n')[0]).toMatch(/^plan [0-9a-f]{12} → [0-9a-f]{12}: 3 to add, 3 to change, 2 to destroy$/);
  });

  it('shows a change of security.loginThrottle as a settings change', () => {
    const before = compile(base);
    const after = compile({
      ...base,
      security: { ...(base as { security?: object }).security, loginThrottle: { perUser: { burst: 3, perMinute: 5 } } },
    });
    const fields = diffPlans(before, after).settings.map((change) => change.field);
    expect(fields).toContain('security.loginThrottle.perUser.burst');
  });

  it('compiles reload.timeout to milliseconds (default 10 s, 0 refused) and shows its change', () => {
    const before = compile(base);
    const after = compile({ ...base, reload: { timeout: '2.5s' } });
    expect(before.reload).toEqual({ timeoutMs: 10_000 });
    expect(after.reload).toEqual({ timeoutMs: 2500 });
    expect(formatPlanDiff(diffPlans(before, after))).toContain('~ reload.timeout: 10s → 2.5s');
    const zero = checkConfig({ ...base, reload: { timeout: 0 } });
    expect(zero.config).toBeNull();
    expect(zero.diagnostics.map((d) => d.path.join('.'))).toContain('reload.timeout');
  });

  it('never shows a bcrypt hash, and shows env references as env:NAME', () => {
    const changed = {
      ...base,
      security: { users: [{ name: 'admin', password: { env: 'ADMIN_PASSWORD' }, roles: [] }] },
    };
    const diff = diffPlans(compile(base), compile(changed));
    expect(diff.users.changed).toEqual([
      { name: 'admin', changes: [{ field: 'password', before: '<redacted>', after: 'env:ADMIN_PASSWORD' }] },
    ]);
    expect(JSON.stringify(diff)).not.toContain(HASH);
  });
});

describe('redactPlan', () => {
  it('redacts hashes and renders secret references, leaving the rest intact', () => {
    const plan = compile({
      ...base,
      blobStores: [
        {
          name: 'default',
          type: 's3',
          bucket: 'b',
          credentials: { accessKeyId: { env: 'AK' }, secretAccessKey: { env: 'SK' } },
        },
      ],
    });
    const redacted = redactPlan(plan) as {
      blobStores: { default: unknown };
      security: { users: { password: unknown }[] };
    };
    expect(redacted.blobStores.default).toMatchObject({
      bucket: 'b',
      credentials: { accessKeyId: 'env:AK', secretAccessKey: 'env:SK' },
    });
    expect(redacted.security.users[0]!.password).toBe('<redacted>');
    expect(JSON.stringify(redacted)).not.toContain('$2y$');
    expect((redacted as unknown as { id: string }).id).toBe(plan.id);
  });
});
