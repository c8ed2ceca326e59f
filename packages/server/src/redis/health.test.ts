import pino from 'pino';
import { expect, it } from 'vitest';
import { RedisHealth } from './health.js';

it('logs an outage once when it starts and once when Redis answers again, however many commands fail meanwhile', () => {
  const lines: { level: number; msg: string; err?: { message: string } }[] = [];
  const logger = pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  const health = new RedisHealth(logger, { down: 'down, and what that means', back: 'back' });
  health.answered();
  for (let i = 0; i < 3; i++) health.failed(new Error('Connection is closed.'));
  health.answered();
  health.answered();
  health.failed(new Error('again'));
  expect(lines.map((l) => [l.level, l.msg, l.err?.message])).toEqual([
    [50, 'down, and what that means', 'Connection is closed.'],
    [40, 'back', undefined],
    [50, 'down, and what that means', 'again'],
  ]);
});
