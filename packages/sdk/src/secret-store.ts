/** Where keys live between runs: the operating system's secret store. Never a file in the clear. */
export interface SecretStore {
  get(account: string): Promise<string | null>;
  set(account: string, secret: string): Promise<void>;
  delete(account: string): Promise<boolean>;
}

export class SecretStoreUnavailableError extends Error {
  override name = 'SecretStoreUnavailableError';
  constructor(cause: string) {
    super(
      `No OS secret store is available (${cause}), so the key was not stored and nothing was written to disk.\n` +
        'Alternatives:\n' +
        '  - start a Secret Service (e.g. gnome-keyring or KeePassXC) in a D-Bus session and sign in again;\n' +
        '  - keep the key in your own secrets manager and pass it in the environment variable (KEYWARD_API_KEY);\n' +
        '  - on a server or CI, create a key in the dashboard and inject it as a secret.',
    );
  }
}

const SERVICE = 'keyward';

/**
 * The OS secret store through `@napi-rs/keyring`: macOS Keychain, Windows Credential Manager, the Secret Service
 * (GNOME Keyring, KWallet, KeePassXC) over D-Bus on Linux.
 *
 * @example
 * ```ts
 * const store = osSecretStore();
 * await store.set('keyward:http://127.0.0.1:8787:test', key);
 * ```
 */
export function osSecretStore(service = SERVICE): SecretStore {
  const entry = async (account: string) => new (await keyring()).Entry(service, account);
  const wrap = async <T>(fn: () => T | Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof SecretStoreUnavailableError) throw error;
      throw new SecretStoreUnavailableError((error as Error).message.split('\n')[0] ?? 'unknown error');
    }
  };
  return {
    async get(account) {
      return wrap(async () => (await entry(account)).getPassword() ?? null);
    },
    async set(account, secret) {
      await wrap(async () => (await entry(account)).setPassword(secret));
      if ((await wrap(async () => (await entry(account)).getPassword())) !== secret) {
        throw new SecretStoreUnavailableError('the store did not keep the key');
      }
    },
    async delete(account) {
      return wrap(async () => (await entry(account)).deleteCredential());
    },
  };
}

let loaded: Promise<typeof import('@napi-rs/keyring')> | undefined;

/**
 * `@napi-rs/keyring`, loaded the first time a key is read or stored: its native binding is not needed (and may not
 * exist for this platform) by code that passes its key itself, e.g. `createClient({ apiKey })`.
 */
function keyring(): Promise<typeof import('@napi-rs/keyring')> {
  loaded ??= import('@napi-rs/keyring').catch((error: Error) => {
    loaded = undefined;
    throw new SecretStoreUnavailableError(`the secret-store binding @napi-rs/keyring could not be loaded: ${error.message.split('\n')[0]}`);
  });
  return loaded;
}
