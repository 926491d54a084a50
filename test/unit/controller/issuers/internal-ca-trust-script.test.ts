import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import anyTest, { type TestFn } from 'ava';
import {
  createRootCa,
  trustFileSlug,
  trustInstallerScript,
  type CreateRootCaResult,
} from '../../../../controller/src/issuers/internal-ca';
import { hasCommand } from '../../../_helpers/needs';

interface Ctx {
  dir: string;
  ca: CreateRootCaResult;
  script: string;
}
const test = anyTest as TestFn<Ctx>;
const NAME = 'CertFleet Root CA (test)';
const FILE = 'certfleet-certfleet-root-ca-test.crt';
const SHELLS = ['sh', 'dash', 'bash', 'busybox'].filter(hasCommand);

test.before(async (t) => {
  const ca = await createRootCa({ now: new Date(), keySpec: 'EC-P256' });
  t.context = {
    dir: mkdtempSync(join(tmpdir(), 'certfleet-trust-')),
    ca,
    script: trustInstallerScript(ca.certificatePem, NAME),
  };
});
test.after.always((t) => {
  if (t.context.dir) rmSync(t.context.dir, { recursive: true, force: true });
});

let n = 0;
/** A fresh fake root prefix with the given layout; the refresh tools only record their calls. */
function fakeRoot(dir: string, layout: 'debian' | 'rhel' | 'none'): string {
  const root = join(dir, `root-${++n}`);
  mkdirSync(root, { recursive: true });
  const tool = (path: string): void => {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), `#!/bin/sh\necho "${path} $*" >> "${root}/calls"\n`, { mode: 0o755 });
  };
  if (layout === 'debian') {
    mkdirSync(join(root, 'usr/local/share/ca-certificates'), { recursive: true });
    tool('usr/sbin/update-ca-certificates');
  } else if (layout === 'rhel') {
    mkdirSync(join(root, 'etc/pki/ca-trust/source/anchors'), { recursive: true });
    tool('usr/bin/update-ca-trust');
  }
  return root;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
function run(shell: string, script: string, env: Record<string, string>, wrap: string[] = []): Promise<Run> {
  const argv = shell === 'busybox' ? ['busybox', 'sh', '-s'] : [shell, '-s'];
  const [cmd, ...args] = [...wrap, ...argv] as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(script);
  });
}
const calls = (root: string): string[] =>
  existsSync(join(root, 'calls'))
    ? readFileSync(join(root, 'calls'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.trimEnd())
    : [];

test('C6 the trust installer is valid POSIX sh (sh -n in every shell present) and embeds the CA with its SHA-256', async (t) => {
  const { script, ca } = t.context;
  t.true(script.startsWith('#!/bin/sh\n'));
  const der256 = new X509Certificate(ca.certificatePem).fingerprint256.replace(/:/g, '').toLowerCase();
  t.true(script.includes(`CA_DER_SHA256='${der256}'`));
  t.true(script.includes(ca.certificatePem.trimEnd()));
  t.true(script.includes(`CA_FILE='${FILE}'`));
  for (const shell of SHELLS) {
    const r = await new Promise<number>((resolve) => {
      const args = shell === 'busybox' ? ['sh', '-n'] : ['-n'];
      const child = spawn(shell, args);
      child.on('close', (code) => resolve(code ?? -1));
      child.stdin.end(script);
    });
    t.is(r, 0, `${shell} -n`);
  }
  t.is(trustFileSlug('  Ünïcode / CA!! '), 'n-code-ca');
  t.is(trustFileSlug('***'), 'ca');
  t.throws(() => trustInstallerScript('not a certificate', 'x'), { message: /no readable certificate/ });
});

for (const shell of SHELLS) {
  test(`C6 (${shell}) Debian layout: installs once into /usr/local/share/ca-certificates, refreshes, and is idempotent`, async (t) => {
    const root = fakeRoot(t.context.dir, 'debian');
    const first = await run(shell, t.context.script, { CERTFLEET_TRUST_ROOT: root });
    t.is(first.code, 0, first.stderr);
    const target = join(root, 'usr/local/share/ca-certificates', FILE);
    t.is(readFileSync(target, 'utf8'), t.context.ca.certificatePem);
    t.is(statSync(target).mode & 0o777, 0o644);
    t.deepEqual(calls(root), ['usr/sbin/update-ca-certificates'], 'refreshed once');
    t.regex(first.stdout, /installed .*certfleet-certfleet-root-ca-test\.crt/);

    const second = await run(shell, t.context.script, { CERTFLEET_TRUST_ROOT: root });
    t.is(second.code, 0, second.stderr);
    t.regex(second.stdout, /already installed/);
    t.is(calls(root).length, 1, 'no second refresh');

    // A different CA under the same name replaces the file and refreshes again.
    const other = await createRootCa({ now: new Date(), keySpec: 'EC-P256' });
    const third = await run(shell, trustInstallerScript(other.certificatePem, NAME), { CERTFLEET_TRUST_ROOT: root });
    t.is(third.code, 0, third.stderr);
    t.is(readFileSync(target, 'utf8'), other.certificatePem);
    t.is(calls(root).length, 2);
  });
}

test('C6 RHEL layout: installs into /etc/pki/ca-trust/source/anchors and runs update-ca-trust extract', async (t) => {
  const root = fakeRoot(t.context.dir, 'rhel');
  const r = await run('sh', t.context.script, { CERTFLEET_TRUST_ROOT: root });
  t.is(r.code, 0, r.stderr);
  t.is(readFileSync(join(root, 'etc/pki/ca-trust/source/anchors', FILE), 'utf8'), t.context.ca.certificatePem);
  t.deepEqual(calls(root), ['usr/bin/update-ca-trust extract']);
  t.regex(r.stdout, /trust store refreshed \(rhel\)/);
});

test('C6 no known trust store: exit 3, nothing written', async (t) => {
  const root = fakeRoot(t.context.dir, 'none');
  const r = await run('sh', t.context.script, { CERTFLEET_TRUST_ROOT: root });
  t.is(r.code, 3);
  t.regex(r.stderr, /no supported trust store/);
  t.false(existsSync(join(root, 'usr')));
});

test('C6 a corrupted embedded certificate is refused before anything is installed (exit 2)', async (t) => {
  const root = fakeRoot(t.context.dir, 'debian');
  const pemBody = t.context.ca.certificatePem.split('\n')[3]!;
  const flipped = pemBody.slice(0, 10) + (pemBody[10] === 'A' ? 'B' : 'A') + pemBody.slice(11);
  const r = await run('sh', t.context.script.replace(pemBody, flipped), { CERTFLEET_TRUST_ROOT: root });
  t.is(r.code, 2);
  t.regex(r.stderr, /corrupt|does not match/);
  t.false(existsSync(join(root, 'usr/local/share/ca-certificates', FILE)));
  t.deepEqual(calls(root), []);
});

test('C6 without CERTFLEET_TRUST_ROOT the script refuses to run unless root (exit 1)', async (t) => {
  const isRoot = process.getuid?.() === 0;
  if (isRoot && !hasCommand('runuser')) {
    t.pass('running as root without runuser: cannot drop privileges to check');
    return;
  }
  // As root, drop to `nobody`; the script comes on stdin, so nothing needs to be readable by that user.
  const r = await run('sh', t.context.script, {}, isRoot ? ['runuser', '-u', 'nobody', '--'] : []);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /must be run as root/);
});

test('C6 with the real Debian update-ca-certificates confined to the prefix, the CA lands in the bundle', async (t) => {
  if (!existsSync('/usr/sbin/update-ca-certificates')) {
    t.pass('update-ca-certificates not installed');
    return;
  }
  const root = fakeRoot(t.context.dir, 'debian');
  for (const d of ['etc/ssl/certs', 'usr/share/ca-certificates', 'etc/ca-certificates/update.d']) {
    mkdirSync(join(root, d), { recursive: true });
  }
  writeFileSync(join(root, 'etc/ca-certificates.conf'), '');
  // The prefix's tool wraps the real one with every directory pointed inside the prefix.
  const wrapper = join(root, 'usr/sbin/update-ca-certificates');
  writeFileSync(
    wrapper,
    `#!/bin/sh\nexec /usr/sbin/update-ca-certificates --certsconf "${root}/etc/ca-certificates.conf" --certsdir "${root}/usr/share/ca-certificates" --localcertsdir "${root}/usr/local/share/ca-certificates" --etccertsdir "${root}/etc/ssl/certs" --hooksdir "${root}/etc/ca-certificates/update.d" "$@"\n`
  );
  chmodSync(wrapper, 0o755);
  const r = await run('sh', t.context.script, { CERTFLEET_TRUST_ROOT: root });
  t.is(r.code, 0, r.stderr);
  const bundle = readFileSync(join(root, 'etc/ssl/certs/ca-certificates.crt'), 'utf8');
  t.true(bundle.includes(t.context.ca.certificatePem.split('\n')[1]!), 'the CA is in the generated bundle');
});
