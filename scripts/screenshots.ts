/**
 * Takes the README's screenshots: every page of the dashboard and of agent sign-in at 1280×800 (`NN-page.png`) and
 * at 390×844, a phone (`NN-page-390.png`, the whole page), in Debian's Chromium, against a keyward with sample
 * data. Run: npm run screenshots
 */
import { mkdtempSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { chromium } from 'playwright-core';
import { createKeyward, defineConfig } from '../packages/server/src/index.js';

const OUT = resolve(import.meta.dirname, '../docs/screenshots');
/** A free port, known before the config is made: the pages' forms are accepted only from `public_url`'s origin. */
const port = await new Promise<number>((ok) => {
  const probe = createServer().listen(0, '127.0.0.1', () => {
    const { port } = probe.address() as AddressInfo;
    probe.close(() => ok(port));
  });
});
const config = defineConfig(
  {
    public_url: `http://127.0.0.1:${port}`,
    environments: [
      { name: 'test', prefix: 'kw_test_', base_url: 'https://api.sandbox.example.com' },
      { name: 'live', prefix: 'kw_live_', base_url: 'https://api.example.com' },
    ],
    default_plan: 'pro',
  },
  {
    host: '127.0.0.1',
    port,
    dataDir: mkdtempSync(join(tmpdir(), 'kw-shots-')),
    databaseUrl: null,
    redisUrl: null,
    secret: 'screenshots-secret-0123456789',
  },
);
const keyward = await createKeyward(config, { logger: pino({ level: 'silent' }) });
await keyward.app.listen({ port, host: '127.0.0.1' });
const base = `http://127.0.0.1:${port}`;

const api = async (cookie: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
  const r = await fetch(base + path, {
    method,
    headers: { cookie, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { cookie: (r.headers.get('set-cookie') ?? '').split(';')[0] ?? '', body: (await r.json()) as any };
};
const owner = await api('', 'POST', '/api/auth/signup', { email: 'ada@acme.example', password: 'correct horse battery 9', name: 'Ada' });
const c = owner.cookie;
const agent = await api(c, 'POST', '/api/developers/keys', { name: 'production-agent', scope: 'agentic' });
await api(c, 'POST', '/api/developers/keys', { name: 'ci-pipeline', scope: 'write', ip_allowlist: ['10.0.0.0/8'] });
await api(c, 'POST', '/api/developers/keys', { name: 'analytics', scope: 'read', expires_at: '2027-06-30T00:00:00Z' });
const old = await api(c, 'POST', '/api/developers/keys', { name: 'billing-service', scope: 'write' });
await api(c, 'POST', `/api/developers/keys/${old.body.key.id}/rotate`, { grace_period_seconds: 86400 });
await api(c, 'POST', '/api/developers/keys', { name: 'live-agent', scope: 'agentic', environment: 'live' });
const gone = await api(c, 'POST', '/api/developers/keys', { name: 'old-laptop', scope: 'write' });
await api(c, 'DELETE', `/api/developers/keys/${gone.body.key.id}`);
for (let i = 0; i < 40; i++) await fetch(`${base}/v1/whoami`, { headers: { authorization: `Bearer ${agent.body.key.raw_key}` } });
await fetch(`${base}/v1/keys/verify`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ key: agent.body.key.raw_key, scope: 'admin' }),
});
const graceInvite = await api(c, 'POST', '/api/org/members', { email: 'grace@acme.example', role: 'write' });
const newcomer = await api('', 'POST', '/api/auth/signup', {
  email: 'dana@example.com',
  password: 'correct horse battery 9',
  name: "Dana O'Neil",
});
const inv = await api(c, 'POST', '/api/org/members', { email: 'linus@acme.example', role: 'read' });
await api('', 'POST', '/api/auth/signup', {
  email: 'linus@acme.example',
  password: 'correct horse battery 9',
  invite_token: inv.body.invite_token,
});
await keyward.recorder.flush();

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
/** The page as it is at 1280 px, then at 390 px (a phone; the whole page), then back to 1280 for what follows. */
const shoot = async (page: import('playwright-core').Page, name: string) => {
  await page.screenshot({ path: join(OUT, `${name}.png`) });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(OUT, `${name}-390.png`), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
};
try {
  const anon = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await anon.goto(`${base}/login`);
  await shoot(anon, '01-sign-in');

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.addCookies([{ name: 'access_token', value: c.split('=')[1] ?? '', url: base }]);
  const page = await context.newPage();
  await page.goto(`${base}/dashboard`);
  await shoot(page, '02-overview');
  await page.goto(`${base}/dashboard/keys`);
  await shoot(page, '03-api-keys');
  await page.getByLabel('Name').fill('support-bot');
  await page.getByRole('button', { name: 'Create key' }).click();
  await page
    .getByRole('heading', { name: /Your new key/ })
    .waitFor({ timeout: 5000 })
    .catch(async (e) => {
      console.error(await page.locator('main').innerText());
      throw e;
    });
  await shoot(page, '04-key-created-once');
  await page.goto(`${base}/dashboard/keys/${agent.body.key.id}`);
  await shoot(page, '05-key-detail');
  await page.goto(`${base}/dashboard/members`);
  await shoot(page, '06-members');
  await page.goto(`${base}/dashboard/audit`);
  await shoot(page, '07-audit-log');
  await page.goto(
    `${base}/auth/cli?callback_url=${encodeURIComponent('http://127.0.0.1:53127/callback')}&state=abcdefghijklmnop&code_challenge=${'x'.repeat(43)}&code_challenge_method=S256&environment=live&name=billing-agent&scope=agentic&client_id=keyward-cli`,
  );
  await shoot(page, '08-agent-consent');
  const device = await api('', 'POST', '/api/device/code', { name: 'ci-robot', client_id: 'ci-robot' });
  await page.goto(`${base}/device`);
  await shoot(page, '09-device-code');
  await page.goto(`${base}/device?user_code=${device.body.user_code}`);
  await shoot(page, '10-device-consent');
  const invited = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await invited.goto(`${base}/signup?invite_token=${encodeURIComponent(graceInvite.body.invite_token)}`);
  await shoot(invited, '11-invitation');
  const fresh = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await fresh.addCookies([{ name: 'access_token', value: newcomer.cookie.split('=')[1] ?? '', url: base }]);
  const first = await fresh.newPage();
  await first.goto(`${base}/dashboard`);
  await shoot(first, '12-first-key');
  console.log(`screenshots written to ${OUT}`);
} finally {
  await browser.close();
  await keyward.close();
}
