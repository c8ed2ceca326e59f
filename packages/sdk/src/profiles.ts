import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** What is remembered about a stored key, on disk: never the key itself, only where it is and what it is. */
export interface Profile {
  provider: string;
  server: string;
  environment: string;
  keyId: string | null;
  display: string;
  savedAt: string;
}

interface ProfileFile {
  /** The environment last signed in to, per provider and server: what `whoami` and `token` use by default. */
  defaults: Record<string, string>;
  profiles: Record<string, Profile>;
}

/**
 * The secret-store entry a key lives under.
 *
 * @example
 * ```ts
 * accountFor('keyward', 'https://keys.example.com/', 'live'); // 'keyward:https://keys.example.com:live'
 * ```
 */
export function accountFor(provider: string, server: string, environment: string): string {
  return `${provider}:${new URL(server).origin}:${environment}`;
}

/** `$XDG_CONFIG_HOME/keyward/profiles.json`, mode 0600 in a 0700 folder. */
export class Profiles {
  constructor(readonly path = join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'keyward', 'profiles.json')) {}

  #read(): ProfileFile {
    try {
      return JSON.parse(readFileSync(this.path, 'utf8')) as ProfileFile;
    } catch {
      return { defaults: {}, profiles: {} };
    }
  }

  #write(data: ProfileFile): void {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(data, null, 2), { mode: 0o600 });
    renameSync(tmp, this.path);
  }

  defaultEnvironment(provider: string, server: string): string | undefined {
    return this.#read().defaults[`${provider}:${new URL(server).origin}`];
  }

  get(account: string): Profile | undefined {
    return this.#read().profiles[account];
  }

  save(account: string, profile: Profile): void {
    const data = this.#read();
    data.profiles[account] = profile;
    data.defaults[`${profile.provider}:${new URL(profile.server).origin}`] = profile.environment;
    this.#write(data);
  }

  remove(account: string): void {
    const data = this.#read();
    delete data.profiles[account];
    this.#write(data);
  }
}
