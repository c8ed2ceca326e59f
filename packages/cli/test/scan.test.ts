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
    const clean = await run(process.execPath, [BIN, 'scan', join(dir, 'clean.txt')]);
    expect(clean.stdout).toBe('');
  });
});
