import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, defaultLogDestination } from './logger.js';

function captured() {
  const lines: string[] = [];
  const out = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, out };
}

describe('the server log', () => {
  it('finding: `keyward serve` on a terminal printed raw JSON; now one readable line a request, JSON anywhere else', () => {
    const { lines, out } = captured();
    const log = createLogger('info', defaultLogDestination({ NO_COLOR: '1' }, true, out));
    log.info({ reqId: 'req_1', method: 'GET', path: '/v1/whoami', status: 401, ms: 4 }, 'request');
    log.info({ signal: 'SIGINT' }, 'shutting down');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\] INFO: GET \/v1\/whoami 401 4 ms$/);
    expect(lines[1]).toMatch(/INFO: shutting down \{"signal":"SIGINT"\}$/);
    expect(defaultLogDestination({}, false)).toBeUndefined();
    expect(defaultLogDestination({ KEYWARD_LOG_FORMAT: 'json' }, true)).toBeUndefined();
  });

  it('redacts a key on a readable line as on a JSON one', () => {
    const { lines, out } = captured();
    createLogger('info', defaultLogDestination({ NO_COLOR: '1' }, true, out)).info({ key: 'kw_test_secret' }, 'oops');
    expect(lines.join('\n')).not.toContain('kw_test_secret');
    expect(lines.join('\n')).toContain('[REDACTED]');
  });
});
