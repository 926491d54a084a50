import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { CONTROLLER_NODE_FLAGS } from '../../../controller/src/config/node-flags';

const root = path.resolve(__dirname, '../../..');

test('G2 the controller runs with its V8 flags: `npm start` and the certfleet shebang carry the same ones', (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: { start: string } };
  t.is(pkg.scripts.start, `node ${CONTROLLER_NODE_FLAGS.join(' ')} bin/certfleet.js start`);
  const shebang = fs.readFileSync(path.join(root, 'bin', 'certfleet.js'), 'utf8').split('\n')[0];
  t.is(shebang, `#!/usr/bin/env -S node ${CONTROLLER_NODE_FLAGS.join(' ')}`);
  // Node accepts them (a misspelt V8 flag makes node exit with "bad option").
  const out = execFileSync(process.execPath, [...CONTROLLER_NODE_FLAGS, '-p', 'process.execArgv.join(" ")'], {
    encoding: 'utf8',
  });
  t.true(out.trim().startsWith(CONTROLLER_NODE_FLAGS.join(' ')), out);
});
