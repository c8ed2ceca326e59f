#!/usr/bin/env node
import { main } from '../dist/main.js';

main(process.argv).catch((error) => {
  process.stderr.write(`keyward: ${error?.message ?? error}\n`);
  process.exit(1);
});
