import type { FastifyInstance, InjectOptions } from 'fastify';
import pino from 'pino';
import { createKeyward, type Keyward, type KeywardOverrides } from '../src/compose.js';
import { defineConfig } from '../src/config/load-config.js';
import type { Clock } from '../src/ids.js';
import { sqliteStore } from '../src/storage/sqlite-store.js';

/** A clock tests move by hand: expiry, grace periods and month ends without sleeping. */
export class TestClock implements Clock {
  constructor(public t = Date.UTC(2026, 10, 23, 12, 0, 0)) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface Harness {
  keyward: Keyward;
  app: FastifyInstance;
  clock: TestClock;
  logs: string[];
  close(): Promise<void>;
}

/**
 * Throttle counts of this test file's keywards in Redis: shared by its instances, apart from every other run's (a
 * shared Redis outlives a run, and in-process clients all come from 127.0.0.1).
 */
const THROTTLE_PREFIX = `kwtest:${process.pid}:${Date.now()}:throttle:`;

/** A whole keyward, in process, on an in-memory SQLite database, with a test clock and captured logs. */
export async function startHarness(
  configFile: unknown = { default_plan: 'free' },
  overrides: KeywardOverrides = {},
  runtime: { databaseUrl?: string; redisUrl?: string } = {},
): Promise<Harness> {
  const clock = new TestClock();
  const logs: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(line) });
  const config = defineConfig(configFile, {
    host: '127.0.0.1',
    port: 8787,
    dataDir: '/nonexistent',
    databaseUrl: null,
    redisUrl: null,
    secret: 'test-secret-test-secret-test-secret',
    ...runtime,
  });
  // With a database URL the store (and the PostgreSQL invalidation bus) come from the config, as in production.
  const store = runtime.databaseUrl ? {} : { store: sqliteStore(':memory:') };
  const keyward = await createKeyward(config, { clock, logger, throttlePrefix: THROTTLE_PREFIX, ...store, ...overrides });
  return { keyward, app: keyward.app, clock, logs, close: () => keyward.close() };
}

export interface Reply {
  status: number;
  body: any;
  headers: Record<string, string | string[] | number | undefined>;
}

/** One browser-like user agent: keeps its session cookie, sends JSON. */
export class Agent {
  cookie: string | null = null;
  constructor(private readonly app: FastifyInstance) {}

  async req(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
    const options: InjectOptions = {
      method: method as InjectOptions['method'],
      url,
      headers: {
        ...(this.cookie ? { cookie: this.cookie } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body !== undefined ? { payload: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      remoteAddress: headers['x-test-remote'] ?? '127.0.0.1',
    };
    const res = await this.app.inject(options);
    const setCookie = res.headers['set-cookie'];
    const first = Array.isArray(setCookie) ? setCookie[0] : setCookie;
    if (first?.startsWith('access_token=')) {
      const value = first.split(';')[0] ?? '';
      this.cookie = value === 'access_token=' ? null : value;
    }
    let parsed: unknown;
    try {
      parsed = res.body ? JSON.parse(res.body) : undefined;
    } catch {
      parsed = res.body;
    }
    return { status: res.statusCode, body: parsed, headers: res.headers };
  }

  async signup(email: string, extra: Record<string, unknown> = {}) {
    const r = await this.req('POST', '/api/auth/signup', { email, password: 'correct horse battery 9', ...extra });
    if (r.status !== 201) throw new Error(`signup ${email}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  async createKey(body: Record<string, unknown> = {}) {
    const r = await this.req('POST', '/api/developers/keys', { name: 'test-key', ...body });
    if (r.status !== 201) throw new Error(`create key: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.key as { id: string; raw_key: string; [k: string]: unknown };
  }
}

export const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
