import { defineConfig } from 'vitest/config';

export default defineConfig({
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
