#!/usr/bin/env node
import { serverMain } from '../dist/cli/program.js';

serverMain(process.argv).catch((error) => {
  process.stderr.write(`keyward-server: ${error?.message ?? error}\n`);
  process.exit(1);
});
