#!/usr/bin/env -S node --max-semi-space-size=4 --heap-growing-percent=50
'use strict';
// CertFleet CLI entry: runs the TypeScript sources through tsx (no separate build step is needed after `npm ci`).
require('tsx/cjs');
require('../controller/src/cli/main.ts')
  .main(process.argv)
  .catch((err) => {
    console.error(err && err.stack ? err.stack : String(err));
    process.exitCode = 70;
  });
