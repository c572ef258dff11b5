/**
 * No diagnostic ever echoes a secret. A config with a plaintext secret in every place one can be
 * written (passwords, upstream and proxy credentials, S3 keys, the token signing key, credentials
 * inside URLs, with and without a scheme, and secrets of the wrong type) is validated; every
 * diagnostic, in every output format of `regctl validate` and on `regctl plan`'s stderr, is
 * searched for each secret.
 */
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPlan, formatDiagnostics } from '../../compiler/index.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const SECRETS = {
  userPassword: 'Hunter2-user-pass',
  numericPassword: 98765432,
  upstreamPassword: 'Upstr3am-pass',
  upstreamUsernameInUrl: 'robot-in-url',
  urlPassword: 'Url-pass-1',
  urlPasswordNoScheme: 'Url-pass-2',
  proxyUrlPassword: 'Pr0xy-url-pass',
  proxyAuthPassword: 'Pr0xy-auth-pass',
  accessKeyId: 'AKIAPLAINTEXT1234',
  secretAccessKey: 'S3-secret-access-key',
  endpointPassword: 'Endp0int-pass',
  signingKey: 'Tok3n-signing-key',
  objectSecret: 'Obj3ct-secret',
};

const config = {
  blobStores: [
    { name: 'default', type: 'file', path: './data' },
    {
      name: 'bucket',
      type: 's3',
      bucket: 'b',
      endpoint: `s3user:${SECRETS.endpointPassword}@s3.example`,
      credentials: { accessKeyId: SECRETS.accessKeyId, secretAccessKey: SECRETS.secretAccessKey },
    },
  ],
  httpProxy: {
    url: `http://proxyuser:${SECRETS.proxyUrlPassword}@proxy.example:3128`,
    auth: { username: 'proxyuser', password: SECRETS.proxyAuthPassword },
  },
  repositories: [
    {
      name: 'hub',
      type: 'proxy',
      remote: { url: 'https://registry.example', auth: { username: 'robot', password: SECRETS.upstreamPassword } },
    },
    {
      name: 'mirror',
      type: 'proxy',
      remote: { url: `https://${SECRETS.upstreamUsernameInUrl}:${SECRETS.urlPassword}@registry.example` },
    },
    { name: 'mirror2', type: 'proxy', remote: { url: `robot:${SECRETS.urlPasswordNoScheme}@registry.example` } },
    { name: 'all', type: 'group', members: ['hub', 'mirror', 'missing'] },
  ],
  listeners: [{ host: '127.0.0.1', port: 5000, repository: 'all' }],
  security: {
    users: [
      { name: 'ci', password: SECRETS.userPassword, roles: ['dev'] },
      { name: 'bot', password: SECRETS.numericPassword, roles: [] },
      { name: 'odd', password: { value: SECRETS.objectSecret }, roles: [] },
    ],
    roles: { dev: [{ repositories: ['all'], actions: ['pull'] }] },
    token: { signingKey: SECRETS.signingKey },
  },
};

const dirs = new TmpDirs();
let dir: string;
let tsFile: string;
let jsonFile: string;
beforeAll(async () => {
  dir = await dirs.make('regctl-secrets-');
  tsFile = join(dir, 'registry.config.ts');
  jsonFile = join(dir, 'registry.config.json');
  await writeFile(tsFile, `export default ${JSON.stringify(config, null, 2)};\n`);
  await writeFile(jsonFile, JSON.stringify(config, null, 2));
});
afterAll(() => dirs.cleanup());

function leaked(text: string): string[] {
  return Object.entries(SECRETS)
    .filter(([, secret]) => text.includes(String(secret)))
    .map(([name]) => name);
}

describe('no diagnostic echoes a secret', () => {
  it.each(['ts', 'json'])('in any field of any diagnostic of a .%s config', async (kind) => {
    const result = await buildPlan({ configPath: kind === 'ts' ? tsFile : jsonFile });
    expect(result.ok).toBe(false);
    // The config is wrong in many places, and each is reported (not one error hiding the rest).
    const codes = result.diagnostics.map((d) => `${d.code} ${d.path.join('.')}`);
    expect(codes).toEqual(
      expect.arrayContaining([
        'plaintext-secret security.users.0.password',
        'plaintext-secret security.users.1.password',
        'plaintext-secret repositories.0.remote.auth.password',
        'plaintext-secret httpProxy.auth.password',
        'plaintext-secret blobStores.1.credentials.accessKeyId',
        'plaintext-secret blobStores.1.credentials.secretAccessKey',
        'plaintext-secret security.token.signingKey',
        'url-credentials repositories.1.remote.url',
        'url-credentials httpProxy.url',
        'invalid-url repositories.2.remote.url',
        'invalid-url blobStores.1.endpoint',
        'unknown-member repositories.3.members.2',
      ]),
    );
    expect(result.diagnostics.length).toBeGreaterThanOrEqual(13);
    for (const d of result.diagnostics) expect(leaked(JSON.stringify(d)), JSON.stringify(d)).toEqual([]);
    for (const format of ['text', 'json', 'github'] as const)
      expect(leaked(formatDiagnostics(result.diagnostics, format, dir))).toEqual([]);
  });

  it('in the output of regctl validate (every format) and regctl plan', () => {
    const runs = [
      ['validate', '--config', tsFile],
      ['validate', '--config', tsFile, '--format', 'json'],
      ['validate', '--config', jsonFile, '--format', 'github'],
      ['validate', '--config', tsFile, '--strict-env'],
      ['plan', '--config', tsFile],
    ];
    for (const args of runs) {
      const result = spawnSync(process.execPath, [join(ROOT, 'bin/regctl.mjs'), ...args], {
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1' },
      });
      expect(result.status, args.join(' ')).toBe(1);
      const output = result.stdout + result.stderr;
      expect(output, args.join(' ')).toMatch(/plaintext-secret/);
      expect(leaked(output), args.join(' ')).toEqual([]);
    }
  });
});
