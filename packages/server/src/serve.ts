import { join } from 'node:path';
import { createKeyward } from './compose.js';
import type { KeywardConfig } from './config/config.js';
import { DEFAULT_CONFIG_FILE, loadConfig, type ServeOptions } from './config/load-config.js';

const SHUTDOWN_DEADLINE_MS = 10_000;

/** A URL as it may be printed: its password (and a Redis URL's token) replaced by `***`. */
export function withoutPassword(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

/** What the server runs with, in one line: where it listens, which config file, which database, which Redis. */
export function startupLine(config: KeywardConfig): string {
  const database = config.databaseUrl
    ? `PostgreSQL ${withoutPassword(config.databaseUrl)}`
    : `SQLite ${join(config.dataDir, 'keyward.db')}`;
  const config_ = config.configFile ?? `none (defaults; ${DEFAULT_CONFIG_FILE} is read when present)`;
  const redis = config.redisUrl ? withoutPassword(config.redisUrl) : 'none (limits in process)';
  return `keyward listening on ${config.publicUrl}  config: ${config_}  database: ${database}  redis: ${redis}`;
}

/**
 * `keyward serve`: loads the config, starts listening, prints the URL, and on SIGTERM/SIGINT stops cleanly, writing
 * every counted request before it exits.
 */
export async function startServer(options: ServeOptions, out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)) {
  const config = loadConfig(options);
  const keyward = await createKeyward(config);
  await keyward.app.listen({ port: config.port, host: config.host });
  out(startupLine(config));
  if (keyward.retired) out(keyward.retired);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    keyward.app.log.info({ signal }, 'shutting down');
    // Stop accepting, finish what is in flight, write counted usage, exit: within 10 s whatever hangs.
    setTimeout(() => {
      keyward.app.log.error('shutdown took more than 10 s; exiting with what was written');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    try {
      await keyward.close();
      process.exit(0);
    } catch (error) {
      keyward.app.log.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  return keyward;
}
