/**
 * Screenshots of the web UI's main pages for docs/ (docs/images/ui-*.png, 1200×800): a real
 * `regctl serve` with the browser tests' fixture (test/helpers/ui-fixture.ts), Debian's headless
 * Chromium through playwright-core, signed in through the login form as the operator.
 *
 *   node bin/run-ts.mjs bench/ui-screenshots.ts [OUT_DIR]     (default docs/images)
 *
 * A narrow (375 px) shot of the tag page is taken too, to show the stacked layout.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { REPO_ROOT } from '../test/helpers/regctl-server.ts';

/** Replaces the config and waits for the reload it causes (whatever its outcome). */
async function reloadWith(url: string, file: string, text: string): Promise<void> {
  const before = (await getStatus(url)).lastReload.at;
  await replaceFile(file, text);
  await waitUntil(async () => (await getStatus(url)).lastReload.at !== before, 'a reload');
}

import { waitUntil } from '../test/helpers/process.ts';
import { getStatus, replaceFile } from '../test/helpers/reload.ts';
import { TmpDirs } from '../test/helpers/tmp.ts';
import { startUiFixture, UI_USERS } from '../test/helpers/ui-fixture.ts';

const out = resolve(process.argv[2] ?? join(REPO_ROOT, 'docs', 'images'));
await mkdir(out, { recursive: true });
const dirs = new TmpDirs();
const fixture = await startUiFixture(dirs);
// Restart so the first storage measurement (5 s after start) sees every pushed image, then give
// the reload history a failed attempt and its fix to show.
await fixture.server.stop();
await fixture.server.restart();
await waitUntil(async () => {
  const status = (await (await fetch(`${fixture.server.url}/-/status`)).json()) as { storage?: { usage?: unknown[] } };
  return (status.storage?.usage?.length ?? 0) > 0;
}, 'the first storage measurement');
// Two pulls through the proxy since the restart: a miss, then a hit.
for (let i = 0; i < 2; i++) {
  await fixture.tools.skopeo([
    'copy',
    '--src-tls-verify=false',
    `docker://${fixture.server.host}/hub/library/base:3`,
    `oci:${join(fixture.dir, 'pulled')}:base`,
  ]);
}
const config = await readFile(fixture.server.configFile, 'utf8');
const broken = config.replace(
  '"name": "team",\n      "type": "hosted"',
  '"name": "team",\n      "type": "hosted",\n      "quota": "lots"',
);
await reloadWith(fixture.server.url, fixture.server.configFile, broken);
await reloadWith(fixture.server.url, fixture.server.configFile, config);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 }, colorScheme: 'light' });
  const page = await context.newPage();
  const base = fixture.server.url;
  await page.goto(`${base}/ui/login`);
  await page.fill('#login-user', UI_USERS.admin.name);
  await page.fill('#login-password', UI_USERS.admin.password);
  await page.click('form.login button[type=submit]');
  await page.waitForURL(`${base}/ui/`);
  const shots: [string, string][] = [
    ['ui-repositories', '/ui/'],
    ['ui-repository', '/ui/r/apps'],
    ['ui-tags', '/ui/r/apps/web/-/tags'],
    ['ui-index', '/ui/r/apps/web/-/tag/1.0'],
    ['ui-image', `/ui/r/apps/web/-/m/${fixture.digests.arm64}`],
    ['ui-layer', `/ui/r/apps/web/-/m/${fixture.digests.arm64}/blob/${fixture.digests.arm64Layers[0]}`],
    ['ui-search', '/ui/search?q=web'],
    ['ui-plan', '/ui/plan'],
    ['ui-reloads', '/ui/reloads'],
  ];
  for (const [name, path] of shots) {
    await page.goto(`${base}${path}`);
    await page.screenshot({ path: join(out, `${name}.png`) });
    console.log(`${name}.png  ${path}`);
  }
  await page.setViewportSize({ width: 375, height: 800 });
  await page.goto(`${base}/ui/r/apps/web/-/tags`);
  await page.screenshot({ path: join(out, 'ui-tags-narrow.png') });
  console.log('ui-tags-narrow.png  /ui/r/apps/web/-/tags at 375 px');
} finally {
  await browser.close();
  await fixture.server.stop();
  await fixture.upstream.stop();
  await dirs.cleanup();
}
