/**
 * STARTTLS probes against REAL Debian Postfix (SMTP) and Dovecot (IMAP, POP3) (SPEC M6, S1; issue 5 "STARTTLS
 * checks against real Debian Postfix and Dovecot"). Each server runs as this test's own process tree with a private
 * configuration directory, on free loopback ports, serving the in-test leaf + intermediate; the probe must see that
 * chain in order, with fingerprints equal to `openssl x509 -fingerprint`. Needs root (both daemons drop to their
 * own users) and the `postfix`, `dovecot-imapd`, `dovecot-pop3d` packages (installed by .ci/run).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ExecutionContext, TestFn } from 'ava';
import { probeEndpoint, sha1Fingerprint, sha256Fingerprint } from '@certfleet/shared';
import { assertCommands, isCI, testNeeding } from '../../_helpers/needs';
import { makeProbePki, opensslFingerprints, type ProbePki } from '../../_helpers/probe-pki';

const run = promisify(execFile);

interface Ctx {
  pki: ProbePki;
  stops: (() => Promise<void>)[];
}

const isRoot = process.getuid?.() === 0;
function gated(commands: string[]): TestFn<Ctx> {
  const test = testNeeding<Ctx>(commands);
  if (isRoot || isCI) return test;
  process.stderr.write('skipping real postfix/dovecot tests: they must run as root\n');
  return test.skip as unknown as TestFn<Ctx>;
}
const test = gated(['openssl']);
const postfixTest = gated(['postfix', 'postconf']);
const dovecotTest = gated(['dovecot']);

test.before(async (t) => {
  const pki = await makeProbePki();
  // The daemons' unprivileged users must reach their queue/base directories under it.
  await chmod(pki.dir, 0o755);
  t.context = { pki, stops: [] };
});
test.after.always(async (t) => {
  for (const stop of t.context.stops ?? []) await stop().catch(() => undefined);
  await t.context.pki?.cleanup();
});

/** A loopback port nobody listens on right now (bound and released by this process). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Waits until `port` accepts a TCP connection, or the child exits, for at most `ms`. */
async function waitListening(port: number, child: ChildProcess, output: () => string, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (child.exitCode !== null && child.exitCode !== 0) {
      await new Promise((r) => setTimeout(r, 300));
      throw new Error(`server exited ${child.exitCode}: ${output()}`);
    }
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`port ${port} did not open within ${ms} ms: ${output()}`);
}

function collect(child: ChildProcess): () => string {
  let text = '';
  const add = (d: Buffer): void => {
    text = (text + d.toString()).slice(-4000);
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => text;
}

async function startPostfix(t: { context: Ctx }): Promise<number> {
  const { pki } = t.context;
  const base = join(pki.dir, 'postfix');
  const conf = join(base, 'conf');
  const queue = join(base, 'queue');
  const data = join(base, 'data');
  for (const d of [conf, queue, data]) await mkdir(d, { recursive: true });
  await chmod(base, 0o755);
  const { uid, gid } = await userIds('postfix');
  await chown(data, uid, gid);
  const port = await freePort();
  await writeFile(
    join(conf, 'main.cf'),
    [
      'compatibility_level = 3.6',
      `queue_directory = ${queue}`,
      `data_directory = ${data}`,
      'command_directory = /usr/sbin',
      'daemon_directory = /usr/lib/postfix/sbin',
      'meta_directory = /etc/postfix',
      'shlib_directory = /usr/lib/postfix',
      'mail_owner = postfix',
      'setgid_group = postdrop',
      'myhostname = mail.probe.test',
      'mydestination =',
      'inet_interfaces = 127.0.0.1',
      'inet_protocols = ipv4',
      'alias_maps =',
      'alias_database =',
      // Postfix logs to its stdout (no syslog here); stdout is a file below, since node's stdio pipes are
      // socketpairs, which /dev/stdout cannot open, and a log file would need postlogd before master runs.
      'maillog_file = /dev/stdout',
      `smtpd_tls_chain_files = ${join(pki.dir, 'leaf.key')}, ${pki.fullchainPath}`,
      'smtpd_tls_security_level = may',
      'smtpd_tls_session_cache_database =',
      '',
    ].join('\n')
  );
  // Only what smtpd needs: the listener on our port plus the internal services it talks to.
  await writeFile(
    join(conf, 'master.cf'),
    [
      `127.0.0.1:${port} inet n - n - - smtpd`,
      'pickup unix n - n 60 1 pickup',
      'cleanup unix n - n - 0 cleanup',
      'qmgr unix n - n 300 1 qmgr',
      'tlsmgr unix - - n 1000? 1 tlsmgr',
      'rewrite unix - - n - - trivial-rewrite',
      'bounce unix - - n - 0 bounce',
      'defer unix - - n - 0 bounce',
      'trace unix - - n - 0 bounce',
      'verify unix - - n - 1 verify',
      'proxymap unix - - n - - proxymap',
      'error unix - - n - - error',
      'retry unix - - n - - error',
      'discard unix - - n - - discard',
      'anvil unix - - n - 1 anvil',
      'scache unix - - n - 1 scache',
      'postlog unix-dgram n - n - 1 postlogd',
      '',
    ].join('\n')
  );
  const logPath = join(base, 'postfix.log');
  const log = openSync(logPath, 'a');
  const child = spawn('postfix', ['-c', conf, 'start-fg'], { stdio: ['ignore', log, log] });
  closeSync(log);
  const output = (): string => readFileSync(logPath, 'utf8').slice(-4000);
  // `start-fg` runs master as a child unless it is PID 1: `postfix stop` ends the whole tree.
  t.context.stops.push(async () => {
    await run('postfix', ['-c', conf, 'stop']).catch(() => undefined);
    if (child.exitCode === null) child.kill('SIGTERM');
  });
  await waitListening(port, child, output);
  return port;
}

async function startDovecot(t: { context: Ctx }): Promise<{ imap: number; pop3: number }> {
  const { pki } = t.context;
  const base = join(pki.dir, 'dovecot');
  await mkdir(base, { recursive: true });
  await chmod(base, 0o755);
  const [imap, pop3] = [await freePort(), await freePort()];
  const conf = join(base, 'dovecot.conf');
  await writeFile(
    conf,
    [
      'protocols = imap pop3',
      'listen = 127.0.0.1',
      `base_dir = ${join(base, 'run')}`,
      `state_dir = ${join(base, 'state')}`,
      `log_path = ${join(base, 'dovecot.log')}`,
      'ssl = yes',
      `ssl_cert = <${pki.fullchainPath}`,
      `ssl_key = <${pki.leafKeyPath}`,
      `mail_location = maildir:${join(base, 'mail')}/%u`,
      'passdb {',
      '  driver = static',
      '  args = password=unused-in-tests',
      '}',
      'userdb {',
      '  driver = static',
      `  args = uid=nobody gid=nogroup home=${join(base, 'home')}/%u`,
      '}',
      'service imap-login {',
      `  inet_listener imap {\n    address = 127.0.0.1\n    port = ${imap}\n  }`,
      '  inet_listener imaps {\n    port = 0\n  }',
      '}',
      'service pop3-login {',
      `  inet_listener pop3 {\n    address = 127.0.0.1\n    port = ${pop3}\n  }`,
      '  inet_listener pop3s {\n    port = 0\n  }',
      '}',
      '',
    ].join('\n')
  );
  const child = spawn('dovecot', ['-F', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = collect(child);
  t.context.stops.push(async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  });
  await waitListening(imap, child, output);
  await waitListening(pop3, child, output);
  return { imap, pop3 };
}

async function userIds(name: string): Promise<{ uid: number; gid: number }> {
  const [{ stdout: uid }, { stdout: gid }] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}

async function expectServedChain(t: ExecutionContext<Ctx>, chain: Buffer[]): Promise<void> {
  const { pki } = t.context;
  const leaf = await opensslFingerprints(pki.leafPath);
  const intermediate = await opensslFingerprints(join(pki.dir, 'int.pem'));
  t.deepEqual(
    chain.map((d) => sha256Fingerprint(d)),
    [leaf.sha256, intermediate.sha256],
    'leaf then intermediate, as configured'
  );
  t.is(sha1Fingerprint(chain[0] as Buffer), leaf.sha1);
}

postfixTest('M6 S1 probe: STARTTLS against a real Postfix smtpd (private config, own port)', async (t) => {
  if (isCI) assertCommands(['postfix', 'postconf']);
  t.log(`${userInfo().username}: postfix ${(await run('postconf', ['-h', 'mail_version'])).stdout.trim()}`);
  const port = await startPostfix(t);
  const o = await probeEndpoint({
    host: '127.0.0.1',
    port,
    starttls: 'smtp',
    serverName: 'a.probe.test',
    timeoutMs: 10_000,
  });
  t.true(o.ok, o.error?.message);
  await expectServedChain(t, o.chain);
  t.regex(o.protocol ?? '', /^TLSv1\.[23]$/);
  t.log(`postfix STARTTLS: ${o.protocol} ${o.cipher} in ${o.timings.totalMs} ms`);
  // Speaking the wrong protocol to Postfix is a clear refusal, not a hang.
  const wrong = await probeEndpoint({ host: '127.0.0.1', port, starttls: 'pop3', timeoutMs: 5000 });
  t.is(wrong.error?.code, 'StartTlsRefused', wrong.error?.message);
  t.regex(wrong.error?.message ?? '', /pop3 greeting: "220 mail\.probe\.test/);
});

dovecotTest('M6 S1 probe: STARTTLS against a real Dovecot (IMAP and POP3, private config, own ports)', async (t) => {
  if (isCI) assertCommands(['dovecot']);
  t.log(`dovecot ${(await run('dovecot', ['--version'])).stdout.trim()}`);
  const ports = await startDovecot(t);
  const imap = await probeEndpoint({ host: '127.0.0.1', port: ports.imap, starttls: 'imap', timeoutMs: 10_000 });
  t.true(imap.ok, imap.error?.message);
  await expectServedChain(t, imap.chain);
  const pop3 = await probeEndpoint({ host: '127.0.0.1', port: ports.pop3, starttls: 'pop3', timeoutMs: 10_000 });
  t.true(pop3.ok, pop3.error?.message);
  await expectServedChain(t, pop3.chain);
  t.log(`dovecot imap ${imap.protocol} ${imap.timings.totalMs} ms, pop3 ${pop3.protocol} ${pop3.timings.totalMs} ms`);
  const wrong = await probeEndpoint({ host: '127.0.0.1', port: ports.imap, starttls: 'smtp', timeoutMs: 5000 });
  t.is(wrong.error?.code, 'StartTlsRefused', wrong.error?.message);
});
