import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { AGENT_VERSION } from '../../../agent/src/version';

const root = path.resolve(__dirname, '../../..');

test('G5 AGENT_VERSION (carried inside the single executable) equals the root package.json version', (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
  t.is(AGENT_VERSION, pkg.version);
});
