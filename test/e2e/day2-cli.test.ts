import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ContainersTools, createContainersTools } from '../helpers/clients.ts';
import { freePort } from '../helpers/free-port.ts';
import { buildImage, type Image, writeOciLayout } from '../helpers/oci-image.ts';
import { runRegctl } from '../helpers/regctl-cli.ts';
import { configSource, type RegctlServer, startRegctl, type TestConfig } from '../helpers/regctl-server.ts';
import { getStatus, replaceFile } from '../helpers/reload.ts';
import { TmpDirs } from '../helpers/tmp.ts';

const dirs = new TmpDirs();
const PASSWORD = 'day-2 operator pass';
let server: RegctlServer;
let tools: ContainersTools;
let config: TestConfig;
let app: Image;
let tool: Image;

const regctl = runRegctl;

const asOperator = { REGCTL_USERNAME: 'ops', REGCTL_PASSWORD: PASSWORD };
const asReader = { REGCTL_USERNAME: 'reader', REGCTL_PASSWORD: PASSWORD };
interface ListedTag {
  tag: string;
  size: number;
  digest: string;
  lastPulled: string | null;
}
const sizeOf = (image: Image) =>
  image.manifest.bytes.length + image.config.bytes.length + image.layers.reduce((n, l) => n + l.bytes.length, 0);

beforeAll(async () => {
  const hashed = await regctl(['passwd', '--cost', '4'], { input: `${PASSWORD}\n` });
  expect(hashed.code, hashed.stderr).toBe(0);
  expect(hashed.stdout).not.toContain(PASSWORD);
  const bcrypt = hashed.stdout.trim();
  expect(bcrypt).toMatch(/^\$2b\$04\$[./A-Za-z0-9]{53}$/);
  const port = await freePort();
  config = {
    blobStores: [{ name: 'default', type: 'file', path: './data' }],
    repositories: [
      // No anonymous access: containers/image clients authenticate only when /v2/ asks them to.
      { name: 'private', type: 'hosted' },
      { name: 'releases', type: 'hosted', deploymentPolicy: 'disableRedeploy' },
      { name: 'hub', type: 'proxy', remote: { url: 'http://127.0.0.1:9' } },
    ],
    listeners: [{ host: '127.0.0.1', port, repository: 'private', paths: ['releases', 'hub'] }],
    security: {
      users: [
        { name: 'ops', password: { bcrypt }, roles: ['ops'] },
        { name: 'reader', password: { bcrypt }, roles: ['reader'] },
      ],
      roles: {
        ops: [{ repositories: ['*'], actions: ['pull', 'push', 'delete'] }],
        reader: [{ repositories: ['releases'], actions: ['pull'] }],
      },
    },
  };
  const dir = await dirs.make('regctl-day2-');
  server = await startRegctl({ dir, config, args: ['--watch'] });
  tools = await createContainersTools(await dirs.make());
  app = buildImage({ seed: 'day2-app' });
  tool = buildImage({ seed: 'day2-tool', layers: 1 });
  const creds = `ops:${PASSWORD}`;
  for (const [image, reference] of [
    [app, 'team/app:1'],
    [app, 'team/app:2'],
    [tool, 'team/tool:1'],
    [tool, 'releases/team/tool:1.0'],
  ] as const) {
    const layout = await dirs.make();
    await writeOciLayout(layout, { image });
    await tools.skopeo([
      'copy',
      '--dest-tls-verify=false',
      '--dest-creds',
      creds,
      `oci:${layout}:image`,
      `docker://${server.host}/${reference}`,
    ]);
  }
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await dirs.cleanup();
});

describe('regctl passwd', () => {
  it('refuses an empty password and a bad cost', async () => {
    expect((await regctl(['passwd'], { input: '' })).code).toBe(1);
    expect((await regctl(['passwd', '--cost', '3'], { input: 'x' })).code).toBe(2);
  });
});

describe('regctl ls', () => {
  it('lists hosted repositories, images and tags with sizes, with the configured credentials', async () => {
    const result = await regctl(['ls', '--registry', server.url, '--json'], { env: asOperator });
    expect(result.code, result.stderr).toBe(0);
    const inventory = JSON.parse(result.stdout);
    const repo = (name: string) => inventory.repositories.find((r: { name: string }) => r.name === name);
    expect(inventory.repositories.map((r: { name: string }) => r.name)).toEqual(['private', 'releases']);
    expect(inventory.skipped).toEqual([expect.objectContaining({ name: 'hub', type: 'proxy' })]);
    const images = repo('private').images;
    expect(images.map((i: { name: string }) => i.name)).toEqual(['team/app', 'team/tool']);
    const appEntry = images[0];
    expect(appEntry.tags.map((t: ListedTag) => t)).toEqual([
      expect.objectContaining({ tag: '1', size: sizeOf(app), digest: app.manifest.digest, lastPulled: null }),
      expect.objectContaining({ tag: '2', size: sizeOf(app), digest: app.manifest.digest, lastPulled: null }),
    ]);
    // Two tags of one manifest: the image's size counts its blobs once.
    expect(appEntry.size).toBe(sizeOf(app));
    expect(repo('private').size).toBe(sizeOf(app) + sizeOf(tool));
    expect(repo('releases').images).toEqual([expect.objectContaining({ name: 'team/tool', size: sizeOf(tool) })]);
  });

  it('shows when each tag was last pulled: never after a push (listing notes no pull), a time after a pull', async () => {
    const list = async (env: Record<string, string>) => {
      const result = await regctl(['ls', '--registry', server.url, '--json'], { env });
      expect(result.code, result.stderr).toBe(0);
      const inventory = JSON.parse(result.stdout);
      const tagsOf = (repository: string, image: string): ListedTag[] =>
        inventory.repositories
          .find((r: { name: string }) => r.name === repository)
          .images.find((i: { name: string }) => i.name === image).tags;
      return { inventory, tagsOf };
    };
    // The previous test listed everything: a listing reads stored content and is no pull.
    const before = await list(asOperator);
    expect(before.tagsOf('private', 'team/tool').map((t) => t.lastPulled)).toEqual([null]);
    const table = await regctl(['ls', 'private', '--registry', server.url], { env: asOperator });
    expect(table.stdout).toMatch(/^private\s+team\/tool\s+1\s+\S+\s+[\d.]+ KiB\s+never$/m);

    const start = Date.now();
    const copy = await dirs.make();
    await tools.skopeo([
      'copy',
      '--src-tls-verify=false',
      '--src-creds',
      `ops:${PASSWORD}`,
      `docker://${server.host}/team/tool:1`,
      `oci:${copy}:pulled`,
    ]);
    const after = await list(asOperator);
    const [pulled] = after.tagsOf('private', 'team/tool');
    expect(pulled?.lastPulled).toEqual(expect.any(String));
    const at = Date.parse(pulled!.lastPulled!);
    expect(at).toBeGreaterThanOrEqual(start - 1000);
    expect(at).toBeLessThanOrEqual(Date.now() + 1000);
    // The same manifest in another repository, and the other image, were not pulled.
    expect(after.tagsOf('releases', 'team/tool').map((t) => t.lastPulled)).toEqual([null]);
    expect(after.tagsOf('private', 'team/app').map((t) => t.lastPulled)).toEqual([null, null]);
    // Written to the store when the repository closes (a graceful stop flushes the batch): a
    // restarted registry still knows it.
    await server.restart();
    const restarted = await list(asOperator);
    expect(restarted.tagsOf('private', 'team/tool').map((t) => t.lastPulled)).toEqual([pulled!.lastPulled]);
    const table2 = await regctl(['ls', 'private', '--registry', server.url], { env: asOperator });
    expect(table2.stdout).toMatch(
      new RegExp(`^private\\s+team/tool\\s+1\\s+\\S+\\s+[\\d.]+ KiB\\s+${pulled!.lastPulled!.slice(0, 16)}`, 'm'),
    );
  });

  it('lists only the repositories the credentials may pull from', async () => {
    const result = await regctl(['ls', '--registry', server.url, '--json'], { env: asReader });
    expect(result.code, result.stderr).toBe(0);
    const inventory = JSON.parse(result.stdout);
    expect(inventory.repositories.map((r: { name: string }) => r.name)).toEqual(['releases']);
    expect(inventory.skipped).toEqual([]);
    const hidden = await regctl(['ls', 'private', '--registry', server.url], { env: asReader });
    expect(hidden.code).toBe(2);
    expect(hidden.stderr).toContain('no repository private');
    expect(hidden.stderr).not.toContain('team/app');
    // Asked directly, a repository the user may not pull from does not exist.
    const direct = await fetch(`${server.url}/-/inventory/private`, {
      headers: { authorization: `Basic ${Buffer.from(`reader:${PASSWORD}`).toString('base64')}` },
    });
    expect(direct.status).toBe(404);
    expect(((await direct.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('NAME_UNKNOWN');
    // A proxy is not listed (its tags would be asked of its remote): a clear OCI error, no listing.
    const proxy = await fetch(`${server.url}/-/inventory/hub`, {
      headers: { authorization: `Basic ${Buffer.from(`ops:${PASSWORD}`).toString('base64')}` },
    });
    expect(proxy.status).toBe(400);
    const refusal = (await proxy.json()) as { errors: { code: string; message: string }[] };
    expect(refusal.errors[0]).toMatchObject({ code: 'UNSUPPORTED' });
    expect(refusal.errors[0]?.message).toContain('hub is a proxy repository');
    // Without credentials, the listing asks for them (the registry's challenge), naming nothing.
    const anonymous = await fetch(`${server.url}/-/inventory`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBeTruthy();
    expect(await anonymous.text()).not.toContain('private');
  });

  it('says the registry requires credentials when REGCTL_* is unset', async () => {
    const anonymous = await regctl(['ls', '--registry', server.url]);
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr, anonymous.stderr).toContain('requires authentication');
    expect(anonymous.stderr).toContain('set REGCTL_USERNAME and REGCTL_PASSWORD');
  });

  it('prints a table for people, one repository when named, from the config when no --registry', async () => {
    const table = await regctl(['ls', 'private', '--config', server.configFile], { env: asOperator });
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^REPOSITORY\s+IMAGE\s+TAG\s+DIGEST\s+SIZE\s+LAST PULLED$/m);
    expect(table.stdout).toMatch(
      new RegExp(`^private\\s+team/app\\s+1\\s+${app.manifest.digest.slice(0, 19)}\\s+[\\d.]+ KiB\\s+never$`, 'm'),
    );
    expect(table.stdout).toContain('private: 2 images, 3 tags');
    expect(table.stdout).not.toContain('releases');
    const unknown = await regctl(['ls', 'privat', '--registry', server.url], { env: asOperator });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no repository privat');
  });
});

describe('regctl rm', () => {
  it('deletes a tag, then a manifest by digest with its tags', async () => {
    const tag = await regctl(['rm', 'private/team/app:2', '--registry', server.url], { env: asOperator });
    expect(tag.code, tag.stderr).toBe(0);
    expect(tag.stdout).toBe('removed tag 2 of team/app in private\n');
    const tags = await tools.skopeo([
      'list-tags',
      '--tls-verify=false',
      '--creds',
      `ops:${PASSWORD}`,
      `docker://${server.host}/team/app`,
    ]);
    expect(JSON.parse(tags.stdout).Tags).toEqual(['1']);

    const digest = await regctl(['rm', `private/team/tool@${tool.manifest.digest}`, '--registry', server.url], {
      env: asOperator,
    });
    expect(digest.code, digest.stderr).toBe(0);
    const gone = await tools.skopeo(
      ['inspect', '--raw', '--tls-verify=false', '--creds', `ops:${PASSWORD}`, `docker://${server.host}/team/tool:1`],
      { allowFailure: true },
    );
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toMatch(/manifest unknown/i);
  });

  it('is refused by the deployment policy, without credentials, and for a malformed reference', async () => {
    const immutable = await regctl(['rm', 'releases/team/tool:1.0', '--registry', server.url], { env: asOperator });
    expect(immutable.code).toBe(1);
    expect(immutable.stderr).toMatch(
      /does not allow deleting 1\.0 of team\/tool \(403\): DENIED: .*repository releases has deploymentPolicy disableRedeploy/,
    );
    const anonymous = await regctl(['rm', 'private/team/app:1', '--registry', server.url]);
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toContain('REGCTL_USERNAME');
    expect((await regctl(['rm', 'team-app', '--registry', server.url])).code).toBe(2);
  });
});

describe('regctl status', () => {
  it('reports the serving plan, and exits 1 once a reload failed', async () => {
    const ok = await regctl(['status', '--registry', server.url]);
    expect(ok.code, ok.stderr).toBe(0);
    const planId = (await getStatus(server.url)).planId;
    expect(ok.stdout).toContain(`plan       ${planId.slice(0, 12)}`);
    expect(ok.stdout).toMatch(/^last reload initial at /m);
    expect(ok.stdout).toMatch(/^ {2}hub http:\/\/127\.0\.0\.1:9: not contacted yet$/m);

    // A broken change: the old plan keeps serving, and status says so.
    const broken = {
      ...config,
      repositories: [...(config.repositories ?? []), { name: 'all', type: 'group' as const, members: ['nope'] }],
    };
    await replaceFile(server.configFile, configSource(broken as never));
    const deadline = Date.now() + 20_000;
    while ((await getStatus(server.url)).lastReload.ok && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    const failed = await regctl(['status', '--config', server.configFile]);
    expect(failed.code, failed.stderr).toBe(1);
    expect(failed.stdout).toContain('FAILED, the previous plan keeps serving');
    expect(failed.stdout).toContain('unknown repository `nope`');
    expect(failed.stdout).toContain('NOT serving');
  });
});
