/**
 * The web UI (issue #21) in a real headless Chromium (Debian `chromium` through playwright-core)
 * against a real `regctl serve`, with images pushed by real skopeo (test/helpers/ui-fixture.ts):
 * log in through the form, walk repository → tag → platform → layer, search, the plan page and a
 * failed reload's diagnostics in the reload history, keyboard navigation, a 375 px screen without
 * horizontal scrolling; and who sees what: a user without pull permission on a repository finds
 * it neither in lists nor by URL (404), anonymous visitors see only what anonymous may pull, and a
 * browser's Basic credentials work like the login form. One browser for the file.
 */
import { readFile } from 'node:fs/promises';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBinary, waitUntil } from '../helpers/process.ts';
import { getStatus, replaceFile } from '../helpers/reload.ts';
import { TmpDirs } from '../helpers/tmp.ts';
import { startUiFixture, UI_USERS, type UiFixture } from '../helpers/ui-fixture.ts';

const dirs = new TmpDirs();
let fixture: UiFixture;
let browser: Browser;
let base: string;

beforeAll(async () => {
  requireBinary('chromium', 'chromium');
  const [started, launched] = await Promise.all([
    startUiFixture(dirs),
    chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    }),
  ]);
  fixture = started;
  browser = launched;
  base = fixture.server.url;
});

afterAll(async () => {
  await browser?.close();
  await fixture?.server.stop();
  await fixture?.upstream.stop();
  await dirs.cleanup();
});

/** A fresh browser context (its own cookies), optionally signed in through the login form. */
async function openPage(options: { login?: { name: string; password: string }; width?: number } = {}) {
  const context = await browser.newContext({ viewport: { width: options.width ?? 1200, height: 800 } });
  const page = await context.newPage();
  if (options.login !== undefined) {
    await page.goto(`${base}/ui/login`);
    await page.fill('#login-user', options.login.name);
    await page.fill('#login-password', options.login.password);
    await follow(page, 'form.login button[type=submit]');
    if (page.url() !== `${base}/ui/`) throw new Error(`login as ${options.login.name} led to ${page.url()}`);
  }
  return { context, page };
}

/** The text of what `locator` finds ('' for nothing). */
async function text(locator: Locator): Promise<string> {
  return (await locator.textContent()) ?? '';
}

/** Clicks what `selector` finds and waits for the page it leads to. */
async function follow(page: Page, selector: string): Promise<void> {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}

/** The repository names in the list on `/ui/`. */
async function listedRepositories(page: Page): Promise<string[]> {
  await page.goto(`${base}/ui/`);
  return page.locator('main table tbody tr td:first-child a').allTextContents();
}

describe('web UI in a real browser', () => {
  it('logs in with the form and walks repository → tag → platform → layer', async () => {
    const { context, page } = await openPage({ login: UI_USERS.admin });
    try {
      expect(await text(page.locator('.who'))).toContain(`Signed in as ${UI_USERS.admin.name}`);
      const cookies = await context.cookies();
      const session = cookies.find((cookie) => cookie.name === 'regctl_session');
      expect(session?.httpOnly).toBe(true);
      expect(session?.sameSite).toBe('Strict');

      expect(await listedRepositories(page)).toEqual(['all', 'apps', 'hub', 'secret', 'team']);
      const hubRow = page.locator('tr', { has: page.locator('a', { hasText: /^hub$/ }) });
      expect(await text(hubRow)).toContain('proxy');
      expect(await text(hubRow)).toMatch(/upstream ok/);
      expect(await text(hubRow)).toMatch(/hit ratio/);
      expect(await text(page.locator('tr', { has: page.locator('a', { hasText: /^all$/ }) }))).toContain(
        'members: apps → team',
      );

      await follow(page, 'a:text-is("apps")');
      expect((await text(page.locator('h1'))).trim()).toBe('apps');
      await follow(page, 'a:text-is("web")');
      expect((await text(page.locator('h1'))).trim()).toBe('web');
      const row = page.locator('tr', { has: page.locator('a:text-is("1.0")') });
      expect(await text(row)).toContain('index');
      expect(await text(row)).toContain('linux/amd64, linux/arm64');
      expect(await text(row)).toContain(fixture.digests.index.slice(0, 19));
      const latest = page.locator('tr', { has: page.locator('a:text-is("latest")') });
      expect(await text(latest)).toContain('linux/amd64');

      await follow(page, 'a:text-is("1.0")');
      expect((await text(page.locator('h1'))).trim()).toBe('web:1.0');
      expect(await text(page.locator('main'))).toContain(fixture.digests.index);
      expect((await text(page.locator('.pull code'))).trim()).toBe(`docker pull ${fixture.server.host}/apps/web:1.0`);

      await follow(page, 'a:text-is("linux/arm64")');
      expect(await text(page.locator('main'))).toContain(fixture.digests.arm64);
      expect(await text(page.locator('main'))).toContain('linux/arm64');
      // The signature pushed with the arm64 image as its subject is listed as a referrer.
      expect(await text(page.locator('main'))).toContain('application/vnd.dev.cosign.artifact.sig.v1+json');
      expect(await text(page.locator('main'))).toContain('test.seed');

      // The signature's page: the annotation a client pushed with markup in it is shown as text.
      const scripts: string[] = [];
      page.on('dialog', (dialog) => {
        scripts.push(dialog.message());
        void dialog.dismiss();
      });
      await page.goto(`${base}/ui/r/apps/web/-/m/${fixture.digests.signature}`);
      expect(await text(page.locator('main'))).toContain('<script>alert("pushed")</script>');
      expect(await page.locator('main script, main img').count()).toBe(0);
      expect(scripts).toEqual([]);
      await page.goBack();

      const layer = fixture.digests.arm64Layers[0]!;
      await follow(page, `a:has-text("${layer.slice(0, 19)}")`);
      expect(await text(page.locator('h1'))).toContain('Layer 1 of 2');
      expect(await text(page.locator('main'))).toContain(layer);
      expect(await text(page.locator('main'))).toContain('application/vnd.oci.image.layer.v1.tar+gzip');
    } finally {
      await context.close();
    }
  });

  it('searches images and tags, and shows the plan and a failed reload with its diagnostics', async () => {
    const { context, page } = await openPage({ login: UI_USERS.admin });
    try {
      await page.fill('#search-q', 'latest');
      await page.press('#search-q', 'Enter');
      expect((await text(page.locator('h1'))).trim()).toBe('Search: latest');
      expect(await text(page.locator('main'))).toContain('web:latest');
      await page.goto(`${base}/ui/search?q=vault`);
      expect(await text(page.locator('main'))).toContain('vault');

      const planId = (await getStatus(base)).planId;
      await follow(page, 'nav a:text-is("Plan")');
      expect(await text(page.locator('main'))).toContain(planId);
      expect(await text(page.locator('main'))).toContain('env:UI_ADMIN_PASSWORD');
      const html = await page.content();
      expect(html).not.toContain(UI_USERS.admin.password);

      // A broken config: the reload fails, the old plan keeps serving, the history says why.
      const before = (await getStatus(base)).lastReload.at;
      const original = await readFile(fixture.server.configFile, 'utf8');
      await replaceFile(
        fixture.server.configFile,
        original.replace(
          '"name": "team",\n      "type": "hosted"',
          '"name": "team",\n      "type": "hosted",\n      "bogus": 1',
        ),
      );
      await waitUntil(async () => (await getStatus(base)).lastReload.at !== before, 'the failed reload', {
        timeoutMs: 20_000,
      });
      expect((await getStatus(base)).lastReload.ok).toBe(false);
      await follow(page, 'nav a:text-is("Reloads")');
      expect(await text(page.locator('main'))).toContain('failed');
      expect(await text(page.locator('main pre'))).toContain('bogus');
      await page.goto(`${base}/ui/plan`);
      expect(await text(page.locator('main'))).toContain('the last reload failed');
      await replaceFile(fixture.server.configFile, original);
      await waitUntil(async () => (await getStatus(base)).lastReload.ok, 'the config restored', { timeoutMs: 20_000 });
    } finally {
      await context.close();
    }
  });

  it('works with the keyboard and on a 375 px screen without horizontal scrolling', async () => {
    const { context, page } = await openPage({ login: UI_USERS.admin, width: 375 });
    try {
      await page.goto(`${base}/ui/`);
      // Tab from the top: the skip link first, then the header's links; reach "apps" and press Enter.
      await page.keyboard.press('Tab');
      expect(await page.evaluate('document.activeElement?.textContent')).toBe('Skip to content');
      let reached = false;
      for (let i = 0; i < 20 && !reached; i++) {
        await page.keyboard.press('Tab');
        reached = (await page.evaluate('document.activeElement?.textContent')) === 'apps';
      }
      expect(reached).toBe(true);
      await page.keyboard.press('Enter');
      expect((await text(page.locator('h1'))).trim()).toBe('apps');

      for (const path of [
        '/ui/',
        '/ui/r/apps/web/-/tags',
        `/ui/r/apps/web/-/m/${fixture.digests.arm64}`,
        '/ui/plan',
        '/ui/reloads',
      ]) {
        await page.goto(`${base}${path}`);
        const widths = await page.evaluate<{ scroll: number; client: number }>(
          '({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth })',
        );
        expect(widths.scroll, path).toBeLessThanOrEqual(widths.client);
      }
    } finally {
      await context.close();
    }
  });

  it('hides repositories a user may not pull from, in lists, search and by URL', async () => {
    const { context, page } = await openPage({ login: UI_USERS.dev });
    try {
      expect(await listedRepositories(page)).toEqual(['all', 'apps', 'hub', 'team']);
      expect(await text(page.locator('nav'))).not.toContain('Plan');
      await page.goto(`${base}/ui/search?q=vault`);
      expect(await text(page.locator('main'))).not.toContain('vault:1');
      for (const path of [
        '/ui/r/secret',
        '/ui/r/secret/vault/-/tags',
        '/ui/r/secret/vault/-/tag/1',
        '/ui/plan',
        '/ui/reloads',
      ]) {
        const response = await page.goto(`${base}${path}`);
        expect(response?.status(), path).toBe(404);
        expect(await text(page.locator('main'))).not.toContain('vault:');
      }
      // The same 404 as a repository that does not exist.
      expect((await page.goto(`${base}/ui/r/nothing-here`))?.status()).toBe(404);
      // A group shows only the members the user may see; team is one of them.
      await page.goto(`${base}/ui/r/team`);
      expect(await text(page.locator('main'))).toContain('api');
    } finally {
      await context.close();
    }
  });

  it('shows anonymous visitors only what anonymous may pull, and takes a browser’s Basic credentials', async () => {
    const anonymous = await openPage();
    try {
      expect(await listedRepositories(anonymous.page)).toEqual(['all', 'apps', 'hub']);
      const response = await anonymous.page.goto(`${base}/ui/r/team`);
      // Anonymous: sent to the login form (which does not tell whether the repository exists).
      expect(response?.url()).toContain('/ui/login?next=');
      expect(await text(anonymous.page.locator('main'))).not.toContain('api');
      // A group lists only the members its viewer may see: team is hidden from anonymous.
      await anonymous.page.goto(`${base}/ui/r/all`);
      const members = await anonymous.page.locator('dd ol li').allTextContents();
      expect(members).toEqual(['apps']);
    } finally {
      await anonymous.context.close();
    }

    const context = await browser.newContext({
      httpCredentials: { username: UI_USERS.dev.name, password: UI_USERS.dev.password },
    });
    try {
      const page = await context.newPage();
      // The browser answers the Basic challenge, then sends the credentials with every UI page.
      const response = await page.goto(`${base}/ui/basic`);
      expect(response?.status()).toBe(200);
      expect(page.url()).toBe(`${base}/ui/`);
      expect(await text(page.locator('.who'))).toContain(`Signed in as ${UI_USERS.dev.name}`);
      expect(await listedRepositories(page)).toEqual(['all', 'apps', 'hub', 'team']);
      expect((await page.goto(`${base}/ui/r/secret`))?.status()).toBe(404);
    } finally {
      await context.close();
    }

    const wrong = await browser.newContext({
      httpCredentials: { username: UI_USERS.dev.name, password: 'not-the-password' },
    });
    try {
      const page = await wrong.newPage();
      const response = await page.goto(`${base}/ui/basic`);
      expect(response?.status()).toBe(401);
      expect(await text(page.locator('main'))).toContain('refused');
    } finally {
      await wrong.close();
    }
  });

  it('refuses a login POST from another origin, and a wrong password', async () => {
    const foreign = await fetch(`${base}/ui/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://evil.test' },
      body: `username=${UI_USERS.admin.name}&password=${UI_USERS.admin.password}`,
      redirect: 'manual',
    });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get('set-cookie')).toBeNull();
    const wrong = await fetch(`${base}/ui/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base },
      body: `username=${UI_USERS.admin.name}&password=wrong`,
      redirect: 'manual',
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    const page = await fetch(`${base}/ui/`);
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(page.headers.get('x-frame-options')).toBe('DENY');
  });
});
