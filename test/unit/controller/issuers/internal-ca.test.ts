import { execFile } from 'node:child_process';
import {
  X509Certificate,
  createPrivateKey,
  createPublicKey,
  generateKeyPair as nodeGenerateKeyPair,
} from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { generateKeyPair, isCertFleetError, type GeneratedKeyPair, type KeySpec } from '@certfleet/shared';
import {
  createRootCa,
  issueServerCertificate,
  loadCa,
  type CreateRootCaResult,
  type IssueServerCertificateOptions,
} from '../../../../controller/src/issuers/internal-ca';
import { assertCommands, testNeeding } from '../../../_helpers/needs';

const execFileAsync = promisify(execFile);
const generateKeyPairAsync = promisify(nodeGenerateKeyPair);

interface Ctx {
  dir: string;
  now: Date;
  roots: Record<'EC-P384' | 'RSA-3072', CreateRootCaResult>;
  leafKeys: Record<'RSA-2048' | 'EC-P256', GeneratedKeyPair>;
}
const test = anyTest as TestFn<Ctx>;
const testOpenssl = testNeeding<Ctx>(['openssl']);

const NOW = new Date('2026-11-25T20:10:00.000Z');
const SANS: IssueServerCertificateOptions['sans'] = [
  { type: 'dns', value: 'app.test.internal' },
  { type: 'dns', value: '*.svc.test.internal' },
  { type: 'ip', value: '127.0.0.1' },
  { type: 'ip', value: '::1' },
];

test.before(async (t) => {
  const [ec, rsa, leafRsa, leafEc] = await Promise.all([
    createRootCa({ now: NOW }),
    createRootCa({ now: NOW, keySpec: 'RSA-3072', organization: 'CertFleet Test, Inc.' }),
    generateKeyPair('RSA-2048'),
    generateKeyPair('EC-P256'),
  ]);
  t.context = {
    dir: await mkdtemp(join(tmpdir(), 'certfleet-internal-ca-')),
    now: NOW,
    roots: { 'EC-P384': ec, 'RSA-3072': rsa },
    leafKeys: { 'RSA-2048': leafRsa, 'EC-P256': leafEc },
  };
});

test.after.always(async (t) => {
  if (t.context.dir) await rm(t.context.dir, { recursive: true, force: true });
});

let fileCounter = 0;
async function tempFile(t: ExecutionContext<Ctx>, name: string, contents: string): Promise<string> {
  const path = join(t.context.dir, `${++fileCounter}-${name}`);
  await writeFile(path, contents);
  return path;
}

async function openssl(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('openssl', args);
  return stdout;
}

/** Asserts `promise` rejects with a CertFleetError of `code` and returns it. */
async function rejectsWith(
  t: ExecutionContext<Ctx>,
  promise: Promise<unknown>,
  code: string,
  message?: RegExp
): Promise<Error & { code?: string; details?: Record<string, unknown> }> {
  const err = await t.throwsAsync(promise);
  t.true(isCertFleetError(err), `a CertFleetError (got ${String(err)})`);
  t.is((err as { code?: string }).code, code);
  if (message) t.regex(err?.message ?? '', message);
  return err as Error & { code?: string };
}

function issueOpts(
  t: ExecutionContext<Ctx>,
  over: Partial<IssueServerCertificateOptions> = {}
): IssueServerCertificateOptions {
  return {
    ca: t.context.roots['EC-P384'],
    subjectPublicKeyPem: t.context.leafKeys['EC-P256'].publicKeyPem,
    subject: { commonName: 'app.test.internal' },
    sans: SANS,
    now: t.context.now,
    validityDays: 90,
    ...over,
  };
}

/** Handshake against a TLS server holding `cert`/`key`; resolves with the client's view. */
async function handshake(
  cert: string,
  key: string,
  connect: tls.ConnectionOptions
): Promise<{ authorized: boolean; error?: string }> {
  const server = tls.createServer({ cert, key }, (socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  try {
    return await new Promise((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ...connect });
      socket.once('secureConnect', () => {
        resolve({ authorized: socket.authorized });
        socket.destroy();
      });
      socket.once('error', (err: Error & { code?: string }) =>
        resolve({ authorized: false, error: err.code ?? err.message })
      );
    });
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// C1 root CA

test('C1 root CA has a unique DN with a timestamp', async (t) => {
  const root = t.context.roots['EC-P384'];
  t.is(root.subject, 'CN=CertFleet Root CA 2026-11-25T20:10:00Z, O=CertFleet');
  const x = new X509Certificate(root.certificatePem);
  t.is(x.subject, 'O=CertFleet\nCN=CertFleet Root CA 2026-11-25T20:10:00Z');
  t.is(x.issuer, x.subject, 'self-signed');

  const rsa = t.context.roots['RSA-3072'];
  t.is(rsa.subject, 'CN=CertFleet Root CA 2026-11-25T20:10:00Z, O=CertFleet Test\\, Inc.', 'RFC 4514 escaping');
});

testOpenssl('C1 two roots created 1 s apart have different DNs; in the same second different serials', async (t) => {
  assertCommands(['openssl']);
  const [a, b, c] = await Promise.all([
    createRootCa({ now: new Date('2026-11-25T20:10:00.100Z'), keySpec: 'EC-P256' }),
    createRootCa({ now: new Date('2026-11-25T20:10:01.100Z'), keySpec: 'EC-P256' }),
    createRootCa({ now: new Date('2026-11-25T20:10:00.900Z'), keySpec: 'EC-P256' }),
  ]);
  const subjectOf = async (pem: string): Promise<string> =>
    (
      await openssl('x509', '-in', await tempFile(t, 'root.pem', pem), '-noout', '-subject', '-nameopt', 'RFC2253')
    ).trim();
  const serialOf = async (pem: string): Promise<string> =>
    (await openssl('x509', '-in', await tempFile(t, 'root.pem', pem), '-noout', '-serial')).trim();

  t.not(await subjectOf(a.certificatePem), await subjectOf(b.certificatePem));
  t.is(await subjectOf(a.certificatePem), 'subject=CN=CertFleet Root CA 2026-11-25T20:10:00Z,O=CertFleet');
  t.is(await subjectOf(b.certificatePem), 'subject=CN=CertFleet Root CA 2026-11-25T20:10:01Z,O=CertFleet');
  t.is(a.subject, c.subject, 'same second, same DN');
  t.not(await serialOf(a.certificatePem), await serialOf(c.certificatePem));
  t.not(a.serial, c.serial);
  t.is(await serialOf(a.certificatePem), `serial=${a.serial}`);
});

for (const spec of ['EC-P384', 'RSA-3072'] as const) {
  testOpenssl(
    `C1 ${spec} root: CA:TRUE critical, keyCertSign+cRLSign critical, SKI, random ≥64-bit serial, signature`,
    async (t) => {
      assertCommands(['openssl']);
      const root = t.context.roots[spec];
      const file = await tempFile(t, 'root.pem', root.certificatePem);
      const text = await openssl('x509', '-in', file, '-noout', '-text');
      t.regex(text, /X509v3 Basic Constraints: critical\s+CA:TRUE\s*\n/);
      t.regex(text, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign\s*\n/);
      t.regex(text, /X509v3 Subject Key Identifier:\s*\n\s+[0-9A-F:]{59}\n/);
      t.regex(
        text,
        spec === 'EC-P384' ? /Signature Algorithm: ecdsa-with-SHA384/ : /Signature Algorithm: sha256WithRSAEncryption/
      );
      t.regex(text, spec === 'EC-P384' ? /NIST CURVE: P-384/ : /Public-Key: \(3072 bit\)/);
      // a self-signed root verifies against itself, and is accepted as a CA by -x509_strict
      await t.notThrowsAsync(openssl('verify', '-x509_strict', '-CAfile', file, file));

      t.regex(root.serial, /^[4-7][0-9A-F]{31}$/, '128-bit positive serial, no sign padding');
      const x = new X509Certificate(root.certificatePem);
      t.is(x.serialNumber, root.serial);
      t.true(x.ca);
      t.true(x.checkIssued(x));
      t.true(x.verify(x.publicKey));
      t.true(x.checkPrivateKey(createPrivateKey(root.privateKeyPem)));
      t.true(root.privateKeyPem.startsWith('-----BEGIN PRIVATE KEY-----'));
      t.is(root.keySpec, spec);
      t.is(new Date(x.validFrom).toISOString(), '2026-11-25T20:05:00.000Z', 'now − 5 min');
      t.is(new Date(x.validTo).toISOString(), '2036-11-25T20:10:00.000Z', 'default 10 years');
    }
  );
}

test('C1 root CA options: validityYears, organization and bad input', async (t) => {
  const root = await createRootCa({ now: NOW, keySpec: 'EC-P256', validityYears: 30, organization: 'Acme' });
  const x = new X509Certificate(root.certificatePem);
  t.is(new Date(x.validTo).toISOString(), '2056-11-25T20:10:00.000Z', 'after 2049: GeneralizedTime');
  t.is(x.subject, 'O=Acme\nCN=CertFleet Root CA 2026-11-25T20:10:00Z');
  await rejectsWith(t, createRootCa({ now: NOW, validityYears: 0 }), 'CF_VALIDATION', /^internal-ca: .*validityYears/);
  await rejectsWith(t, createRootCa({ now: NOW, organization: '' }), 'CF_VALIDATION', /organization/);
  await rejectsWith(t, createRootCa({ now: new Date('nope') }), 'CF_VALIDATION', /now/);
  await rejectsWith(t, createRootCa({ now: NOW, keySpec: 'RSA-1024' as KeySpec }), 'CF_VALIDATION', /keySpec/);
});

// ---------------------------------------------------------------------------------------------------------------
// C2 / U3 server certificates: every root × leaf key

for (const rootSpec of ['EC-P384', 'RSA-3072'] as const) {
  for (const leafSpec of ['RSA-2048', 'EC-P256'] as const) {
    const title = `${leafSpec} leaf under ${rootSpec} root`;

    testOpenssl(`C2 ${title}: openssl verify, CA:FALSE, serverAuth, SANs, key usage`, async (t) => {
      assertCommands(['openssl']);
      const root = t.context.roots[rootSpec];
      const leafKey = t.context.leafKeys[leafSpec];
      const leaf = await issueServerCertificate(
        issueOpts(t, {
          ca: root,
          subjectPublicKeyPem: leafKey.publicKeyPem,
          subject: { commonName: 'app.test.internal', organization: 'Acme', country: 'JP' },
        })
      );
      const rootFile = await tempFile(t, 'root.pem', root.certificatePem);
      const leafFile = await tempFile(t, 'leaf.pem', leaf.certificatePem);

      const verified = await openssl('verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', rootFile, leafFile);
      t.is(verified.trim(), `${leafFile}: OK`);

      const text = await openssl('x509', '-in', leafFile, '-noout', '-text');
      t.regex(text, /X509v3 Basic Constraints: critical\s+CA:FALSE\s*\n/);
      t.regex(text, /X509v3 Extended Key Usage:\s*\n\s+TLS Web Server Authentication\s*\n/);
      t.regex(
        text,
        /X509v3 Subject Alternative Name:\s*\n\s+DNS:app\.test\.internal, DNS:\*\.svc\.test\.internal, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1\s*\n/
      );
      t.regex(
        text,
        leafSpec === 'RSA-2048'
          ? /X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment\s*\n/
          : /X509v3 Key Usage: critical\s+Digital Signature\s*\n/
      );
      t.regex(text, /X509v3 Authority Key Identifier:\s*\n\s+[0-9A-F:]{59}\n/);
      t.regex(text, /X509v3 Subject Key Identifier:\s*\n\s+[0-9A-F:]{59}\n/);
      t.regex(
        text,
        rootSpec === 'EC-P384'
          ? /Signature Algorithm: ecdsa-with-SHA384/
          : /Signature Algorithm: sha256WithRSAEncryption/
      );
      t.regex(text, /Subject: C = JP, O = Acme, CN = app\.test\.internal\n/);
      t.regex(text, /Issuer: O = "?CertFleet[^\n]*, CN = CertFleet Root CA 2026-11-25T20:10:00Z\n/);

      const rootText = await openssl('x509', '-in', rootFile, '-noout', '-text');
      t.regex(rootText, /CA:TRUE/);
    });

    test(`C2 ${title}: Node checkIssued/verify, validity window, serial`, async (t) => {
      const root = t.context.roots[rootSpec];
      const leafKey = t.context.leafKeys[leafSpec];
      const leaf = await issueServerCertificate(issueOpts(t, { ca: root, subjectPublicKeyPem: leafKey.publicKeyPem }));
      const x = new X509Certificate(leaf.certificatePem);
      const r = new X509Certificate(root.certificatePem);
      t.true(x.checkIssued(r));
      t.true(x.verify(r.publicKey));
      t.false(x.ca);
      t.is(x.serialNumber, leaf.serial);
      t.regex(leaf.serial, /^[4-7][0-9A-F]{31}$/);
      t.true(x.publicKey.equals(createPublicKey(leafKey.publicKeyPem)), 'the caller key is the subject key');
      t.is(x.checkHost('app.test.internal'), 'app.test.internal');
      t.is(x.checkHost('api.svc.test.internal'), '*.svc.test.internal', 'checkHost returns the matching SAN');
      t.is(x.checkHost('other.test.internal'), undefined);
      t.is(x.checkIP('127.0.0.1'), '127.0.0.1');
      t.deepEqual(x.keyUsage, ['1.3.6.1.5.5.7.3.1']);
      t.is(new Date(x.validFrom).toISOString(), '2026-11-25T20:05:00.000Z', 'now − 5 min clock skew');
      t.is(new Date(x.validTo).toISOString(), '2027-02-23T20:10:00.000Z', 'now + 90 days');
      t.deepEqual(leaf.notBefore, new Date(x.validFrom));
      t.deepEqual(leaf.notAfter, new Date(x.validTo));
    });

    test(`U3 C2 ${title}: TLS handshake with ca=root and servername is authorized`, async (t) => {
      const leafKey = t.context.leafKeys[leafSpec];
      // The handshake checks validity at the real time, so this root and leaf are made at the real time too.
      const ca = await createRootCa({ now: new Date(), keySpec: rootSpec });
      const leaf = await issueServerCertificate(
        issueOpts(t, { ca, subjectPublicKeyPem: leafKey.publicKeyPem, now: new Date(), validityDays: 1 })
      );
      const bySni = await handshake(leaf.certificatePem, leafKey.privateKeyPem, {
        ca: ca.certificatePem,
        servername: 'app.test.internal',
      });
      t.deepEqual(bySni, { authorized: true });
      const byWildcard = await handshake(leaf.certificatePem, leafKey.privateKeyPem, {
        ca: ca.certificatePem,
        servername: 'db.svc.test.internal',
      });
      t.deepEqual(byWildcard, { authorized: true });
      const byIp = await handshake(leaf.certificatePem, leafKey.privateKeyPem, { ca: ca.certificatePem });
      t.deepEqual(byIp, { authorized: true }, 'IP SAN 127.0.0.1');
      const wrongName = await handshake(leaf.certificatePem, leafKey.privateKeyPem, {
        ca: ca.certificatePem,
        servername: 'evil.example.com',
      });
      t.is(wrongName.error, 'ERR_TLS_CERT_ALTNAME_INVALID');
      const otherRoot = await handshake(leaf.certificatePem, leafKey.privateKeyPem, {
        ca: t.context.roots['EC-P384'].certificatePem,
        servername: 'app.test.internal',
      });
      t.false(otherRoot.authorized, 'another CertFleet root (different DN and key) is not trusted');
    });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// C2 validation

test('C2 validity is capped by the CA notAfter; CA not valid at now → CF_VALIDATION', async (t) => {
  const shortRoot = await createRootCa({ now: NOW, keySpec: 'EC-P256', validityYears: 1 });
  const leaf = await issueServerCertificate(issueOpts(t, { ca: shortRoot, validityDays: 3650 }));
  t.deepEqual(leaf.notAfter, new Date('2027-11-25T20:10:00.000Z'));
  t.is(new Date(new X509Certificate(leaf.certificatePem).validTo).toISOString(), '2027-11-25T20:10:00.000Z');

  await rejectsWith(
    t,
    issueServerCertificate(issueOpts(t, { ca: shortRoot, now: new Date('2028-01-01T00:00:00Z') })),
    'CF_VALIDATION',
    /^internal-ca: CA certificate is not valid at/
  );
  await rejectsWith(
    t,
    issueServerCertificate(issueOpts(t, { ca: shortRoot, now: new Date('2026-01-01T00:00:00Z') })),
    'CF_VALIDATION',
    /not valid at/
  );
});

test('C2 bad SAN input → CF_VALIDATION naming the value', async (t) => {
  const badDns = [
    '',
    'foo..example.com',
    '-a.example.com',
    'a-.example.com',
    'exa mple.com',
    'under_score.example.com',
    'example.com.',
    `${'a'.repeat(64)}.example.com`,
    `${'abcdefghi.'.repeat(26)}com`,
    '*.com',
    '*',
    'f*o.example.com',
    '*foo.example.com',
    'a.*.example.com',
    '*.*.example.com',
    'bücher.example',
    '1.2.3.4',
    '10.0.0',
    'https://example.com',
  ];
  for (const value of badDns) {
    const err = await rejectsWith(
      t,
      issueServerCertificate(issueOpts(t, { sans: [{ type: 'dns', value }] })),
      'CF_VALIDATION'
    );
    t.regex(err.message, /^internal-ca: invalid certificate request: sans\.0\.value: DNS name /, value);
  }
  const badIp = ['256.1.1.1', '01.2.3.4', '1.2.3', 'fe80::1%eth0', '::g', 'localhost', '', '1.2.3.4/32', '[::1]'];
  for (const value of badIp) {
    const err = await rejectsWith(
      t,
      issueServerCertificate(issueOpts(t, { sans: [{ type: 'ip', value }] })),
      'CF_VALIDATION'
    );
    t.regex(err.message, /sans\.0\.value: ".*" is not an IPv4 or IPv6 address/, value);
  }
  await rejectsWith(t, issueServerCertificate(issueOpts(t, { sans: [] })), 'CF_VALIDATION', /at least one SAN/);
  await rejectsWith(
    t,
    issueServerCertificate(issueOpts(t, { sans: [{ type: 'uri', value: 'https://x' } as never] })),
    'CF_VALIDATION',
    /sans\.0\.type/
  );
});

test('C2 SANs: accepted forms are normalised and de-duplicated', async (t) => {
  const leaf = await issueServerCertificate(
    issueOpts(t, {
      sans: [
        { type: 'dns', value: 'WWW.Example.COM' },
        { type: 'dns', value: 'www.example.com' },
        { type: 'dns', value: 'intranet' },
        { type: 'dns', value: 'xn--bcher-kva.example' },
        { type: 'dns', value: '*.example.com' },
        { type: 'dns', value: '3com.example' },
        { type: 'ip', value: '0:0:0:0:0:0:0:1' },
        { type: 'ip', value: '::1' },
        { type: 'ip', value: '2001:DB8::1' },
        { type: 'ip', value: '::ffff:192.0.2.1' },
        { type: 'ip', value: '192.0.2.1' },
      ],
    })
  );
  t.is(
    new X509Certificate(leaf.certificatePem).subjectAltName,
    'DNS:www.example.com, DNS:intranet, DNS:xn--bcher-kva.example, DNS:*.example.com, DNS:3com.example, ' +
      'IP Address:0:0:0:0:0:0:0:1, IP Address:2001:DB8:0:0:0:0:0:1, IP Address:0:0:0:0:0:FFFF:C000:201, IP Address:192.0.2.1'
  );
});

test('C2 bad subject, validity, serial and time → CF_VALIDATION with the field path', async (t) => {
  const cases: Array<[Partial<IssueServerCertificateOptions>, RegExp]> = [
    [{ subject: { commonName: '' } }, /subject\.commonName/],
    [{ subject: { commonName: 'x'.repeat(65) } }, /subject\.commonName/],
    [{ subject: { commonName: 'a\nb' } }, /subject\.commonName: must not contain control characters/],
    [{ subject: { commonName: 'ok', country: 'jp' } }, /subject\.country/],
    [{ subject: { commonName: 'ok', country: 'JPN' } }, /subject\.country/],
    [{ subject: { commonName: 'ok', emailAddress: 'a@b' } as never }, /subject/],
    [{ validityDays: 0 }, /validityDays/],
    [{ validityDays: -1 }, /validityDays/],
    [{ validityDays: Number.NaN }, /validityDays/],
    [{ validityDays: 3651 }, /validityDays/],
    [{ serial: 'xyz' }, /serial/],
    [{ serial: '000' }, /serial: must not be zero/],
    [{ serial: 'F'.repeat(40) }, /serial: must fit in 20 octets/],
    [{ now: new Date('garbage') }, /now/],
  ];
  for (const [over, message] of cases) {
    const err = await rejectsWith(t, issueServerCertificate(issueOpts(t, over)), 'CF_VALIDATION', message);
    t.regex(err.message, /^internal-ca: invalid certificate request: /);
    t.truthy(err.details?.issues);
  }
});

test('C2 DN values are literal: separators in values do not create attributes', async (t) => {
  const leaf = await issueServerCertificate(
    issueOpts(t, {
      subject: {
        commonName: 'a, b+c=#x',
        organization: 'Acme, Inc.',
        organizationalUnit: 'Ops',
        locality: 'Chiyoda-ku',
        state: 'Tokyo',
        country: 'JP',
      },
    })
  );
  const x = new X509Certificate(leaf.certificatePem);
  t.is(x.subject, 'C=JP\nST=Tokyo\nL=Chiyoda-ku\nO=Acme\\, Inc.\nOU=Ops\nCN=a\\, b\\+c=#x');
});

test('C2 only the public key comes from the caller: private keys, certificates and garbage are refused', async (t) => {
  const { leafKeys, roots } = t.context;
  await rejectsWith(
    t,
    issueServerCertificate(issueOpts(t, { subjectPublicKeyPem: leafKeys['EC-P256'].privateKeyPem })),
    'CF_VALIDATION',
    /must be a PUBLIC KEY PEM, got PRIVATE KEY/
  );
  await rejectsWith(
    t,
    issueServerCertificate(issueOpts(t, { subjectPublicKeyPem: roots['EC-P384'].certificatePem })),
    'CF_VALIDATION',
    /got CERTIFICATE/
  );
  await rejectsWith(
    t,
    issueServerCertificate(
      issueOpts(t, { subjectPublicKeyPem: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n' })
    ),
    'CF_VALIDATION',
    /not a readable public key/
  );
  // PKCS#1 RSA public keys are accepted and re-encoded as SPKI
  const pkcs1 = createPublicKey(leafKeys['RSA-2048'].publicKeyPem).export({ type: 'pkcs1', format: 'pem' }).toString();
  const leaf = await issueServerCertificate(issueOpts(t, { subjectPublicKeyPem: pkcs1 }));
  t.true(new X509Certificate(leaf.certificatePem).publicKey.equals(createPublicKey(leafKeys['RSA-2048'].publicKeyPem)));
});

test('C2 unsupported subject key algorithms → CF_IMPORT_UNSUPPORTED_ALGORITHM', async (t) => {
  const keys = await Promise.all([
    generateKeyPairAsync('rsa', { modulusLength: 1024 }),
    generateKeyPairAsync('ed25519'),
    generateKeyPairAsync('ec', { namedCurve: 'secp521r1' }),
  ]);
  for (const { publicKey } of keys) {
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    await rejectsWith(
      t,
      issueServerCertificate(issueOpts(t, { subjectPublicKeyPem: pem })),
      'CF_IMPORT_UNSUPPORTED_ALGORITHM',
      /^internal-ca: /
    );
  }
});

test('C2 an unusable CA is refused: leaf as CA, key mismatch, garbage', async (t) => {
  const { roots, leafKeys } = t.context;
  const leaf = await issueServerCertificate(issueOpts(t));
  await rejectsWith(
    t,
    issueServerCertificate(
      issueOpts(t, { ca: { certificatePem: leaf.certificatePem, privateKeyPem: leafKeys['EC-P256'].privateKeyPem } })
    ),
    'CF_VALIDATION',
    /lacks basicConstraints CA:TRUE/
  );
  await rejectsWith(
    t,
    issueServerCertificate(
      issueOpts(t, {
        ca: { certificatePem: roots['EC-P384'].certificatePem, privateKeyPem: roots['RSA-3072'].privateKeyPem },
      })
    ),
    'CF_VALIDATION',
    /private key does not match/
  );
  await rejectsWith(
    t,
    issueServerCertificate(
      issueOpts(t, { ca: { certificatePem: 'nope', privateKeyPem: roots['EC-P384'].privateKeyPem } })
    ),
    'CF_VALIDATION',
    /not a readable X\.509 certificate/
  );
  await rejectsWith(
    t,
    issueServerCertificate(
      issueOpts(t, { ca: { certificatePem: roots['EC-P384'].certificatePem, privateKeyPem: 'nope' } })
    ),
    'CF_VALIDATION',
    /CA private key is not a readable/
  );
});

test('C2 explicit serial is used as given (normalised); random serials differ', async (t) => {
  const a = await issueServerCertificate(issueOpts(t, { serial: '00c0ffee' }));
  t.is(a.serial, 'C0FFEE');
  t.is(new X509Certificate(a.certificatePem).serialNumber, 'C0FFEE');
  const max = `7${'F'.repeat(39)}`;
  const b = await issueServerCertificate(issueOpts(t, { serial: max }));
  t.is(new X509Certificate(b.certificatePem).serialNumber, max);
  const [c, d] = await Promise.all([issueServerCertificate(issueOpts(t)), issueServerCertificate(issueOpts(t))]);
  t.not(c.serial, d.serial);
});

test('C2 a CA loaded once with loadCa signs the same certificates, faster', async (t) => {
  const root = t.context.roots['EC-P384'];
  const loaded = await loadCa(root);
  const r = new X509Certificate(root.certificatePem);
  const n = 50;
  let t0 = performance.now();
  for (let i = 0; i < n; i++) await issueServerCertificate(issueOpts(t, { ca: root }));
  const pemMs = (performance.now() - t0) / n;
  t0 = performance.now();
  let last = '';
  for (let i = 0; i < n; i++) last = (await issueServerCertificate(issueOpts(t, { ca: loaded }))).certificatePem;
  const loadedMs = (performance.now() - t0) / n;
  t.log(`EC-P384 CA, EC-P256 leaf: ${pemMs.toFixed(2)} ms/issuance from PEM, ${loadedMs.toFixed(2)} ms with loadCa`);
  t.true(new X509Certificate(last).checkIssued(r));
  t.true(new X509Certificate(last).verify(r.publicKey));
});
