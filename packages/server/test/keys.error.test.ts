import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, bearer, type Harness, startHarness } from './harness.js';

let h: Harness;
let a: Agent;
let raw: string;
beforeAll(async () => {
  h = await startHarness();
  a = new Agent(h.app);
  await a.signup('errors@example.com');
  raw = (await a.createKey({ name: 'ok' })).raw_key;
});
afterAll(() => h.close());

/** Every answer below must be a 4xx in the envelope, never a 500, with a message that says what is wrong. */
function expectEnvelope(r: { status: number; body: any }, status: number, code: string, message?: RegExp) {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(r.body.error.code).toBe(code);
  expect(r.body.error.request_id).toMatch(/^req_/);
  if (message) expect(r.body.error.message).toMatch(message);
}

describe('bad input gets a clear 4xx in the envelope', () => {
  it('malformed JSON, a non-object body, an empty body', async () => {
    expectEnvelope(await a.req('POST', '/api/developers/keys', '{"name": '), 400, 'invalid_request', /not valid JSON/);
    expectEnvelope(await a.req('POST', '/api/developers/keys', '[]'), 400, 'invalid_request', /object/);
    expectEnvelope(await a.req('POST', '/api/developers/keys', '', { 'content-type': 'application/json' }), 400, 'invalid_request');
  });

  it('finding: messages used internal names (`ip_allowlist.0: …`, `Invalid option: expected one of "read"|…`, `password: password …`); now sentences in a person’s words', async () => {
    const scope = await a.req('POST', '/api/developers/keys', { name: 'x', scope: 'superuser' });
    expect(scope.body.error.message).toBe('scope must be one of read, agentic, write or admin.');
    const ip = await a.req('POST', '/api/developers/keys', { name: 'x', ip_allowlist: ['10.0.0.0/8', 'not-an-ip'] });
    expect(ip.body.error.message).toBe('Entry 2 of ip_allowlist must be an IPv4 or IPv6 address or CIDR, e.g. 10.0.0.0/8.');
    const password = await new Agent(h.app).req('POST', '/api/auth/signup', { email: 'short@example.com', password: 'abc' });
    expect(password.status).toBe(400);
    expect(password.body.error.message).toBe('password must be at least 8 characters long.');
  });

  it('wrong types, unknown fields and values out of range name the field', async () => {
    expectEnvelope(await a.req('POST', '/api/developers/keys', { name: 12345 }), 400, 'invalid_request', /name must be string/);
    expectEnvelope(
      await a.req('POST', '/api/developers/keys', { name: 'x', colour: 'red' }),
      400,
      'invalid_request',
      /unknown field: colour/,
    );
    expectEnvelope(await a.req('POST', '/api/developers/keys', { name: 'x', scope: 'root' }), 400, 'invalid_request', /scope/);
    expectEnvelope(
      await a.req('POST', '/api/developers/keys', { name: 'x', environment: 'prod' }),
      400,
      'invalid_request',
      /environment must be one of: test, live/,
    );
    expectEnvelope(
      await a.req('POST', '/api/developers/keys', { name: 'x', tier: 'platinum' }),
      400,
      'invalid_request',
      /tier must be one of/,
    );
    expectEnvelope(
      await a.req('POST', '/api/developers/keys', { name: 'x', expires_at: 'yesterday' }),
      400,
      'invalid_request',
      /expires_at/,
    );
    expectEnvelope(
      await a.req('POST', '/api/developers/keys', { name: 'x', expires_at: '2020-01-01T00:00:00Z' }),
      400,
      'invalid_request',
      /future/,
    );
    expectEnvelope(
      await a.req('POST', '/api/developers/keys', { name: 'x', ip_allowlist: ['999.1.1.1/33'] }),
      400,
      'invalid_request',
      /^Entry 1 of ip_allowlist must be an IPv4 or IPv6 address/,
    );
    expectEnvelope(await a.req('POST', '/api/developers/keys', { name: '' }), 400, 'invalid_request', /name/);
    expectEnvelope(
      await a.req('POST', '/api/developers/keys/key_aaaaaaaaaaaaaaaaaaaaaa/rotate', { grace_period_seconds: -1 }),
      400,
      'invalid_request',
      /grace_period_seconds/,
    );
  });

  it('SQL-looking input is stored verbatim as a name and harmless as an id', async () => {
    const sql = "x'; DROP TABLE api_keys; --";
    const made = await a.req('POST', '/api/developers/keys', { name: sql });
    expect(made.status).toBe(201);
    expect(made.body.key.name).toBe(sql);
    expectEnvelope(await a.req('GET', "/api/developers/keys/'%20OR%201=1--"), 404, 'not_found');
    const names = (await a.req('GET', '/api/developers/keys')).body.keys.map((k: { name: string }) => k.name);
    expect(names).toContain(sql);
    expect(names).toHaveLength(2);
    await a.req('DELETE', `/api/developers/keys/${made.body.key.id}`);
  });

  it('finding: key names refused apostrophes ("Dana\'s laptop"); now free text, and only what is not text is refused', async () => {
    for (const name of ["Dana's laptop", 'CI "nightly"; build \\ `sh`', 'Zoë 👩‍💻 ключ']) {
      const made = await a.req('POST', '/api/developers/keys', { name });
      expect(made.status).toBe(201);
      expect(made.body.key.name).toBe(name);
      await a.req('DELETE', `/api/developers/keys/${made.body.key.id}`);
    }
    for (const name of ['tab\there', 'bell\u0007', 'evil\u202egnp.exe', 'x'.repeat(101)]) {
      expectEnvelope(await a.req('POST', '/api/developers/keys', { name }), 400, 'invalid_request', /name/);
    }
  });

  it('finding: `keys list --environment prod` said "No keys yet."; an unknown environment is a 400 naming those there are', async () => {
    expectEnvelope(
      await a.req('GET', '/api/developers/keys?environment=prod'),
      400,
      'invalid_request',
      /no environment "prod"; this server has test, live/,
    );
  });

  it('finding: `--expires-at 2031-01-01` was refused; a plain date is accepted and means 00:00 UTC that day', async () => {
    const made = await a.req('POST', '/api/developers/keys', { name: 'plain date', expires_at: '2031-01-01' });
    expect(made.status).toBe(201);
    expect(made.body.key.expires_at).toBe('2031-01-01T00:00:00.000Z');
    await a.req('DELETE', `/api/developers/keys/${made.body.key.id}`);
    expectEnvelope(
      await a.req('POST', '/api/developers/keys', { name: 'x', expires_at: '2031-13-45' }),
      400,
      'invalid_request',
      /expires_at must be a date/,
    );
  });

  it('a body over the limit gets 413, and the server keeps serving', async () => {
    expectEnvelope(await a.req('POST', '/api/developers/keys', `{"name":"${'a'.repeat(1024 * 1024)}"}`), 413, 'payload_too_large');
    expect((await a.req('GET', '/v1/whoami', undefined, bearer(raw))).status).toBe(200);
  });

  it('a body that is not JSON gets 415', async () => {
    expectEnvelope(
      await a.req('POST', '/api/developers/keys', 'name=x', { 'content-type': 'application/x-www-form-urlencoded' }),
      415,
      'unsupported_media_type',
    );
  });

  it('keys with a bad checksum, an empty Bearer, another scheme or 8,000 characters are 401 with WWW-Authenticate', async () => {
    const flipped = raw.slice(0, -1) + (raw.endsWith('A') ? 'B' : 'A');
    const cases: [string, string][] = [
      [`Bearer ${flipped}`, 'bad_checksum'],
      ['Bearer ', 'missing'],
      ['Basic Zm9vOmJhcg==', 'missing'],
      [`Bearer ${'x'.repeat(8000)}`, 'malformed'],
    ];
    for (const [header, reason] of cases) {
      const r = await a.req('GET', '/v1/whoami', undefined, { authorization: header });
      expectEnvelope(r, 401, 'unauthorized', /^No valid API key provided\.$/);
      expect(r.body.error.reason, header).toBe(reason);
      expect(r.headers['www-authenticate']).toMatch(/^Bearer/);
    }
  });

  it('the verify endpoint validates its body and answers NOT_FOUND for keys that cannot exist', async () => {
    expectEnvelope(await a.req('POST', '/v1/keys/verify', { key: 123 }), 400, 'invalid_request', /key must be string/);
    expectEnvelope(await a.req('POST', '/v1/keys/verify', '\xff\xfe\x00'), 400, 'invalid_request');
    expect((await a.req('POST', '/v1/keys/verify', { key: 'kw_test_nope' })).body).toMatchObject({
      valid: false,
      code: 'NOT_FOUND',
      reason: 'malformed',
    });
  });

  it('unknown routes and wrong methods are 404 in the envelope', async () => {
    expectEnvelope(await a.req('GET', '/api/nothing-here'), 404, 'not_found');
    expectEnvelope(await a.req('PUT', '/api/developers/keys'), 404, 'not_found');
  });

  it('accounts: bad e-mail, short password, duplicate sign-up, wrong password', async () => {
    const b = new Agent(h.app);
    expectEnvelope(await b.req('POST', '/api/auth/signup', { email: 'not-an-email', password: 'x' }), 400, 'invalid_request', /email/);
    expectEnvelope(
      await b.req('POST', '/api/auth/signup', { email: 'new@example.com', password: 'short' }),
      400,
      'invalid_request',
      /8 characters/,
    );
    expectEnvelope(await b.req('POST', '/api/auth/signup', { email: 'ERRORS@example.com', password: 'long enough 123' }), 409, 'conflict');
    expectEnvelope(
      await b.req('POST', '/api/auth/login', { email: 'errors@example.com', password: 'wrong password' }),
      401,
      'unauthorized',
      /Incorrect/,
    );
    expectEnvelope(
      await b.req('POST', '/api/auth/login', { email: 'nobody@example.com', password: 'x' }),
      401,
      'unauthorized',
      /Incorrect/,
    );
  });

  it('management calls without a session or key are 401', async () => {
    expectEnvelope(await new Agent(h.app).req('GET', '/api/developers/keys'), 401, 'unauthorized');
    expectEnvelope(await new Agent(h.app).req('GET', '/api/me'), 401, 'unauthorized');
  });

  it('an anonymous call is refused as such before its body is judged: 401, not a 400 that reviews the body', async () => {
    expectEnvelope(await new Agent(h.app).req('POST', '/api/developers/keys', { colour: 'red' }), 401, 'unauthorized');
  });

  it('query parameters are validated like bodies: a bad limit, a bad date or a parameter sent twice is a 400 naming it', async () => {
    expectEnvelope(await a.req('GET', '/api/audit?limit=0'), 400, 'invalid_request', /^limit must be at least 1\.$/);
    expectEnvelope(await a.req('GET', '/api/audit?limit=many'), 400, 'invalid_request', /^limit/);
    expectEnvelope(await a.req('GET', '/api/audit?before=last-week'), 400, 'invalid_request', /^before must be a date .*ISO 8601/);
    expectEnvelope(
      await a.req('GET', '/api/developers/keys?environment=test&environment=live'),
      400,
      'invalid_request',
      /environment is given more than once/,
    );
    expect((await a.req('GET', '/api/audit?limit=2')).body.events.length).toBeLessThanOrEqual(2);
  });

  it("the OAuth endpoints answer an invalid body in OAuth's shape, naming the field", async () => {
    const r = await new Agent(h.app).req('POST', '/api/device/code', { scope: 'admin', colour: 'red' });
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ error: 'invalid_request', error_description: 'unknown field: colour' });
    const t = await new Agent(h.app).req('POST', '/api/cli/token', { code: 42 });
    expect(t.body).toEqual({ error: 'invalid_request', error_description: 'code must be string.' });
  });
});
