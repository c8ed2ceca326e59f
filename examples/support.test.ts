import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { exampleSettings } from './support.js';

describe('example settings', () => {
  it('finding: the examples hard-coded ports that clashed and wrote folders into the repository; now PORT, KEYWARD_PORT, KEYWARD_DATA_DIR', () => {
    expect(exampleSettings('nanda', { keyward: 8801, api: 3101 }, {})).toEqual({
      keywardPort: 8801,
      apiPort: 3101,
      dataDir: '.keyward/examples/nanda',
    });
    expect(
      exampleSettings('nanda', { keyward: 8801, api: 3101 }, { PORT: '4000', KEYWARD_PORT: '9000', KEYWARD_DATA_DIR: '/tmp/x' }),
    ).toEqual({
      keywardPort: 9000,
      apiPort: 4000,
      dataDir: '/tmp/x',
    });
    expect(() => exampleSettings('nanda', { keyward: 8801, api: 3101 }, { PORT: 'eighty' })).toThrow('PORT must be a port');
  });
});

describe('examples/README.md', () => {
  it('gives every example folder a section with a curl command that calls one of its routes with a key', () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const readme = readFileSync(join(here, 'README.md'), 'utf8');
    const folders = readdirSync(here, { withFileTypes: true })
      .filter((d) => d.isDirectory() && !d.name.startsWith('.') && d.name !== 'node_modules')
      .map((d) => d.name);
    expect(folders.length).toBeGreaterThanOrEqual(5);
    for (const folder of folders) {
      const section = readme.split(/^### /m).find((s) => s.startsWith(`${folder}\n`));
      expect(section, folder).toBeDefined();
      expect(section, folder).toMatch(/^curl .*http:\/\/127\.0\.0\.1:\d+\/\S+ .*-H "Authorization: Bearer \$KEY"/m);
    }
  });
});
