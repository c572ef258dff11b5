/**
 * A proxy's `remote.mirrors`, `remote.mirrorsFirst` and `remote.maxConcurrency`: what they
 * compile to, that a config without them keeps its plan (and id), and the diagnostics for mirror
 * URLs that cannot work, each at its exact path with what is wrong and how to fix it.
 */
import { describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../schema/index.ts';
import { compileChecked as compile, configErrors } from '../helpers/checked-config.ts';

const errorsOf = (input: unknown) =>
  configErrors(input).map(({ code, path, message, hint }) => ({ code, path, message, hint }));

const remote = { url: 'https://registry.example' };
const proxyWith = (extra: Record<string, unknown>) => ({
  repositories: [{ name: 'hub', type: 'proxy', remote: { ...remote, ...extra } }],
});

describe('mirrors in the plan', () => {
  it('compiles mirrors (trailing slashes dropped), their order and maxConcurrency', () => {
    const plan = compile(
      proxyWith({
        mirrors: ['https://mirror-a.example/', 'http://mirror-b.example:5000'],
        maxConcurrency: 4,
      }) as ConfigInput,
    );
    const hub = plan.repositories.hub;
    expect(hub?.type === 'proxy' && hub.remote).toMatchObject({
      url: 'https://registry.example',
      mirrors: ['https://mirror-a.example', 'http://mirror-b.example:5000'],
      mirrorsFirst: true,
      maxConcurrency: 4,
    });
    const after = compile(proxyWith({ mirrors: ['https://m.example'], mirrorsFirst: false }) as ConfigInput);
    const late = after.repositories.hub;
    expect(late?.type === 'proxy' && late.remote.mirrorsFirst).toBe(false);
  });

  it('a config without them keeps its plan and id (no empty fields added)', () => {
    const plain = compile(proxyWith({}) as ConfigInput);
    const empty = compile(proxyWith({ mirrors: [] }) as ConfigInput);
    const hub = plain.repositories.hub;
    expect(hub?.type === 'proxy' && Object.keys(hub.remote).sort()).toEqual(['auth', 'index', 'timeoutMs', 'url']);
    expect(empty.id).toBe(plain.id);
  });
});

describe('mirror diagnostics', () => {
  it('a mirror with credentials: the path, credentials not shown, where they go instead', () => {
    expect(errorsOf(proxyWith({ mirrors: ['https://bot:s3cret-pass@mirror.example'] }))).toEqual([
      {
        code: 'url-credentials',
        path: ['repositories', 0, 'remote', 'mirrors', 0],
        message: 'the mirror URL must not contain credentials (not shown)',
        hint: 'move the credentials to `auth`, with the password as { env: NAME }',
      },
    ]);
  });

  it('a mirror without a scheme, not a URL, or of another scheme', () => {
    const errors = errorsOf(proxyWith({ mirrors: ['mirror.example:5000', 'http://', 'ftp://mirror.example'] }));
    expect(errors).toEqual([
      expect.objectContaining({
        code: 'invalid-url',
        path: ['repositories', 0, 'remote', 'mirrors', 0],
        message: 'the mirror URL `mirror.example:5000` has no scheme',
        hint: expect.stringContaining('https://mirror.example:5000'),
      }),
      expect.objectContaining({ code: 'invalid-url', path: ['repositories', 0, 'remote', 'mirrors', 1] }),
      expect.objectContaining({
        code: 'invalid-url',
        path: ['repositories', 0, 'remote', 'mirrors', 2],
        message: 'the mirror URL must use http or https, not ftp',
      }),
    ]);
  });

  it('a duplicate mirror, and a mirror that is the remote URL itself', () => {
    expect(
      errorsOf(
        proxyWith({
          mirrors: ['https://a.example', 'https://A.example/', 'https://registry.example/'],
        }),
      ),
    ).toEqual([
      {
        code: 'duplicate-mirror',
        path: ['repositories', 0, 'remote', 'mirrors', 1],
        message: 'the mirror https://A.example/ is listed twice (first at remote.mirrors[0])',
        hint: 'remove this entry: each endpoint is tried once per request',
      },
      {
        code: 'duplicate-mirror',
        path: ['repositories', 0, 'remote', 'mirrors', 2],
        message: 'the mirror https://registry.example/ is the remote URL itself',
        hint: 'remove this entry: each endpoint is tried once per request',
      },
    ]);
  });

  it('a mirror ending in /v2 is told the API path is added by regctl', () => {
    expect(errorsOf(proxyWith({ mirrors: ['https://m.example/v2'] }))).toEqual([
      expect.objectContaining({ code: 'invalid-url', path: ['repositories', 0, 'remote', 'mirrors', 0] }),
    ]);
  });

  it.each([0, -1, 1.5, 'many'])('maxConcurrency %j is refused at its path', (value) => {
    const errors = errorsOf(proxyWith({ maxConcurrency: value }));
    expect(errors).toEqual([expect.objectContaining({ path: ['repositories', 0, 'remote', 'maxConcurrency'] })]);
  });
});
