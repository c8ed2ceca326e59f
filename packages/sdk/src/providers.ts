/** How one provider's sign-in works: where to send the person, what comes back, how to check the key. */
export interface Provider {
  name: 'keyward' | 'nevermined';
  /** The environment variable agents read the key from. */
  envVar: string;
  defaultServer: string;
  /** `code`: loopback + PKCE code exchange. `direct`: the key arrives in the callback (`param`). */
  callback: { kind: 'code' } | { kind: 'direct'; param: string };
  /** The key prefix expected for an environment, when the provider fixes it. */
  prefixFor(environment: string): string | null;
  /** The authenticated GET that proves a key works. */
  verifyUrl(server: string, environment: string, apiBase?: string): string;
}

export const keywardProvider: Provider = {
  name: 'keyward',
  envVar: 'KEYWARD_API_KEY',
  defaultServer: 'http://127.0.0.1:8787',
  callback: { kind: 'code' },
  prefixFor: () => null,
  verifyUrl: (server) => new URL('/v1/whoami', server).toString(),
};

/** Nevermined's flow as its document describes it: `?nvm_api_key=` on the callback, `sandbox:` / `live:` keys. */
export const neverminedProvider: Provider = {
  name: 'nevermined',
  envVar: 'NVM_API_KEY',
  defaultServer: 'https://nevermined.app',
  callback: { kind: 'direct', param: 'nvm_api_key' },
  prefixFor: (environment) => `${environment}:`,
  verifyUrl: (_server, environment, apiBase) =>
    new URL('/payment-methods', apiBase ?? `https://api.${environment}.nevermined.app`).toString(),
};

/**
 * A provider preset by name (`keyward`, `nevermined`).
 *
 * @example
 * ```ts
 * await login({ provider: providerNamed('nevermined'), environment: 'sandbox' });
 * ```
 */
export function providerNamed(name: string | undefined): Provider {
  if (!name || name === 'keyward') return keywardProvider;
  if (name === 'nevermined') return neverminedProvider;
  throw new Error(`unknown provider ${name} (keyward or nevermined)`);
}
