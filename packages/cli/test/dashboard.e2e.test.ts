import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpAgent, ServerProcess } from './server-process.js';

const CHROMIUM = '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) console.warn('[skip] dashboard browser tests: needs Debian chromium (.ci/run installs it)');
const PASSWORD = 'correct horse battery 9';

/** The dashboard as a person uses it: real server, real Chromium, clicks and keyboard. */
describe.skipIf(!existsSync(CHROMIUM))('dashboard in Chromium', () => {
  let server: ServerProcess;
  let browser: Browser;
  beforeAll(async () => {
    server = await new ServerProcess().start();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  const whoami = async (key: string) => (await fetch(`${server.base}/v1/whoami`, { headers: { authorization: `Bearer ${key}` } })).status;

  async function newPerson(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.base });
    return context.newPage();
  }

  it('sign up, create a key, copy it, use it, revoke it in the UI: 401 afterwards', async () => {
    const page = await newPerson();
    await page.goto(`${server.base}/`);
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.getByLabel('Name').fill('Ada');
    await page.getByLabel('E-mail address').fill('ada@example.com');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: "Ada's organization" }).waitFor();

    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByLabel('Name').fill('<img src=x onerror=alert(1)>');
    await page.getByLabel(/^write/).check();
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.getByRole('heading', { name: /Your new key/ }).waitFor();
    await page.getByRole('button', { name: 'Copy' }).click();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    expect(copied).toMatch(/^kw_test_[0-9A-Za-z]{42}$/);
    expect(await page.getByRole('button', { name: 'Copied' }).count()).toBe(1);
    // The name is text, not markup: no <img> element appeared anywhere.
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.getByRole('link', { name: '<img src=x onerror=alert(1)>' }).count()).toBe(1);
    expect(await whoami(copied)).toBe(200);

    // Shown once: the list (and a reload of it) never carries the raw key again.
    await page.goto(`${server.base}/dashboard/keys`);
    expect(await page.content()).not.toContain(copied);

    page.once('dialog', (d) => {
      expect(d.message()).toMatch(/cannot be undone/);
      void d.accept();
    });
    await page.getByRole('button', { name: 'Revoke' }).click();
    await page.locator('.badge.revoked').waitFor();
    expect(await whoami(copied)).toBe(401);
  });

  it('rotate with a grace period: both keys listed and working during it', async () => {
    const page = await newPerson();
    await page.goto(`${server.base}/login`);
    await page.getByLabel('E-mail address').fill('ada@example.com');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.goto(`${server.base}/dashboard/keys`);
    await page.getByLabel('Name').fill('billing-service');
    await page.getByRole('button', { name: 'Create key' }).click();
    const first = await page.locator('#raw-key').inputValue();
    await page.goto(`${server.base}/dashboard/keys`);
    const row = page.getByRole('row', { name: /billing-service/ });
    await row.getByLabel(/Grace period/).selectOption('3600');
    await row.getByRole('button', { name: 'Rotate' }).click();
    await page.getByRole('heading', { name: /Rotated/ }).waitFor();
    const second = await page.locator('#raw-key').inputValue();
    expect(second).not.toBe(first);
    expect(await page.getByRole('row', { name: /billing-service/ }).count()).toBe(2);
    expect(await page.getByText('active (rotating)').count()).toBe(1);
    expect([await whoami(first), await whoami(second)]).toEqual([200, 200]);
  });

  it('a read member creates read keys only, has no controls on keys others made, and a forged POST is refused', async () => {
    const admin = new HttpAgent(server.base);
    await admin.req('POST', '/api/auth/login', { email: 'ada@example.com', password: PASSWORD });
    const inv = await admin.req('POST', '/api/org/members', { email: 'reader@example.com', role: 'read' });
    const page = await newPerson();
    await page.goto(`${server.base}/signup?invite_token=${inv.body.invite_token}`);
    // finding: the invitation page neither named the organization nor filled in the invited e-mail.
    await page.getByRole('heading', { name: "Join Ada's organization" }).waitFor();
    expect(await page.getByText('as read').count()).toBe(1);
    expect(await page.getByLabel('E-mail address').inputValue()).toBe('reader@example.com');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.goto(`${server.base}/dashboard/keys`);
    expect(await page.getByRole('link', { name: 'billing-service' }).count()).toBe(2);
    expect(await page.getByRole('button', { name: 'Revoke' }).count()).toBe(0);
    // The create form offers only what the role allows.
    expect(await page.locator('input[name=scope]').evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value))).toEqual(['read']);
    await page.getByLabel('Name').fill('reader-notebook');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.getByRole('heading', { name: /Your new key/ }).waitFor();
    const raw = await page.locator('#raw-key').inputValue();
    expect((await fetch(`${server.base}/v1/whoami`, { headers: { authorization: `Bearer ${raw}` } }).then((r) => r.json())).scope).toBe(
      'read',
    );
    // Their own key gets controls; keys others made do not.
    expect(await page.getByRole('button', { name: 'Revoke' }).count()).toBe(1);
    const csrf = await page.locator('input[name=csrf]').first().inputValue();
    const token = await page.locator('input[name=form_token]').first().inputValue();
    const status = await page.evaluate(
      async ([c, t]) => {
        const r = await fetch('/dashboard/keys', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ csrf: c as string, form_token: t as string, name: 'sneaky', scope: 'admin' }),
        });
        return r.status;
      },
      [csrf, token],
    );
    expect(status).toBe(403);
    const forgedRevoke = await page.evaluate(
      async ([c, t]) => {
        const list = (await fetch('/api/developers/keys').then((r) => r.json())) as { keys: { id: string; name: string }[] };
        const theirs = list.keys.find((k) => k.name === 'billing-service');
        const r = await fetch(`/dashboard/keys/${theirs?.id}/revoke`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ csrf: c as string, form_token: t as string }),
        });
        return r.status;
      },
      [csrf, token],
    );
    expect(forgedRevoke).toBe(403);
    await page.goto(`${server.base}/dashboard/members`);
    expect(await page.getByRole('button', { name: 'Remove' }).count()).toBe(0);
  });

  it('finding: dashboard rough edges (revoke-now unconfirmed, no revoke message, unlinked rotations, usr_ ids, unmarked errors, first key)', async () => {
    const page = await newPerson();
    await page.goto(`${server.base}/signup`);
    await page.getByLabel('Name').fill("Dana O'Neil");
    await page.getByLabel('E-mail address').fill('dana@example.com');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    // A new organization is told its first step.
    await page.getByRole('heading', { name: "Dana O'Neil's organization" }).waitFor();
    await page.getByRole('link', { name: 'Create your first key' }).click();

    // An error marks its field and says why beside it.
    await page.getByLabel('Name').fill("Dana's laptop");
    await page.getByLabel('Expires (optional)').fill('2020-01-01');
    await page.getByRole('button', { name: 'Create key' }).click();
    const expires = page.getByLabel('Expires (optional)');
    expect(await expires.getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('#expires_at-error').innerText()).toMatch(/expires_at must be in the future/);
    expect(await page.getByLabel('Name').inputValue()).toBe("Dana's laptop");
    await expires.fill('');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.getByRole('heading', { name: /Your new key “Dana's laptop”/ }).waitFor();
    const first = await page.locator('#raw-key').inputValue();

    // Rotating with "revoke now" asks first; dismissing it changes nothing.
    await page.goto(`${server.base}/dashboard/keys`);
    const row = page.getByRole('row', { name: /Dana's laptop/ });
    await row.getByLabel(/Grace period/).selectOption('0');
    page.once('dialog', (d) => {
      expect(d.message()).toMatch(/revoke the old key now/);
      void d.dismiss();
    });
    await row.getByRole('button', { name: 'Rotate' }).click();
    expect(await whoami(first)).toBe(200);
    await row.getByLabel(/Grace period/).selectOption('3600');
    await row.getByRole('button', { name: 'Rotate' }).click();
    await page.getByRole('heading', { name: /Rotated/ }).waitFor();
    const second = await page.locator('#raw-key').inputValue();
    // The old key and its successor point at each other.
    const last4 = (raw: string) => `kw_test_…${raw.slice(-4)}`;
    expect(await page.getByRole('link', { name: last4(second) }).count()).toBe(1);
    expect(await page.getByRole('link', { name: last4(first) }).count()).toBe(1);

    // A revoke says what it did.
    page.once('dialog', (d) => void d.accept());
    await page
      .getByRole('row', { name: new RegExp(`replaces ${last4(first)}`) })
      .getByRole('button', { name: 'Revoke' })
      .click();
    await page.getByRole('status').filter({ hasText: "Revoked “Dana's laptop”" }).waitFor();
    expect(await whoami(second)).toBe(401);

    // The audit log names people and keys, not usr_/key_ ids.
    await page.goto(`${server.base}/dashboard/audit`);
    const log = await page.locator('main').innerText();
    expect(log).toContain("Dana O'Neil (dana@example.com)");
    expect(log).toContain(`Dana's laptop (${last4(second)})`);
    expect(log).not.toMatch(/usr_/);
  });

  it('finding: at 390 px the key table overflowed the page and the header broke; now every page fits a phone', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    await page.goto(`${server.base}/login`);
    await page.getByLabel('E-mail address').fill('ada@example.com');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/dashboard$/);
    for (const path of [
      '/dashboard',
      '/dashboard/keys',
      '/dashboard/members',
      '/dashboard/audit',
      '/dashboard/webhooks',
      '/login',
      '/signup',
    ]) {
      await page.goto(server.base + path);
      const { page: width, nav } = await page.evaluate(() => ({
        page: document.documentElement.scrollWidth,
        nav: [...document.querySelectorAll('.top nav a')].map((a) => a.getBoundingClientRect().height),
      }));
      expect(width, path).toBeLessThanOrEqual(390);
      // Navigation links stay on one line each (no label broken over two).
      for (const h of nav) expect(h, path).toBeLessThan(40);
    }
    await context.close();
  });

  /** A browser window (a phone's touch screen when `phone`) signed in as the account the agent made over HTTP. */
  async function windowOf(agent: HttpAgent, width: number, height: number, phone = false): Promise<Page> {
    const context = await browser.newContext({ viewport: { width, height }, isMobile: phone, hasTouch: phone });
    const [name = '', value = ''] = agent.cookie.split('=');
    await context.addCookies([{ name, value, url: `${server.base}/` }]);
    return context.newPage();
  }

  /** What spills out sideways: the element's scroll width beyond its box, and buttons cut or outside it. */
  const spill = (page: Page, selector: string) =>
    page.locator(selector).evaluate((wrap) => {
      const box = wrap.getBoundingClientRect();
      const cut = [...wrap.querySelectorAll('button')]
        .filter((b) => {
          const r = b.getBoundingClientRect();
          return r.right > box.right + 1 || r.left < box.left - 1 || b.scrollWidth > b.clientWidth + 1;
        })
        .map((b) => b.textContent);
      return { over: wrap.scrollWidth - wrap.clientWidth, page: document.documentElement.scrollWidth, cut };
    });

  const LONG_NAMES = [
    'payments-reconciliation-agent-eu-west-1-nightly-batch-run-1',
    'Customer support triage bot for the Northwind enterprise pla',
    'northwind_enterprise_billing_agent_eu_west_1_nightly_batch_1',
  ];

  it('finding: at 1280 px a key table of 60-character names ran 1419 px wide in its card and cut Rotate to "R"; now it fits', async () => {
    const agent = await HttpAgent.newAccount(server.base, 'wide-names@example.com');
    const keys = [];
    for (const name of LONG_NAMES) keys.push((await agent.req('POST', '/api/developers/keys', { name })).body.key);
    // a rotation gives two rows their "rotated to" and "replaces" notes
    await agent.req('POST', `/api/developers/keys/${keys[0].id}/rotate`, { grace_period_seconds: 3600 });
    const page = await windowOf(agent, 1280, 900);
    await page.goto(`${server.base}/dashboard/keys`);
    expect(await page.locator('table.keys tbody tr').count()).toBe(4);
    expect(await spill(page, '.table-wrap')).toEqual({ over: 0, page: 1280, cut: [] });
    // every row keeps both of its controls in view
    for (const name of ['Rotate', 'Revoke']) {
      for (const button of await page.getByRole('button', { name }).all()) expect(await button.isVisible()).toBe(true);
    }
    await page.context().close();
  });

  it("finding: an active key's own page had no rotate or revoke; now it has both, with the list's forms", async () => {
    const agent = await HttpAgent.newAccount(server.base, 'key-page@example.com');
    const key = (await agent.req('POST', '/api/developers/keys', { name: 'page-controls' })).body.key;
    const page = await windowOf(agent, 1280, 900);
    await page.goto(`${server.base}/dashboard/keys/${key.id}`);
    // the same one-time form as the list: a CSRF token and a form token of its own
    const rotate = page.locator(`form[action="/dashboard/keys/${key.id}/rotate"]`);
    expect(await rotate.locator('input[name=csrf]').count()).toBe(1);
    expect(await rotate.locator('input[name=form_token]').count()).toBe(1);
    await page.getByLabel(/Grace period/).selectOption('3600');
    await page.getByRole('button', { name: 'Rotate' }).click();
    await page.getByRole('heading', { name: /Rotated/ }).waitFor();
    const successor = await page.locator('#raw-key').inputValue();
    expect([await whoami(key.raw_key), await whoami(successor)]).toEqual([200, 200]);
    // while its successor stands, the old key is rotated through it: no Rotate that would answer 409
    await page.goto(`${server.base}/dashboard/keys/${key.id}`);
    expect(await page.getByRole('button', { name: 'Rotate' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Revoke' }).count()).toBe(1);
    await page.goto(`${server.base}/dashboard/keys`);
    expect(await page.getByRole('button', { name: 'Rotate' }).count()).toBe(1);

    // Revoke the successor from its own page: the old key heads its lineage again and rotates again.
    const listed = (await agent.req('GET', '/api/developers/keys')).body.keys as { id: string; rotated_from: string | null }[];
    const next = listed.find((k) => k.rotated_from === key.id);
    await page.goto(`${server.base}/dashboard/keys/${next?.id}`);
    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('status').filter({ hasText: 'Revoked “page-controls”' }).waitFor();
    expect([await whoami(key.raw_key), await whoami(successor)]).toEqual([200, 401]);
    await page.goto(`${server.base}/dashboard/keys/${key.id}`);
    await page.getByRole('button', { name: 'Rotate' }).click();
    await page.getByRole('heading', { name: /Rotated/ }).waitFor();
    expect(await whoami(await page.locator('#raw-key').inputValue())).toBe(200);
    await page.context().close();
  });

  it('finding: on a phone the navigation was cut at "Webh…", the audit log showed 2 of 5 columns and the chart said "hover"; now all of it reads', async () => {
    const agent = await HttpAgent.newAccount(server.base, 'phone@example.com');
    const key = (await agent.req('POST', '/api/developers/keys', { name: LONG_NAMES[0] })).body.key;
    await whoami(key.raw_key);
    const page = await windowOf(agent, 390, 844, true);
    await page.goto(`${server.base}/dashboard/keys`);
    const links = await page.locator('header nav a').evaluateAll((as) =>
      as.map((a) => {
        const r = a.getBoundingClientRect();
        return { text: a.textContent, inView: r.width > 0 && r.left >= 0 && r.right <= document.documentElement.clientWidth };
      }),
    );
    expect(links.length).toBeGreaterThanOrEqual(5);
    expect(links.filter((l) => !l.inView)).toEqual([]);

    await page.goto(`${server.base}/dashboard/audit`);
    const cells = await page
      .locator('main table tbody tr')
      .first()
      .evaluate((row) =>
        [...(row as HTMLTableRowElement).cells].map((c) => {
          const r = c.getBoundingClientRect();
          return r.width > 0 && r.left >= 0 && r.right <= document.documentElement.clientWidth;
        }),
      );
    expect(cells).toEqual([true, true, true, true, true]);
    // each cell shows which column it is
    const labels = await page
      .locator('main table tbody tr')
      .first()
      .evaluate((row) => [...(row as HTMLTableRowElement).cells].map((c) => getComputedStyle(c, '::before').content));
    expect(labels).toEqual(['"When"', '"What"', '"Who"', '"Key"', '"Details"']);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);

    await page.goto(`${server.base}/dashboard/keys/${key.id}`);
    expect(await page.locator('body').innerText()).not.toMatch(/hover/i);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    // the numbers the bars stand for, readable with a tap
    await page.getByText('Requests per day, in numbers').click();
    expect(await page.locator('details.numbers tbody tr').first().innerText()).toMatch(/\d{4}-\d\d-\d\d\s+1\s+0/);
    await page.context().close();
  });

  it('webhooks: add one (its secret shown once), send a test event, read the delivery log, send again', async () => {
    const received: string[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        received.push(body);
        res.writeHead(received.length === 1 ? 500 : 204).end();
      });
    });
    await new Promise<void>((ok) => receiver.listen(0, '127.0.0.1', ok));
    const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
    const dir = mkdtempSync(join(tmpdir(), 'kw-hooks-ui-'));
    writeFileSync(join(dir, 'cfg.json'), JSON.stringify({ webhooks: { allow_private_targets: true } }));
    const hooked = await new ServerProcess(undefined, {}, ['--config', join(dir, 'cfg.json')]).start();
    try {
      const page = await newPerson();
      await page.goto(`${hooked.base}/signup`);
      await page.getByLabel('E-mail address').fill('hooks-ui@example.com');
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Create account' }).click();
      await page.getByRole('link', { name: 'Webhooks' }).click();
      await page.getByLabel('URL').fill(hookUrl);
      await page.getByLabel('key.leaked').check();
      await page.getByRole('button', { name: 'Add webhook' }).click();
      const secret = await page.locator('#hook-secret').inputValue();
      expect(secret).toMatch(/^whsec_/);
      await page.reload();
      expect(await page.locator('#hook-secret').count()).toBe(0);
      expect(await page.getByRole('row', { name: /key\.leaked/ }).count()).toBe(1);

      // The log shows a try once the dispatcher has recorded it, just after the receiver answered: look again until then.
      const logShows = async (row: RegExp) => {
        for (let i = 0; i < 50; i++) {
          await page.reload();
          if ((await page.getByRole('row', { name: row }).count()) === 1) return true;
          await new Promise((r) => setTimeout(r, 100));
        }
        return false;
      };
      // Each button posts a form and lands on the delivery log: wait for that page before reloading it.
      const press = (name: string) => Promise.all([page.waitForEvent('load'), page.getByRole('button', { name }).click()]);
      await press('Send test event');
      expect(await logShows(/webhook\.test.*pending.*500/)).toBe(true);
      await press('Send again');
      expect(await logShows(/webhook\.test.*delivered.*204/)).toBe(true);
      expect(JSON.parse(received[1] ?? '{}').type).toBe('webhook.test');
    } finally {
      receiver.close();
      await hooked.stop();
    }
  });

  it("agent keys: a key's page shows its tree with each child's use, labels its agent, and revokes a branch", async () => {
    const page = await newPerson();
    await page.goto(`${server.base}/signup`);
    await page.getByLabel('E-mail address').fill('trees@example.com');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByLabel('Name').fill('orchestrator');
    await page.getByLabel(/^write/).check();
    await page.getByLabel('Agent (optional)').fill('planner');
    await page.getByLabel('Credit budget (optional)').fill('500');
    await page.getByRole('button', { name: 'Create key' }).click();
    const parent = await page.locator('#raw-key').inputValue();
    const derive = async (key: string, body: Record<string, unknown>) => {
      const r = await fetch(`${server.base}/v1/keys/derive`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const answer = (await r.json()) as { key?: { raw_key: string } };
      if (!answer.key) throw new Error(`derive: ${r.status} ${JSON.stringify(answer)}`);
      return answer.key.raw_key;
    };
    const researcher = await derive(parent, { scope: 'read', agent: 'researcher', ttl: 600 });
    const fetcher = await derive(researcher, { agent: 'fetcher', ttl: 600 });
    const writer = await derive(parent, { agent: 'writer', ttl: 600 });
    for (let i = 0; i < 3; i++) await whoami(fetcher);

    await page.goto(`${server.base}/dashboard/keys`);
    // The key's own row (its children's rows link to it too, as "derived from").
    await page.locator('tbody td:first-child > a', { hasText: /^orchestrator$/ }).click();
    await page.getByRole('heading', { name: 'Budget' }).waitFor();
    expect(await page.getByText(/of 500 credits left/).count()).toBe(1);
    const rows = page.locator('table.tree tbody tr');
    expect(await rows.count()).toBe(3);
    // Parents before their children, a child under its parent.
    expect(await rows.nth(0).textContent()).toMatch(/researcher/);
    expect(await rows.nth(1).textContent()).toMatch(/fetcher.*3.*active/);
    expect(await rows.nth(1).locator('td.depth-2').count()).toBe(1);

    await page.getByLabel('Issued to agent').fill('planner-v2');
    await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: 'Save' }).click()]);
    expect(await page.getByLabel('Issued to agent').inputValue()).toBe('planner-v2');

    page.once('dialog', (d) => void d.accept());
    await Promise.all([page.waitForEvent('load'), rows.nth(0).getByRole('button', { name: 'Revoke branch' }).click()]);
    expect(page.url()).toMatch(/\/dashboard\/keys\/key_/);
    expect(await rows.nth(0).locator('.badge.revoked').count()).toBe(1);
    expect(await rows.nth(1).locator('.badge.revoked').count()).toBe(1);
    expect([await whoami(researcher), await whoami(fetcher), await whoami(writer), await whoami(parent)]).toEqual([401, 401, 200, 200]);
  });

  it('every page sends a Content-Security-Policy, is usable by keyboard and labels its fields', async () => {
    const page = await newPerson();
    await page.goto(`${server.base}/login`);
    await page.keyboard.press('Tab'); // the brand link
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('email');
    await page.keyboard.type('ada@example.com');
    await page.keyboard.press('Tab');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/dashboard$/);
    for (const path of ['/dashboard', '/dashboard/keys', '/dashboard/members', '/dashboard/audit', '/dashboard/webhooks']) {
      const res = await page.goto(server.base + path);
      expect(res?.headers()['content-security-policy'], path).toMatch(/default-src 'none'/);
      const unlabeled = await page.evaluate(() =>
        [...document.querySelectorAll('input:not([type=hidden]), select')]
          .filter((el) => !(el as HTMLInputElement).labels?.length)
          .map((el) => el.outerHTML.slice(0, 80)),
      );
      expect(unlabeled, path).toEqual([]);
    }
  });
});
