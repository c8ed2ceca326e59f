import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sqliteStore } from '../src/storage/sqlite-store.js';
import { Agent, bearer, type Harness, startHarness } from './harness.js';

let h: Harness;
let owner: Agent;
beforeEach(async () => {
  h = await startHarness();
  owner = new Agent(h.app);
  await owner.signup('owner@example.com', { name: 'Ada' });
});
afterEach(() => h.close());

const whoami = (key: string) => owner.req('GET', '/v1/whoami', undefined, bearer(key));

describe('keys that expire when idle', () => {
  it('a key used within its idle timeout keeps working; left idle that long it answers 401 idle_expired for good', async () => {
    const key = await owner.createKey({ name: 'idle', scope: 'read', idle_timeout_seconds: 60 });
    expect(key.idle_timeout_seconds).toBe(60);
    h.clock.advance(50_000);
    expect((await whoami(key.raw_key)).status).toBe(200);
    h.clock.advance(50_000); // 100 s after creation, 50 s after its last use
    expect((await whoami(key.raw_key)).status).toBe(200);
    h.clock.advance(61_000);
    const idle = await whoami(key.raw_key);
    expect(idle.status).toBe(401);
    expect(idle.body.error).toMatchObject({ message: 'No valid API key provided.', reason: 'idle_expired' });
    h.clock.advance(1_000);
    expect((await whoami(key.raw_key)).body.error.reason).toBe('idle_expired');
    const shown = await owner.req('GET', `/api/developers/keys/${key.id}`);
    expect(shown.body.key.status).toBe('expired');
  });

  it('idleness is counted on every instance: one that has not seen the key used learns of the use from the flush', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kw-idle-'));
    const one = await startHarness({ default_plan: 'free' }, { store: sqliteStore(join(dir, 'keyward.db')) });
    const two = await startHarness({ default_plan: 'free' }, { store: sqliteStore(join(dir, 'keyward.db')) });
    try {
      two.clock.t = one.clock.t;
      const person = new Agent(one.app);
      await person.signup('idle@example.com');
      const key = await person.createKey({ name: 'idle', scope: 'read', idle_timeout_seconds: 60 });
      const onTwo = () => new Agent(two.app).req('GET', '/v1/whoami', undefined, bearer(key.raw_key));
      expect((await onTwo()).status).toBe(200); // instance two caches the key, never used yet
      for (const c of [one.clock, two.clock]) c.advance(50_000);
      expect((await person.req('GET', '/v1/whoami', undefined, bearer(key.raw_key))).status).toBe(200);
      await one.keyward.recorder.flush();
      for (const c of [one.clock, two.clock]) c.advance(20_000); // 70 s after creation, 20 s after the use on one
      expect((await onTwo()).status).toBe(200);
      for (const c of [one.clock, two.clock]) c.advance(61_000);
      expect((await onTwo()).body.error?.reason).toBe('idle_expired');
    } finally {
      await one.close();
      await two.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a derived key takes an idle timeout, at most its parent’s, and inherits the parent’s when it asks none', async () => {
    const parent = await owner.createKey({ name: 'parent', scope: 'write', idle_timeout_seconds: 120 });
    const asked = await owner.req('POST', '/v1/keys/derive', { scope: 'read', ttl: 600, idle_timeout_seconds: 30 }, bearer(parent.raw_key));
    expect(asked.status).toBe(201);
    expect(asked.body.key.idle_timeout_seconds).toBe(30);
    const inherited = await owner.req('POST', '/v1/keys/derive', { scope: 'read', ttl: 600 }, bearer(parent.raw_key));
    expect(inherited.body.key.idle_timeout_seconds).toBe(120);
    const wider = await owner.req('POST', '/v1/keys/derive', { ttl: 600, idle_timeout_seconds: 500 }, bearer(parent.raw_key));
    expect(wider.status).toBe(403);
    h.clock.advance(31_000);
    expect((await whoami(asked.body.key.raw_key)).body.error?.reason).toBe('idle_expired');
  });

  it('refuses an idle timeout that is not a whole number of seconds', async () => {
    const r = await owner.req('POST', '/api/developers/keys', { name: 'bad', idle_timeout_seconds: 0.5 });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_request');
  });

  it("the key's page shows its idle timeout", async () => {
    const key = await owner.createKey({ name: 'idle', idle_timeout_seconds: 90 });
    const page = await owner.req('GET', `/dashboard/keys/${key.id}`, undefined, { accept: 'text/html' });
    expect(page.body).toContain('Idle timeout');
    expect(page.body).toContain('90 s unused');
  });
});
