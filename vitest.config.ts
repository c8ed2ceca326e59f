import { readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

/**
 * The MCP SDK ships source maps that name sources it leaves out; Vite, which transforms it here (see `inline`
 * below), warned about each of its files on every run. Its files are read without their map comment instead, so the
 * test output holds only the runner's lines and the skip notices.
 */
const withoutMissingSourceMaps = {
  name: 'keyward:mcp-sdk-without-source-maps',
  enforce: 'pre' as const,
  load(id: string) {
    const file = id.split('?')[0] ?? id;
    if (!/\/node_modules\/@modelcontextprotocol\/sdk\/.*\.js$/.test(file)) return null;
    return readFileSync(file, 'utf8').replace(/^\/\/# sourceMappingURL=.*$/m, '');
  },
};

export default defineConfig({
  plugins: [withoutMissingSourceMaps],
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'examples/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The examples' servers start in the test process: their request lines would fill the runner's output.
    env: { KEYWARD_LOG_LEVEL: 'warn' },
    // The `source` condition (our packages' TypeScript) also matches eventsource-parser's own sources, which
    // Node cannot load as they are: let Vite transform them instead.
    server: { deps: { inline: ['@modelcontextprotocol/sdk', 'eventsource', 'eventsource-parser'] } },
  },
});
