#!/usr/bin/env node
// Development entry: runs the TypeScript sources through tsx. The shipped agent is the single executable
// built by `npm run build:agent` (installers/src/build-agent.ts).
'use strict';
require('tsx/cjs');
require('../src/main.ts').main(process.argv);
