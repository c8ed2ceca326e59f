import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startServer } from './serve.js';

let taken: Server | undefined;
afterEach(() => taken?.close());

describe('keyward serve', () => {
  it('finding: a port in use printed Node’s raw `listen EADDRINUSE`; now it names the port and what to do', async () => {
    taken = createServer();
    await new Promise<void>((resolve) => taken?.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    const dataDir = mkdtempSync(join(tmpdir(), 'kw-serve-'));
    const started = startServer({ port, host: '127.0.0.1', dataDir }, () => {});
    await expect(started).rejects.toThrow(
      `port ${port} on 127.0.0.1 is in use by another program (another keyward?). Stop it, or start keyward on another port: keyward serve --port ${port + 1}`,
    );
  });
});
