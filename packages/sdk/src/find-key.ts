import { accountFor, Profiles } from './profiles.js';
import { keywardProvider, type Provider } from './providers.js';
import { osSecretStore, type SecretStore } from './secret-store.js';

export interface FindKeyOptions {
  /** An explicit key: wins over everything. */
  apiKey?: string;
  provider?: Provider;
  server?: string;
  environment?: string;
  env?: NodeJS.ProcessEnv;
  store?: SecretStore;
  profiles?: Profiles;
}

/**
 * Finds the key to use, in this order: the explicit option, the provider's environment variable
 * (`KEYWARD_API_KEY`, `NVM_API_KEY`), the OS secret store (what `keyward login` saved for this server; with no
 * server named, for the server last signed in to).
 *
 * @example
 * ```ts
 * const found = await findKey({ server: 'https://keys.example.com' });
 * if (!found) throw new Error('run `keyward login` first');
 * ```
 */
export async function findKey(
  o: FindKeyOptions = {},
): Promise<{ key: string; source: 'option' | 'environment' | 'secret store'; account?: string } | null> {
  const provider = o.provider ?? keywardProvider;
  if (o.apiKey) return { key: o.apiKey, source: 'option' };
  const fromEnv = (o.env ?? process.env)[provider.envVar];
  if (fromEnv) return { key: fromEnv, source: 'environment' };
  const profiles = o.profiles ?? new Profiles();
  const server = new URL(o.server ?? profiles.lastServer(provider.name) ?? provider.defaultServer).origin;
  const environment = o.environment ?? profiles.defaultEnvironment(provider.name, server);
  if (!environment) return null;
  const account = accountFor(provider.name, server, environment);
  const key = await (o.store ?? osSecretStore()).get(account);
  return key ? { key, source: 'secret store', account } : null;
}
