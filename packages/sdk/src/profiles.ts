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
  /** The server last signed in to, per provider (like `gh`'s default host): used when no server is named. */
  servers?: Record<string, string>;
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

  /**
   * The environment to use on a server when none is named: the one last signed in to there, else the most recent
   * key still stored for that server (so logging out of one environment falls back to another).
   */
  defaultEnvironment(provider: string, server: string): string | undefined {
    const data = this.#read();
    const origin = new URL(server).origin;
    const chosen = data.defaults[`${provider}:${origin}`];
    if (chosen && data.profiles[accountFor(provider, origin, chosen)]) return chosen;
    return newest(Object.values(data.profiles).filter((p) => p.provider === provider && p.server === origin))?.environment ?? chosen;
  }

  /** The server to use when none is named: the last one signed in to, else the one of the only (or newest) stored key. */
  lastServer(provider: string): string | undefined {
    const data = this.#read();
    const mine = Object.values(data.profiles).filter((p) => p.provider === provider);
    const last = data.servers?.[provider];
    if (last && mine.some((p) => p.server === last)) return last;
    return newest(mine)?.server ?? last;
  }

  get(account: string): Profile | undefined {
    return this.#read().profiles[account];
  }

  save(account: string, profile: Profile): void {
    const data = this.#read();
    data.profiles[account] = profile;
    data.defaults[`${profile.provider}:${new URL(profile.server).origin}`] = profile.environment;
    data.servers = { ...data.servers, [profile.provider]: new URL(profile.server).origin };
    this.#write(data);
  }

  remove(account: string): void {
    const data = this.#read();
    delete data.profiles[account];
    this.#write(data);
  }
}

function newest(profiles: Profile[]): Profile | undefined {
  return profiles.sort((a, b) => b.savedAt.localeCompare(a.savedAt))[0];
}
