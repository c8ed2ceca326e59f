import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The server's folders and which may import which: the table docs/architecture.md draws. A folder imports only the
 * folders listed for it (top-level files such as entities.ts and ids.ts are shared by all); nothing imports the
 * composition. A new folder, or a new arrow, is a decision: add it here and to the drawing.
 */
const MAY_IMPORT: Record<string, string[]> = {
  // Shared leaves: no feature folder below them.
  config: [],
  net: [],
  redis: [],
  cache: [],
  auth: [],
  // Ports and adapters.
  storage: ['config'],
  limits: ['redis'],
  throttle: ['config', 'redis'],
  // Services, each over the stores it uses.
  audit: ['auth', 'storage'],
  forms: ['auth', 'storage'],
  keys: ['audit', 'auth', 'cache', 'config', 'storage'],
  org: ['audit', 'auth', 'cache', 'storage'],
  usage: ['auth', 'config', 'keys', 'storage'],
  webhooks: ['auth', 'config', 'net', 'storage', 'throttle'],
  import: ['audit', 'auth', 'cache', 'config', 'keys', 'org', 'storage'],
  accounts: ['auth', 'config', 'import', 'org', 'storage', 'throttle'],
  signin: ['auth', 'config', 'keys', 'net', 'storage', 'throttle'],
  // Agents ask for a wider scope, people decide (CIBA): the new key is made by the key service, as the approver.
  'scope-requests': ['audit', 'auth', 'config', 'keys', 'signin', 'storage'],
  // The hot path: from a raw key to an answer.
  verify: ['cache', 'config', 'import', 'limits', 'storage', 'throttle', 'usage', 'webhooks'],
  leaks: ['config', 'keys', 'net', 'throttle', 'verify'],
  // HTTP translates requests into service calls: never storage, the throttles or the limiter.
  http: [
    'accounts',
    'audit',
    'auth',
    'cache',
    'config',
    'forms',
    'import',
    'keys',
    'leaks',
    'org',
    'scope-requests',
    'signin',
    'usage',
    'verify',
    'webhooks',
  ],
  // The composition and the operator's commands may build anything.
  cli: ['*'],
};
const COMPOSITION = new Set(['compose.ts', 'serve.ts', 'index.ts', 'cli']);

const SRC = resolve(import.meta.dirname, '../src');
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?\sfrom\s*['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.ts$/.test(name) && !/\.(test|contract)\.ts$/.test(name) ? [path] : [];
  });
}

/** The folder a file lives in, or the file itself for a top-level file (as `name.ts`). */
const room = (path: string) => (relative(SRC, path).split(sep)[0] as string).replace(/\.js$/, '.ts');

function edges(): { from: string; to: string; file: string }[] {
  return sources(SRC).flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(IMPORT)]
      .map((m) => resolve(file, '..', (m[1] ?? m[2]) as string))
      .filter((target) => target.startsWith(SRC + sep))
      .map((target) => ({ from: room(file), to: room(target), file: relative(SRC, file) }))
      .filter((e) => e.from !== e.to),
  );
}

describe('the server’s layout', () => {
  const all = edges();

  it('every import between folders follows the table (no folder imports one that imports it back)', () => {
    const strays = all
      .filter((e) => !e.from.endsWith('.ts') && !COMPOSITION.has(e.from))
      .filter((e) => !e.to.endsWith('.ts'))
      .filter((e) => !(MAY_IMPORT[e.from] ?? []).includes(e.to))
      .map((e) => `${e.file} imports ${e.to}/`);
    expect(strays).toEqual([]);
  });

  it('nothing below the composition imports it, and top-level files import no folder but config', () => {
    const strays = all
      .filter(
        (e) =>
          (COMPOSITION.has(e.to) && !COMPOSITION.has(e.from)) ||
          (e.from.endsWith('.ts') && !COMPOSITION.has(e.from) && e.to !== 'config' && !e.to.endsWith('.ts')),
      )
      .map((e) => `${e.file} imports ${e.to}`);
    expect(strays).toEqual([]);
  });

  it('the table itself has no loop, and names every folder there is', () => {
    const visiting = new Set<string>();
    const done = new Set<string>();
    const loops: string[] = [];
    const visit = (folder: string, path: string[]) => {
      if (done.has(folder)) return;
      if (visiting.has(folder)) return void loops.push([...path, folder].join(' → '));
      visiting.add(folder);
      for (const next of MAY_IMPORT[folder] ?? []) if (next !== '*') visit(next, [...path, folder]);
      visiting.delete(folder);
      done.add(folder);
    };
    for (const folder of Object.keys(MAY_IMPORT)) visit(folder, []);
    expect(loops).toEqual([]);
    const folders = readdirSync(SRC).filter((name) => statSync(join(SRC, name)).isDirectory());
    expect(folders.filter((f) => !(f in MAY_IMPORT))).toEqual([]);
  });
});
