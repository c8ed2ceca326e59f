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
