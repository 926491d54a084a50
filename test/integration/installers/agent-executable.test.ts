/**
 * The agent's single executable (SPEC G5), built here by `installers/src/build-agent.ts --reuse` (so CI needs no
 * separate build step; an executable built from the same inputs is reused) and run with an empty environment
 * (`env -i PATH=/nonexistent`), i.e. with no node and no node_modules reachable.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import anyTest, { type TestFn } from 'ava';
import { AGENT_EXECUTABLE, bundleFileFor, verifyAgentExecutable } from '../../../installers/src/build-agent';
import { AGENT_VERSION } from '../../../agent/src/version';
import { assertCommands, testNeeding } from '../../_helpers/needs';

const run = promisify(execFile);
const root = path.resolve(__dirname, '../../..');
const test = anyTest as TestFn<{ dirs: string[] }>;

/** `node --import tsx installers/src/build-agent.ts …` (what `npm run build:agent` runs). */
const build = (args: string[]) =>
  run(process.execPath, ['--import', 'tsx', path.join(root, 'installers/src/build-agent.ts'), ...args], {
    cwd: root,
    timeout: 240_000,
    maxBuffer: 16 * 1024 * 1024,
  });

/** Runs a file the way a bare host would: `env -i PATH=/nonexistent FILE ARGS…`. */
const bare = (file: string, args: string[]) =>
  run('env', ['-i', 'PATH=/nonexistent', file, ...args], { cwd: '/', timeout: 30_000 });

test.before(async (t) => {
  t.context.dirs = [];
  const started = Date.now();
  const { stdout } = await build(['--reuse']);
  t.log(`build-agent --reuse: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  t.log(stdout.trim().split('\n').at(-1) ?? '');
});
test.after.always((t) => {
  for (const d of t.context.dirs) fs.rmSync(d, { recursive: true, force: true });
});

test('G5 `certfleet-agent --version` prints AGENT_VERSION with an empty environment', async (t) => {
  const { stdout } = await bare(AGENT_EXECUTABLE, ['--version']);
  t.is(stdout.trim(), AGENT_VERSION);
  t.not(stdout.trim(), process.version);
  t.is(fs.statSync(AGENT_EXECUTABLE).mode & 0o777, 0o755);
});

test('G5 `certfleet-agent --help` lists the commands; an unknown command is a usage error', async (t) => {
  const { stdout } = await bare(AGENT_EXECUTABLE, ['--help']);
  t.regex(stdout, /^Usage: certfleet-agent/m);
  t.regex(stdout, /^\s+self-test\b/m);
  const sub = await bare(AGENT_EXECUTABLE, ['self-test', '--help']);
  t.regex(sub.stdout, /Usage: certfleet-agent self-test/);
  const err = await t.throwsAsync(bare(AGENT_EXECUTABLE, ['frobnicate']));
  t.is((err as { code?: number }).code, 1);
  t.regex((err as { stderr?: string }).stderr ?? '', /unknown command 'frobnicate'/);
});

test('G5 an age bundle round trip works inside the executable (ESM age-encryption, x509, sealer/opener)', async (t) => {
  const { stdout } = await bare(AGENT_EXECUTABLE, ['self-test']);
  const result = JSON.parse(stdout) as Record<string, unknown>;
  t.like(result, { ok: true, version: AGENT_VERSION, node: process.version, sea: true });
  t.deepEqual(result.checks, ['age-keypair', 'x509-self-signed', 'bundle-seal', 'bundle-open']);
});

test('G5 the bundle inside is self-contained CommonJS: no import() and no require of a non-built-in', (t) => {
  const bundle = fs.readFileSync(bundleFileFor(AGENT_EXECUTABLE), 'utf8');
  t.notRegex(bundle, /\bimport\(\s*["']age-encryption["']\s*\)/);
  t.notRegex(
    bundle,
    /\brequire\(\s*["'](?!node:)(?:@[\w.-]+\/)?(?:age-encryption|@grpc|commander|zod|node-forge|jks-js)/
  );
  t.regex(bundle, /node_modules\/age-encryption\/dist\/index\.js/);
});

test('G5 a second build with unchanged inputs reuses the executable', async (t) => {
  const before = fs.statSync(AGENT_EXECUTABLE).mtimeMs;
  const { stdout } = await build(['--reuse']);
  t.regex(stdout, /is up to date .* reusing it/);
  t.regex(stdout, /--version → 0\.\d+\.\d+; self-test → ok/);
  t.is(fs.statSync(AGENT_EXECUTABLE).mtimeMs, before);
});

test('G5 the build check fails loudly when the output is a plain copy of node', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cf-plain-node-'));
  t.context.dirs.push(dir);
  const fake = path.join(dir, 'certfleet-agent');
  fs.copyFileSync(process.execPath, fake);
  fs.chmodSync(fake, 0o755);
  await t.throwsAsync(verifyAgentExecutable(fake), { message: /printed "v20\.\d+\.\d+".*plain copy of node/ });
});

test('G5 install-agent.sh installs the real executable into a DESTDIR, where it runs bare', async (t) => {
  const dest = fs.mkdtempSync(path.join(os.tmpdir(), 'cf-install-exe-'));
  t.context.dirs.push(dest);
  await run('sh', [path.join(root, 'installers/scripts/install-agent.sh'), '--no-systemctl'], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', DESTDIR: dest },
  });
  const installed = path.join(dest, 'usr/local/bin/certfleet-agent');
  t.is((await bare(installed, ['--version'])).stdout.trim(), AGENT_VERSION);
  t.like(JSON.parse((await bare(installed, ['self-test'])).stdout), { ok: true, sea: true });
});

// Why the unit does not set MemoryDenyWriteExecute=yes: with the kernel's equivalent (prctl PR_SET_MDWE,
// Linux ≥ 6.3; systemd uses it or a seccomp filter with the same effect) V8's JIT aborts the agent.
const withPython = testNeeding<{ dirs: string[] }>(['python3']);
const MDWE_PROBE = `
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
    sys.exit(99)                       # kernel without MDWE
os.execve(sys.argv[1], [sys.argv[1], "self-test"], {"PATH": "/nonexistent"})
`;

withPython('G5 the agent cannot run under MemoryDenyWriteExecute (V8 JIT), so the unit leaves it off', async (t) => {
  assertCommands(['python3']);
  const unit = fs.readFileSync(path.join(root, 'installers/systemd/certfleet-agent.service'), 'utf8');
  t.notRegex(unit, /^MemoryDenyWriteExecute=/m);
  const outcome = await run('python3', ['-c', MDWE_PROBE, AGENT_EXECUTABLE], { timeout: 30_000 }).then(
    () => ({ code: 0, stderr: '' }),
    (err: { code?: number; signal?: string; stderr?: string }) => ({
      code: err.code ?? err.signal,
      stderr: err.stderr ?? '',
    })
  );
  if (outcome.code === 99) {
    t.log('kernel has no PR_SET_MDWE: only the unit was checked');
    return;
  }
  t.not(outcome.code, 0);
  t.regex(outcome.stderr, /SetPermissions|Fatal error/);
});
