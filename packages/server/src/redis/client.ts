import { Redis } from 'ioredis';

/**
 * A Redis connection for the hot path: commands fail at once while disconnected instead of queueing (so an outage
 * is answered by the configured fail mode, not by hanging requests), and it keeps reconnecting in the background.
 * Resolves once connected, or after `waitMs` if Redis is not there yet (the fail mode then applies until it is).
 */
export async function connectRedis(url: string, waitMs = 3000): Promise<Redis> {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    commandTimeout: 1000,
    retryStrategy: (times) => Math.min(times * 100, 1000),
  });
  redis.on('error', () => {});
  if (redis.status !== 'ready') {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, waitMs);
      redis.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  return redis;
}
