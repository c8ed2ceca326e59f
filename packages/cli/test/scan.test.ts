import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KeyFormat } from '@keyward/core';
import { describe, expect, it } from 'vitest';
import { BIN } from './server-process.js';

const run = promisify(execFile);

describe('keyward scan', () => {
  it('reports leaked keys by file and line without printing them, and exits 1', async () => {
    const key = new KeyFormat([{ name: 'live', prefix: 'nv_live_' }]).generate('live');
    const dir = mkdtempSync(join(tmpdir(), 'kw-scan-'));
    writeFileSync(join(dir, 'clean.txt'), 'nothing here\n');
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src', 'config.ts'), `// settings\nexport const KEY = '${key}';\n`);
    mkdirSync(join(dir, 'node_modules'));
    writeFileSync(join(dir, 'node_modules', 'ignored.js'), key);
    const r = await run(process.execPath, [BIN, 'scan', dir]).catch((e) => e);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`config.ts:2: nv_live_…${key.slice(-4)}`);
    expect(r.stdout).toContain('1 key found');
    expect(r.stdout).not.toContain(key);
  });

  it('finding: a clean scan printed nothing; now one summary line, and exit 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kw-scan-'));
    writeFileSync(join(dir, 'a.txt'), 'nothing here\n');
    writeFileSync(join(dir, 'b.js'), 'console.log(process.env.KEYWARD_API_KEY);\n');
    const clean = await run(process.execPath, [BIN, 'scan', dir]);
    expect(clean.stdout.trim()).toBe('2 files scanned: no keys found.');
  });

  it('finding: `keyward scan /no/such/path` exited 0; now it says why and exits 2', async () => {
    const r = await run(process.execPath, [BIN, 'scan', '/no/such/path']).catch((e) => e);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('/no/such/path: cannot read (no such file or folder)');
    expect(r.stdout).toContain('1 path could not be read');
  });
});
