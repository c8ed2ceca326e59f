import pino, { type Logger } from 'pino';

/**
 * The server's logger. Request lines carry method, path (never the query) and status; headers are not logged at
 * all, and these paths are redacted in case anything passes one in by mistake.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          'headers.authorization',
          'headers.cookie',
          '*.raw_key',
          '*.key',
          'raw_key',
          'key',
        ],
        censor: '[REDACTED]',
      },
    },
    destination,
  );
}
