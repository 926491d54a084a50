/**
 * installers/scripts/install-agent.sh and uninstall-agent.sh, run with POSIX `sh` into a temporary DESTDIR (never
 * into /). A stub stands in for the executable here; agent-executable.test.ts installs the real one.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import anyTest, { type TestFn } from 'ava';
import { parseAgentConfig } from '../../../agent/src/config';
import { assertCommands, testNeeding } from '../../_helpers/needs';

const run = promisify(execFile);
const root = path.resolve(__dirname, '../../..');
const scripts = path.join(root, 'installers', 'scripts');
const unitSource = path.join(root, 'installers', 'systemd', 'certfleet-agent.service');
const test = anyTest as TestFn<{ dirs: string[] }>;

test.before((t) => {
  t.context.dirs = [];
});
test.after.always((t) => {
  for (const d of t.context.dirs) fs.rmSync(d, { recursive: true, force: true });
});

function tempDir(t: { context: { dirs: string[] } }, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.context.dirs.push(dir);
  return dir;
}

/** A stand-in executable that answers `--version` like the agent. */
function stubAgent(dir: string, version = '0.1.0'): string {
  const file = path.join(dir, `certfleet-agent-${version}`);
  fs.writeFileSync(file, `#!/bin/sh\n[ "$1" = --version ] && echo ${version}\nexit 0\n`, { mode: 0o755 });
  return file;
}

async function sh(script: string, args: string[], env: Record<string, string>) {
  return run('sh', [path.join(scripts, script), ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
  });
}

const mode = (p: string): string => (fs.statSync(p).mode & 0o7777).toString(8).padStart(4, '0');

test('G5 install-agent.sh stages the executable, unit, config and directories with their modes', async (t) => {
  const dest = tempDir(t, 'cf-install-');
  const { stdout } = await sh('install-agent.sh', ['--binary', stubAgent(tempDir(t, 'cf-bin-')), '--no-systemctl'], {
    DESTDIR: dest,
  });
  t.regex(stdout, /certfleet-agent 0\.1\.0/);
  t.regex(stdout, /systemctl not run/);
  const expected: Record<string, string> = {
    'usr/local/bin/certfleet-agent': '0755',
    'etc/systemd/system/certfleet-agent.service': '0644',
    'etc/certfleet-agent': '0750',
    'etc/certfleet-agent/agent.json': '0640',
    'etc/certfleet': '0755',
    'var/lib/certfleet-agent': '0700',
  };
  for (const [p, m] of Object.entries(expected)) t.is(mode(path.join(dest, p)), m, p);
  t.is(
    fs.readFileSync(path.join(dest, 'etc/systemd/system/certfleet-agent.service'), 'utf8'),
    fs.readFileSync(unitSource, 'utf8')
  );
  // No leftovers from the atomic replace.
  t.deepEqual(fs.readdirSync(path.join(dest, 'usr/local/bin')), ['certfleet-agent']);
  // The default config is valid for the agent, and its install root is writable under the unit's ProtectSystem.
  const config = parseAgentConfig(
    JSON.parse(fs.readFileSync(path.join(dest, 'etc/certfleet-agent/agent.json'), 'utf8'))
  );
  t.is(config.stateDir, '/var/lib/certfleet-agent');
  const unitText = fs.readFileSync(unitSource, 'utf8');
  for (const r of config.allowedRoots) t.regex(unitText, new RegExp(`^ReadWritePaths=${r}$`, 'm'), r);
});

test('G5 reinstalling replaces the executable but keeps an edited agent.json', async (t) => {
  const dest = tempDir(t, 'cf-install-');
  const bins = tempDir(t, 'cf-bin-');
  await sh('install-agent.sh', ['--binary', stubAgent(bins, '0.1.0')], { DESTDIR: dest });
  const configFile = path.join(dest, 'etc/certfleet-agent/agent.json');
  fs.writeFileSync(configFile, '{"allowedRoots":["/etc/certfleet","/srv/tls"]}\n');
  const { stdout } = await sh('install-agent.sh', ['--binary', stubAgent(bins, '0.2.0')], { DESTDIR: dest });
  t.regex(stdout, /keeping existing/);
  t.is(fs.readFileSync(configFile, 'utf8'), '{"allowedRoots":["/etc/certfleet","/srv/tls"]}\n');
  const installed = await run(path.join(dest, 'usr/local/bin/certfleet-agent'), ['--version']);
  t.is(installed.stdout.trim(), '0.2.0');
});

test('G5 PREFIX moves the executable and the unit ExecStart follows it', async (t) => {
  const dest = tempDir(t, 'cf-install-');
  await sh('install-agent.sh', ['--binary', stubAgent(tempDir(t, 'cf-bin-'))], {
    DESTDIR: dest,
    PREFIX: '/opt/certfleet',
  });
  t.is(mode(path.join(dest, 'opt/certfleet/bin/certfleet-agent')), '0755');
  const unit = fs.readFileSync(path.join(dest, 'etc/systemd/system/certfleet-agent.service'), 'utf8');
  t.regex(unit, /^ExecStart=\/opt\/certfleet\/bin\/certfleet-agent run --config \/etc\/certfleet-agent\/agent\.json$/m);
  t.notRegex(unit, /\/usr\/local\/bin/);
  const err = await t.throwsAsync(
    sh('install-agent.sh', ['--binary', stubAgent(tempDir(t, 'cf-bin-'))], { DESTDIR: dest, PREFIX: 'opt' })
  );
  t.regex((err as { stderr?: string }).stderr ?? '', /PREFIX must be an absolute path/);
});

test('G5 install-agent.sh refuses an executable that is not the agent (a plain node)', async (t) => {
  const dest = tempDir(t, 'cf-install-');
  const err = await t.throwsAsync(sh('install-agent.sh', ['--binary', process.execPath], { DESTDIR: dest }));
  t.regex((err as { stderr?: string }).stderr ?? '', /not an agent version/);
  t.false(fs.existsSync(path.join(dest, 'usr/local/bin/certfleet-agent')));
});

test('G5 uninstall keeps identity and config, --purge wipes them, the install root is never removed', async (t) => {
  const dest = tempDir(t, 'cf-install-');
  await sh('install-agent.sh', ['--binary', stubAgent(tempDir(t, 'cf-bin-'))], { DESTDIR: dest });
  const identity = path.join(dest, 'var/lib/certfleet-agent/identity.key');
  const served = path.join(dest, 'etc/certfleet/shop/cert.pem');
  fs.writeFileSync(identity, 'key', { mode: 0o600 });
  fs.mkdirSync(path.dirname(served));
  fs.writeFileSync(served, 'cert');

  const kept = await sh('uninstall-agent.sh', ['--no-systemctl'], { DESTDIR: dest });
  t.regex(kept.stdout, /use --purge/);
  t.false(fs.existsSync(path.join(dest, 'usr/local/bin/certfleet-agent')));
  t.false(fs.existsSync(path.join(dest, 'etc/systemd/system/certfleet-agent.service')));
  t.true(fs.existsSync(identity));
  t.true(fs.existsSync(path.join(dest, 'etc/certfleet-agent/agent.json')));
  t.true(fs.existsSync(served));

  await sh('uninstall-agent.sh', ['--purge'], { DESTDIR: dest });
  t.false(fs.existsSync(path.join(dest, 'var/lib/certfleet-agent')));
  t.false(fs.existsSync(path.join(dest, 'etc/certfleet-agent')));
  t.true(fs.existsSync(served));
});

const withSystemd = testNeeding<{ dirs: string[] }>(['systemd-analyze']);

withSystemd('G5 systemd-analyze verifies the installed unit and rates its exposure OK', async (t) => {
  assertCommands(['systemd-analyze']);
  const dest = tempDir(t, 'cf-install-');
  await sh('install-agent.sh', ['--binary', stubAgent(tempDir(t, 'cf-bin-'))], { DESTDIR: dest });
  // verify resolves the unit's default dependencies (sysinit.target …) inside --root: give it the host's units.
  fs.mkdirSync(path.join(dest, 'usr/lib/systemd'), { recursive: true });
  fs.cpSync('/usr/lib/systemd/system', path.join(dest, 'usr/lib/systemd/system'), {
    recursive: true,
    verbatimSymlinks: true,
  });
  const unit = path.join(dest, 'etc/systemd/system/certfleet-agent.service');
  const verify = await run('systemd-analyze', ['verify', '--man=no', '--generators=no', `--root=${dest}`, unit], {
    cwd: dest,
  });
  // verify exits 0 on unknown keys and bad values; it reports them on stderr.
  t.is(verify.stderr.trim(), '');
  const security = await run(
    'systemd-analyze',
    ['security', '--offline=yes', '--threshold=30', `--root=${dest}`, '--no-pager', unit],
    { cwd: dest }
  );
  const level = /Overall exposure level for certfleet-agent\.service: ([\d.]+) (\w+)/.exec(security.stdout);
  t.truthy(level, security.stdout.slice(-500));
  t.log(`systemd-analyze security: exposure ${level?.[1]} ${level?.[2]}`);
  t.true(Number(level?.[1]) <= 3.0);
});
