/**
 * `certfleet inspect` (SPEC I1, I3) in a real process: with --json, stdout holds exactly one JSON object (the result
 * or the error), keys exactly as documented, leaf first; exit 0 / 2 / 64. The command is run through
 * `inspectCommand().parseAsync(...)`, as the `certfleet` program mounts it, so `process.exitCode` is what the shell
 * sees.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { runInspect } from '../../../controller/src/cli/commands/inspect';
import { type Fixtures, PASSWORDS, getFixtures, opensslFacts } from '../../_helpers/fixtures';

const test = anyTest as TestFn<{ fx: Fixtures }>;

const ROOT = join(__dirname, '..', '..', '..');
const RUNNER = `require(${JSON.stringify(join(ROOT, 'controller/src/cli/commands/inspect.ts'))}).inspectCommand().parseAsync(process.argv.slice(1), { from: 'user' })`;
const RESULT_KEYS = ['certificates', 'format', 'privateKey'];
const CERTIFICATE_KEYS = [
  'issuer',
  'keyAlgorithm',
  'notAfter',
  'notBefore',
  'sans',
  'serial',
  'sha1',
  'sha256',
  'subject',
];

interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

// Node + tsx start-up dominates; a few processes at a time keep a 2-core runner responsive.
let running = 0;
const waiting: (() => void)[] = [];
async function cli(args: string[]): Promise<CliRun> {
  if (running >= 4) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await new Promise<CliRun>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', '-e', RUNNER, '--', ...args],
        { cwd: ROOT, encoding: 'utf8' },
        (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
          resolve({ code, stdout, stderr });
        }
      );
    });
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/** Parses stdout as exactly one JSON object (trailing newline allowed, nothing else). */
function onlyJsonObject(t: ExecutionContext, stdout: string): Record<string, unknown> {
  t.true(stdout.endsWith('\n'), 'stdout ends with a newline');
  const value: unknown = JSON.parse(stdout); // throws on a second object or any stray text
  t.true(typeof value === 'object' && value !== null && !Array.isArray(value), 'stdout is one JSON object');
  return value as Record<string, unknown>;
}

test.before(async (t) => {
  t.context.fx = await getFixtures();
});

type Case = [
  label: string,
  format: string,
  file: (fx: Fixtures) => string,
  args: (fx: Fixtures) => string[],
  withKey: boolean,
  withChain: boolean,
];

for (const family of ['rsa', 'ec'] as const) {
  const F = family.toUpperCase();
  const cases: Case[] = [
    ['PEM bundle', 'pem', (fx) => fx[family].shuffledBundle, () => [], true, true],
    [
      'PEM + --key + --chain',
      'pem',
      (fx) => fx[family].leaf,
      (fx) => ['--key', fx[family].leafKeyEncrypted, '--key-password', PASSWORDS.key, '--chain', fx[family].chain],
      true,
      true,
    ],
    ['DER .cer', 'der', (fx) => fx[family].leafDer, () => [], false, false],
    ['PKCS#7 PEM', 'pkcs7', (fx) => fx[family].p7bPem, () => [], false, true],
    ['PKCS#7 DER', 'pkcs7', (fx) => fx[family].p7bDer, () => [], false, true],
    ['PKCS#12 OpenSSL default', 'pkcs12', (fx) => fx[family].p12, () => ['--password', PASSWORDS.p12], true, true],
    [
      'PKCS#12 OpenSSL -legacy',
      'pkcs12',
      (fx) => fx[family].p12Legacy,
      () => ['--password', PASSWORDS.p12],
      true,
      true,
    ],
    ['PKCS#12 keytool', 'pkcs12', (fx) => fx[family].p12Keytool, () => ['--password', PASSWORDS.p12], true, true],
    [
      'JKS',
      'jks',
      (fx) => fx[family].jks,
      () => ['--password', PASSWORDS.jksStore, '--key-password', PASSWORDS.jksKey],
      true,
      true,
    ],
  ];
  for (const [label, format, file, args, withKey, withChain] of cases) {
    test(`I1 inspect --json: ${label} (${F}) prints one JSON object, leaf first`, async (t) => {
      const { fx } = t.context;
      const run = await cli([file(fx), ...args(fx), '--json']);
      t.is(run.code, 0, run.stderr);
      t.is(run.stderr, '');
      const result = onlyJsonObject(t, run.stdout);
      t.deepEqual(Object.keys(result).sort(), RESULT_KEYS);
      t.is(result.format, format);
      const certificates = result.certificates as Record<string, unknown>[];
      const expected = withChain ? [fx[family].leaf, fx[family].intermediate, fx[family].root] : [fx[family].leaf];
      t.is(certificates.length, expected.length);
      certificates.forEach((certificate, i) => {
        t.deepEqual(Object.keys(certificate).sort(), CERTIFICATE_KEYS);
        t.deepEqual(certificate, { ...opensslFacts(expected[i] as string) });
      });
      const leafFacts = opensslFacts(fx[family].leaf);
      t.deepEqual(result.privateKey, withKey ? { algorithm: leafFacts.keyAlgorithm, matchesCertificate: true } : null);
      for (const secret of Object.values(PASSWORDS)) t.false(run.stdout.includes(secret));
      t.false(run.stdout.includes('PRIVATE KEY'));
    });
  }
}

test('I3 inspect --json error: wrong password → exit 2 and one {"error"} object on stdout', async (t) => {
  const run = await cli([t.context.fx.ec.p12, '--password', 'not-the-password', '--json']);
  t.is(run.code, 2);
  const body = onlyJsonObject(t, run.stdout);
  t.deepEqual(Object.keys(body), ['error']);
  const error = body.error as Record<string, unknown>;
  t.deepEqual(Object.keys(error).sort(), ['code', 'message']);
  t.is(error.code, 'CF_IMPORT_WRONG_PASSWORD');
  t.false(run.stdout.includes('not-the-password'));
});

test('I3 inspect --json errors for every failing input class exit 2 with their CF_IMPORT code', async (t) => {
  const { fx } = t.context;
  const cases: [string[], string][] = [
    [[fx.rsa.p12], 'CF_IMPORT_PASSWORD_REQUIRED'],
    [[fx.truncatedDer], 'CF_IMPORT_CORRUPT'],
    [[fx.notCertificates], 'CF_IMPORT_UNKNOWN_FORMAT'],
    [[fx.tooLarge], 'CF_IMPORT_TOO_LARGE'],
    [[fx.longChain], 'CF_IMPORT_CHAIN_TOO_LONG'],
    [[fx.dsaCert], 'CF_IMPORT_UNSUPPORTED_ALGORITHM'],
    [[fx.p12MacIterTooHigh, '--password', PASSWORDS.p12], 'CF_IMPORT_ITERATIONS_TOO_HIGH'],
    [[fx.rsa.leafKey], 'CF_IMPORT_NO_CERTIFICATE'],
    [[join(fx.dir, 'does-not-exist.pem')], 'CF_NOT_FOUND'],
  ];
  const runs = await Promise.all(cases.map(([args]) => cli([...args, '--json'])));
  runs.forEach((run, i) => {
    const expected = (cases[i] as [string[], string])[1];
    t.is(run.code, 2, expected);
    t.is((onlyJsonObject(t, run.stdout).error as { code: string }).code, expected);
  });
});

test('I3 inspect reports a key that does not match as matchesCertificate: false (exit 0)', async (t) => {
  const { fx } = t.context;
  const run = await cli([fx.rsa.leaf, '--key', fx.rsa.otherKey, '--json']);
  t.is(run.code, 0);
  t.deepEqual(onlyJsonObject(t, run.stdout).privateKey, { algorithm: 'RSA-2048', matchesCertificate: false });
});

test('I3 inspect usage errors exit 64 (JSON error with --json, one line on stderr without)', async (t) => {
  const { fx } = t.context;
  const [missing, unknown, noValue, human] = await Promise.all([
    cli(['--json']),
    cli([fx.rsa.leaf, '--bogus', '--json']),
    cli([fx.rsa.p12, '--json', '--password']),
    cli([fx.rsa.leaf, fx.ec.leaf]),
  ]);
  for (const run of [missing, unknown, noValue]) {
    t.is(run.code, 64, run.stdout);
    t.is((onlyJsonObject(t, run.stdout).error as { code: string }).code, 'CF_VALIDATION');
  }
  t.is(human.code, 64);
  t.is(human.stdout, '');
  t.regex(human.stderr, /^certfleet inspect: CF_VALIDATION: inspect: expected one FILE, got 2 \(see --help\)\n$/);
});

test('I1 inspect without --json prints a readable summary; errors are one line on stderr', async (t) => {
  const { fx } = t.context;
  const [ok, bad] = await Promise.all([
    cli([fx.ec.jks, '--password', PASSWORDS.jksStore, '--key-password', PASSWORDS.jksKey]),
    cli([fx.ec.jks, '--password', 'wrong-store-password']),
  ]);
  t.is(ok.code, 0);
  t.regex(ok.stdout, /Java KeyStore, 3 certificates, private key EC-P256 \(matches the leaf\)/);
  t.true(ok.stdout.includes(`leaf: ${opensslFacts(fx.ec.leaf).subject}`));
  t.true(ok.stdout.includes(opensslFacts(fx.ec.root).sha256));
  t.is(bad.code, 2);
  t.is(bad.stdout, '');
  t.regex(bad.stderr, /^certfleet inspect: CF_IMPORT_WRONG_PASSWORD: import\(jks\): [^\n]+\n$/);
});

test('I1 runInspect (in process) returns the exit code and reads --password-file', async (t) => {
  const { fx } = t.context;
  const out: string[] = [];
  const err: string[] = [];
  const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } };
  const passwordFile = join(fx.dir, 'p12-password.txt');
  await import('node:fs/promises').then((fs) => fs.writeFile(passwordFile, `${PASSWORDS.p12}\n`));
  t.is(await runInspect([fx.ec.p12Legacy, '--password-file', passwordFile, '--json'], io), 0);
  t.is((JSON.parse(out.join('')) as { format: string }).format, 'pkcs12');
  t.deepEqual(err, []);
  t.is(await runInspect(['--help'], io), 0);
  t.is(await runInspect([fx.ec.p12, '--password', 'x', '--password-file', passwordFile], io), 64);
});
