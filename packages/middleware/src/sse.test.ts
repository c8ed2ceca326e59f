import { describe, expect, it } from 'vitest';
import { type SseEvent, SseParser } from './sse.js';

describe('the change stream parser', () => {
  it('reads events split anywhere across chunks, with CRLF or LF, skipping heartbeat comments', () => {
    const events: SseEvent[] = [];
    const parser = new SseParser((e) => events.push(e));
    const text =
      'retry: 1000\n\n: keep-alive\n\nid: ab-1\r\nevent: change\r\ndata: {"type":"key","key_id":"key_1"}\r\n\r\nevent: ready\ndata: {}\n\n';
    for (const ch of text) parser.push(ch);
    expect(events).toEqual([
      { event: 'change', id: 'ab-1', data: '{"type":"key","key_id":"key_1"}' },
      { event: 'ready', data: '{}' },
    ]);
  });

  it('joins multi-line data and waits for the blank line that ends an event', () => {
    const events: SseEvent[] = [];
    const parser = new SseParser((e) => events.push(e));
    parser.push('data: one\ndata: two\n');
    expect(events).toEqual([]);
    parser.push('\n');
    expect(events).toEqual([{ event: 'message', data: 'one\ntwo' }]);
  });
});
