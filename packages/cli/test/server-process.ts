import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../bin/keyward.js');

export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      s.close(() => (typeof address === 'object' && address ? ok(address.port) : fail(new Error('no port'))));
    });
  });
}

/** The real server, as `keyward serve` runs it: its own process, its own data folder, talked to over HTTP. */
export class ServerProcess {
  proc!: ChildProcess;
  output = '';
  base = '';

  constructor(
    readonly dataDir = mkdtempSync(join(tmpdir(), 'kw-e2e-')),
    readonly env: Record<string, string> = {},
    readonly args: string[] = [],
  ) {}

  async start(): Promise<this> {
    const port = await freePort();
    this.base = `http://127.0.0.1:${port}`;
    this.output = '';
    this.proc = spawn(process.execPath, [BIN, 'serve', '--port', String(port), '--data-dir', join(this.dataDir, 'data'), ...this.args], {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (d: Buffer) => {
      this.output += d;
    };
    this.proc.stdout?.on('data', collect);
    this.proc.stderr?.on('data', collect);
    for (let i = 0; i < 150; i++) {
      if (this.proc.exitCode !== null) throw new Error(`server exited ${this.proc.exitCode}: ${this.output}`);
      try {
        if ((await fetch(`${this.base}/health`)).ok) return this;
      } catch {}
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`server did not start: ${this.output}`);
  }

  /** What the server printed, once it contains `text`: output crosses a pipe and may trail the HTTP answers. */
  async waitForOutput(text: string, ms = 5000): Promise<string> {
    const end = Date.now() + ms;
    while (!this.output.includes(text) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    return this.output;
  }

  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return Promise.resolve(this.proc.exitCode);
    return new Promise((ok) => {
      this.proc.once('exit', (code) => ok(code));
      this.proc.kill(signal);
    });
  }
}

export { HttpAgent } from '../../../test-support/http-agent.js';
