/** The password every test account uses. */
export const PASSWORD = 'correct horse battery 9';

export interface HttpReply {
  status: number;
  body: any;
  headers: Headers;
}

/**
 * One user agent over real HTTP: keeps its `access_token` cookie and sends JSON, like a browser session or NANDA's
 * curl example. Shared by the end-to-end tests of the CLI, the middleware and the examples.
 */
export class HttpAgent {
  cookie = '';
  constructor(public base: string) {}

  static async newAccount(base: string, email: string, extra: Record<string, unknown> = {}): Promise<HttpAgent> {
    const agent = new HttpAgent(base);
    await agent.signup(email, extra);
    return agent;
  }

  async req(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpReply> {
    const res = await fetch(this.base + path, {
      method,
      headers: {
        ...(this.cookie ? { cookie: this.cookie } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const set = res.headers.get('set-cookie');
    if (set?.startsWith('access_token=')) this.cookie = set.split(';')[0] ?? '';
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, body: json, headers: res.headers };
  }

  async signup(email: string, extra: Record<string, unknown> = {}) {
    const r = await this.req('POST', '/api/auth/signup', { email, password: PASSWORD, ...extra });
    if (r.status !== 201) throw new Error(`signup ${email}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  async login(email: string) {
    const r = await this.req('POST', '/api/auth/login', { email, password: PASSWORD });
    if (r.status !== 200) throw new Error(`login ${email}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  /** Creates a key with the session; the answer's key object, raw key included. */
  async createKey(body: Record<string, unknown> = {}): Promise<{ id: string; raw_key: string; [field: string]: unknown }> {
    const r = await this.req('POST', '/api/developers/keys', { name: 'test-key', ...body });
    if (r.status !== 201) throw new Error(`create key: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.key;
  }

  /** Creates a key and returns only its raw value. */
  async newKey(body: Record<string, unknown> = {}): Promise<string> {
    return (await this.createKey(body)).raw_key;
  }
}
