import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

/**
 * Where log lines go when nothing else is said: readable lines (`[12:04:31] INFO: GET /v1/whoami 401 4 ms`) on a terminal, one JSON
 * object a line anywhere else (a file, a pipe, a log collector). `KEYWARD_LOG_FORMAT=json` or `pretty` decides.
 */
export function defaultLogDestination(
  env: NodeJS.ProcessEnv = process.env,
  tty = process.stdout.isTTY === true,
  out: NodeJS.WritableStream | number = 1,
): pino.DestinationStream | undefined {
  const format = env.KEYWARD_LOG_FORMAT ?? (tty ? 'pretty' : 'json');
  if (format !== 'pretty') return undefined;
  return pretty({
    colorize: tty && !env.NO_COLOR,
    translateTime: 'SYS:HH:MM:ss',
    // A request on one line: `12:04:31 INFO: GET /v1/whoami 401 4 ms`; other fields of other lines follow inline.
    messageFormat: (log, messageKey) =>
      log.method && log.status !== undefined ? `${log.method} ${log.path} ${log.status} ${log.ms} ms` : String(log[messageKey] ?? ''),
    ignore: 'pid,hostname,reqId,method,path,status,ms',
    singleLine: true,
    destination: out,
    sync: true,
  });
}

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
    destination ?? defaultLogDestination(),
  );
}
