import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';

const run = promisify(execFile);
const root = path.resolve(__dirname, '../../..');
const cli = (args: string[]) => run(process.execPath, ['bin/certfleet.js', ...args], { cwd: root });

test('X3 `certfleet --help` lists every command, and each command has its own --help', async (t) => {
  const { stdout } = await cli(['--help']);
  const commands = ['start', 'inspect', 'import', 'backup', 'restore', 'audit'];
  for (const c of commands) t.regex(stdout, new RegExp(`^\\s+${c}\\b`, 'm'), c);
  for (const c of commands) {
    const r = await cli([c, '--help']);
    t.regex(r.stdout, /Usage: certfleet/, `${c} --help`);
  }
  const version = await cli(['--version']);
  t.regex(version.stdout.trim(), /^\d+\.\d+\.\d+$/);
});

test('X3 an unknown command fails with a usage error', async (t) => {
  const err = await t.throwsAsync(cli(['frobnicate']));
  t.not((err as { code?: number }).code, 0);
  t.regex((err as { stderr?: string }).stderr ?? '', /unknown command/);
});
