import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const README = resolve(here, '../README.md');
const TSC = resolve(here, '../../../node_modules/typescript/bin/tsc');

/** The ```ts blocks of a Markdown file. */
function snippets(markdown: string): string[] {
  return [...markdown.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
}

describe('the middleware README', () => {
  it('finding: its Express and Hono snippets used an undefined verifier and declared kw twice; now each compiles as it is', async () => {
    const blocks = snippets(readFileSync(README, 'utf8'));
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    // Inside the package, so that `@keyward/middleware` and the frameworks resolve as they would for a user.
    const dir = mkdtempSync(join(here, '..', '.readme-'));
    try {
      for (const [i, code] of blocks.entries()) writeFileSync(join(dir, `snippet-${i}.ts`), code);
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            target: 'ES2022',
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            types: ['node'],
            strict: true,
            noEmit: true,
            skipLibCheck: true,
            esModuleInterop: true,
          },
          include: ['*.ts'],
        }),
      );
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
      const result = await promisify(execFile)(process.execPath, [TSC, '-p', join(dir, 'tsconfig.json')]).catch((e) => e);
      expect(result.stdout ?? '').toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
