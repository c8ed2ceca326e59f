import { KeywardError, unavailableFailure } from '@keyward/core';

/** Socket errors of a database that is down, restarting or unreachable. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * Whether an error says storage cannot be reached right now, as opposed to a query it refused: a connection that
 * failed or was cut (SQLSTATE class 08, 57P01–57P03 while PostgreSQL shuts down or starts, 53300 too many
 * connections), node-postgres's own connection messages, or a SQLite database locked by another process.
 */
export function isStorageUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code) || /^57P0[123]$/.test(code) || code === '53300') return true;
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') return true;
  }
  return /Connection terminated|timeout exceeded when trying to connect|not queryable|Connection refused/i.test(error.message);
}

/** The answer while storage is away: the one 503 of keys that cannot be checked, with a longer Retry-After. */
export const STORAGE_AWAY = unavailableFailure('Storage is unreachable right now; retry shortly.', 2);

export function storageUnavailable(): KeywardError {
  return new KeywardError(STORAGE_AWAY.code, STORAGE_AWAY.message, STORAGE_AWAY.headers);
}
