/** Where keys live between runs: the operating system's secret store. Never a file in the clear. */
export interface SecretStore {
  get(account: string): Promise<string | null>;
  set(account: string, secret: string): Promise<void>;
  delete(account: string): Promise<boolean>;
  /**
   * Throws {@link SecretStoreUnavailableError} when nothing could be kept: asked before a sign-in mints a key, so
   * that a machine without a store learns it before anyone opens a browser.
   */
  probe?(): Promise<void>;
}

export class SecretStoreUnavailableError extends Error {
  override name = 'SecretStoreUnavailableError';
  constructor(cause: string) {
    super(
      `No OS secret store is available here (${cause}), so keyward cannot keep a key on this machine and made none.\n` +
        'What works instead:\n' +
        '  - keyward login --stdout | <your secrets manager>: the key is handed once to the pipe, never stored or shown;\n' +
        '  - keyward login --device on a machine that has a secret store (approve with the code shown there);\n' +
        '  - create a key in the dashboard and pass it in the environment: KEYWARD_API_KEY=… keyward whoami;\n' +
        '  - or start a Secret Service (gnome-keyring or KeePassXC) in a D-Bus session and sign in again.',
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
    async probe() {
      // A throwaway entry written, read back and removed: a store that is locked, absent or refusing says so here.
      const probe = `${service}:probe:${process.pid}`;
      await wrap(async () => (await entry(probe)).setPassword('probe'));
      const read = await wrap(async () => (await entry(probe)).getPassword());
      await wrap(async () => (await entry(probe)).deleteCredential()).catch(() => {});
      if (read !== 'probe') throw new SecretStoreUnavailableError('the store did not keep a test entry');
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
