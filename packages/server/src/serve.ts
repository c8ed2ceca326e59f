import { join } from 'node:path';
import { createKeyward } from './compose.js';
import type { KeywardConfig } from './config/config.js';
import { DEFAULT_CONFIG_FILE, loadConfig, noteServerUrl, type ServeOptions } from './config/load-config.js';

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

/** Why the server cannot listen, in words that say what to do; anything unexpected as it is. */
export function listenProblem(error: NodeJS.ErrnoException, config: Pick<KeywardConfig, 'host' | 'port'>): Error {
  const where = `${config.host}:${config.port}`;
  if (error.code === 'EADDRINUSE')
    return new Error(
      `port ${config.port} on ${config.host} is in use by another program (another keyward?). Stop it, or start keyward on another port: keyward serve --port ${config.port + 1}`,
    );
  if (error.code === 'EACCES')
    return new Error(
      `this user may not listen on ${where} (ports below 1024 need privileges): start keyward with --port 8787 or another port above 1023`,
    );
  if (error.code === 'EADDRNOTAVAIL')
    return new Error(`${config.host} is not an address of this machine: start keyward with --host 127.0.0.1 or 0.0.0.0`);
  return error;
}

/**
 * `keyward serve`: loads the config, starts listening, prints the URL, and on SIGTERM/SIGINT stops cleanly, writing
 * every counted request before it exits.
 */
export async function startServer(options: ServeOptions, out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)) {
  const config = loadConfig(options);
  const keyward = await createKeyward(config);
  try {
    await keyward.app.listen({ port: config.port, host: config.host });
  } catch (error) {
    await keyward.close().catch(() => {});
    throw listenProblem(error as NodeJS.ErrnoException, config);
  }
  noteServerUrl(config.dataDir, config.publicUrl);
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
