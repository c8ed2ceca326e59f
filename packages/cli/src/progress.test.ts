import { clearLine, cursorTo, moveCursor } from 'node:readline';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { progressOn } from './progress.js';

/** A stream that says it is (or is not) a terminal, draws as one (ANSI), and keeps what was written to it. */
function stream(isTTY: boolean) {
  const s = Object.assign(new PassThrough(), { isTTY, columns: 80 }) as unknown as NodeJS.WriteStream & PassThrough;
  Object.assign(s, {
    cursorTo: (x: number, y?: number) => cursorTo(s, x, y),
    clearLine: (dir: -1 | 0 | 1) => clearLine(s, dir),
    moveCursor: (dx: number, dy: number) => moveCursor(s, dx, dy),
  });
  let written = '';
  s.on('data', (chunk: Buffer) => {
    written += chunk.toString();
  });
  return { s, written: () => written };
}

describe('progress on long waits', () => {
  // A terminal as a person has one: not CI, not a dumb terminal (the spinner library stays still there).
  const saved = { CI: process.env.CI, TERM: process.env.TERM };
  beforeEach(() => {
    delete process.env.CI;
    process.env.TERM = 'xterm-256color';
  });
  afterEach(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it('on a terminal: a spinner with the seconds waited, cleared when the wait ends', async () => {
    const { s, written } = stream(true);
    const done = progressOn(s)('Waiting for the browser …');
    await new Promise((r) => setTimeout(r, 1300));
    done();
    const out = written();
    expect(out).toContain('Waiting for the browser …');
    expect(out).toMatch(/Waiting for the browser … 1 s/);
    expect(out).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/);
    // Stopped: nothing more is drawn.
    const after = out.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(written().length).toBe(after);
  });

  it('in a pipe or a log: the words once, as a line, no animation', async () => {
    const { s, written } = stream(false);
    const done = progressOn(s)('Waiting for the code ABCD-EFGH to be approved …');
    await new Promise((r) => setTimeout(r, 300));
    done();
    expect(written()).toBe('Waiting for the code ABCD-EFGH to be approved …\n');
  });
});
