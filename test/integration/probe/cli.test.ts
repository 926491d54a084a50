/**
 * `certfleet probe HOST:PORT --json` (issue 5 item 7; SPEC M2, M3, M6, S1) in a real process through
 * `bin/certfleet.js`: one JSON object, lowercase colon-free fingerprints equal to `openssl x509 -fingerprint` of
 * the served certificate, the chain leaf first, checks from the shared chain, and exit codes 0 / 1 / 2. No database.
 */
import { execFile } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import anyTest, { type TestFn } from 'ava';
import {
  type ProbePki,
  closeAll,
  fakeStartTlsServer,
  FAKE_DIALOGUES,
  listenOn,
  makeProbePki,
  opensslFingerprints,
} from '../../_helpers/probe-pki';
import { parseEndpoint } from '../../../controller/src/cli/commands/probe';
import { assertCommands, isCI } from '../../_helpers/needs';

const test = anyTest as TestFn<{ pki: ProbePki; servers: net.Server[]; port: number; rootFile: string }>;
const ROOT = join(__dirname, '..', '..', '..');

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(ROOT, 'bin/certfleet.js'), 'probe', ...args],
      // No DATABASE_URL and a data dir that does not exist: the command must not need either.
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, DATABASE_URL: '', CERTFLEET_DATA_DIR: '/nonexistent/certfleet' },
      },
      (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
      }
    );
  });
}

test.before(async (t) => {
  if (isCI) assertCommands(['openssl']);
  const pki = await makeProbePki();
  const servers: net.Server[] = [];
  const server = tls.createServer({ cert: pki.fullchainPem, key: pki.leafKeyPem }, (s) => {
    s.on('error', () => undefined);
    s.end();
  });
  server.on('tlsClientError', () => undefined);
  const port = await listenOn(servers, server);
  const rootFile = join(pki.dir, 'root.pem');
  t.context = { pki, servers, port, rootFile };
});
test.after.always(async (t) => {
  closeAll(t.context.servers);
  await t.context.pki.cleanup();
});

test('M3 S1 cli probe --json: one object, fingerprints as openssl prints them (lowercase, no colons), chain leaf first', async (t) => {
  const { pki, port, rootFile } = t.context;
  const r = await cli([`127.0.0.1:${port}`, '--servername', 'a.probe.test', '--trust-set', rootFile, '--json']);
  t.is(r.code, 0, r.stdout + r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, unknown> & {
    leaf: Record<string, unknown>;
    chain: { sha256: string; subject: string; issuer: string; notAfter: string }[];
    checks: { code: string; status: string; message: string }[];
    timings: { totalMs: number; connectMs: number; handshakeMs: number };
  };
  t.is(out.endpoint, `127.0.0.1:${port}`);
  t.is(out.status, 'ok');
  t.is(out.serverName, 'a.probe.test');
  const leafFp = await opensslFingerprints(pki.leafPath);
  const intFp = await opensslFingerprints(join(pki.dir, 'int.pem'));
  t.is(out.leaf.sha256, leafFp.sha256);
  t.is(out.leaf.sha1, leafFp.sha1);
  t.regex(out.leaf.sha256 as string, /^[0-9a-f]{64}$/);
  t.regex(out.leaf.sha1 as string, /^[0-9a-f]{40}$/);
  t.deepEqual(Object.keys(out.leaf).sort(), [
    'issuer',
    'notAfter',
    'notBefore',
    'sans',
    'serial',
    'sha1',
    'sha256',
    'subject',
  ]);
  t.regex(out.leaf.subject as string, /CN=a\.probe\.test/);
  t.true((out.leaf.sans as string[]).includes('DNS:a.probe.test'));
  t.deepEqual(
    out.chain.map((c) => c.sha256),
    [leafFp.sha256, intFp.sha256]
  );
  t.regex(out.chain[1]?.subject ?? '', /CN=CertFleet Probe Test Intermediate/);
  t.true(out.checks.length > 0);
  for (const c of out.checks)
    t.deepEqual(
      Object.keys(c)
        .filter((k) => k !== 'reason')
        .sort(),
      ['code', 'message', 'status']
    );
  t.regex(String(out.protocol), /^TLSv1\.[23]$/);
  t.truthy(out.cipher);
  t.true(out.timings.totalMs >= 0);
  t.is(out.error, undefined);
});

test('M2 cli probe --expect-sha256: a different certificate is failing (exit 1); the right one passes', async (t) => {
  const { pki, port, rootFile } = t.context;
  const leafFp = await opensslFingerprints(pki.leafPath);
  const wrong = await cli([
    `127.0.0.1:${port}`,
    '--servername',
    'a.probe.test',
    '--trust-set',
    rootFile,
    '--expect-sha256',
    'ab'.repeat(32),
    '--json',
  ]);
  t.is(wrong.code, 1, wrong.stderr);
  const w = JSON.parse(wrong.stdout) as { status: string; checks: { code: string; status: string }[] };
  t.is(w.status, 'failing');
  t.is(w.checks.find((c) => c.code === 'ServedCertMatchesCurrent')?.status, 'failing');
  const upper = leafFp.sha256.toUpperCase().match(/../g)?.join(':') ?? '';
  const right = await cli([
    `127.0.0.1:${port}`,
    '--servername',
    'a.probe.test',
    '--trust-set',
    rootFile,
    '--expect-sha256',
    upper,
    '--json',
  ]);
  t.is(right.code, 0, right.stdout);
  t.is((JSON.parse(right.stdout) as { status: string }).status, 'ok');
});

test('M6 cli probe: STARTTLS smtp and the system trust set (a private root is failing, exit 1)', async (t) => {
  const { pki } = t.context;
  const ctx = tls.createSecureContext({ cert: pki.fullchainPem, key: pki.leafKeyPem });
  const port = await listenOn(t.context.servers, fakeStartTlsServer(FAKE_DIALOGUES.smtp, ctx));
  const r = await cli([`127.0.0.1:${port}`, '--starttls', 'smtp', '--servername', 'a.probe.test', '--json']);
  t.is(r.code, 1, r.stderr);
  const out = JSON.parse(r.stdout) as { status: string; trustSet: { name: string }; leaf: { sha256: string } };
  t.is(out.status, 'failing');
  t.is(out.trustSet.name, 'system');
  t.is(out.leaf.sha256, (await opensslFingerprints(pki.leafPath)).sha256);
});

test('S1 cli probe: an unreachable endpoint is failing with the engine error; no SNI with --no-sni', async (t) => {
  const closed = net.createServer();
  const port = await listenOn([], closed);
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const r = await cli([`127.0.0.1:${port}`, '--timeout-ms', '2000', '--no-sni', '--json']);
  t.is(r.code, 1);
  const out = JSON.parse(r.stdout) as { status: string; error: { code: string }; leaf: unknown; chain: unknown[] };
  t.is(out.status, 'failing');
  t.is(out.error.code, 'ConnectRefused');
  t.is(out.leaf, null);
  t.deepEqual(out.chain, []);
});

test('S1 cli probe: usage errors exit 2 with one JSON error object', async (t) => {
  for (const args of [
    ['--json'],
    ['no-port', '--json'],
    ['127.0.0.1:0', '--json'],
    ['127.0.0.1:443', '--starttls', 'xmpp', '--json'],
    ['127.0.0.1:443', '--timeout-ms', 'soon', '--json'],
    ['127.0.0.1:443', '--servername', 'a', '--no-sni', '--json'],
    ['127.0.0.1:443', '--expect-sha256', 'xyz', '--json'],
    ['127.0.0.1:443', '--trust-set', 'intranet', '--json'],
    ['127.0.0.1:443', '--bogus', '--json'],
  ]) {
    const r = await cli(args);
    t.is(r.code, 2, args.join(' '));
    const out = JSON.parse(r.stdout) as { error: { code: string; message: string } };
    t.is(out.error.code, 'CF_VALIDATION', args.join(' '));
    t.regex(out.error.message, /^probe: /);
  }
});

test('S1 cli probe: HOST:PORT and [IPv6]:PORT endpoints', (t) => {
  t.deepEqual(parseEndpoint('mail.example.test:25'), { host: 'mail.example.test', port: 25 });
  t.deepEqual(parseEndpoint('[::1]:8443'), { host: '::1', port: 8443 });
  t.deepEqual(parseEndpoint('10.0.0.1:443'), { host: '10.0.0.1', port: 443 });
  for (const bad of ['::1:443', '[::1]', 'host', 'host:70000', '[not-v6]:443', 'host:'])
    t.throws(() => parseEndpoint(bad), undefined, bad);
});
