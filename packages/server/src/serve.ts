import { createKeyward } from './compose.js';
import { loadConfig, type ServeOptions } from './config/load-config.js';

/**
 * `keyward serve`: loads the config, starts listening, prints the URL, and on SIGTERM/SIGINT stops cleanly, writing
 * every counted request before it exits.
 */
export async function startServer(options: ServeOptions, out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)) {
  const config = loadConfig(options);
  const keyward = await createKeyward(config);
  await keyward.app.listen({ port: config.port, host: config.host });
  const storage = config.databaseUrl ? 'PostgreSQL' : `SQLite (${config.dataDir}/keyward.db)`;
  out(`keyward listening on ${config.publicUrl}  (storage: ${storage}; limits: ${config.redisUrl ? 'Redis' : 'in-process'})`);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    keyward.app.log.info({ signal }, 'shutting down');
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
