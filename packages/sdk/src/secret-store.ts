import { Entry } from '@napi-rs/keyring';

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
  const entry = (account: string) => new Entry(service, account);
  const wrap = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (error) {
      throw new SecretStoreUnavailableError((error as Error).message.split('\n')[0] ?? 'unknown error');
    }
  };
  return {
    async get(account) {
      return wrap(() => entry(account).getPassword() ?? null);
    },
    async set(account, secret) {
      wrap(() => entry(account).setPassword(secret));
      if (wrap(() => entry(account).getPassword()) !== secret) throw new SecretStoreUnavailableError('the store did not keep the key');
    },
    async delete(account) {
      return wrap(() => entry(account).deleteCredential());
    },
  };
}
