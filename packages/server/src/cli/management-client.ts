import { explainError, explainingFetch } from '@keyward/core';
/** A small client for the key-management API, authenticated with an admin-scoped key as Bearer. */
export class ManagementClient {
  constructor(
    private readonly server: string,
    private readonly key: string,
    private readonly fetchImpl: typeof fetch = explainingFetch(fetch, 'Is the server running? Name it with --server or KEYWARD_SERVER.'),
  ) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.fetchImpl(new URL(path, this.server), {
      method,
      headers: {
        authorization: `Bearer ${this.key}`,
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      throw new Error(`${method} ${path} answered ${response.status} with a body that is not JSON`);
    }
    if (!response.ok) {
      const error = (json as { error?: { code?: string; message?: string } }).error;
      const message = typeof error?.message === 'string' ? explainError({ ...error, message: error.message }) : text;
      throw new Error(`${response.status} ${error?.code ?? 'error'}: ${message}`);
    }
    return json as T;
  }
}
