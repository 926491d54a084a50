import { execFile } from 'node:child_process';
import { X509Certificate, createPublicKey } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { KEY_SPECS, generateKeyPair, isCertFleetError } from '@certfleet/shared';
import {
  createCsr,
  createRootCa,
  issueServerCertificate,
  publicKeyFromCsr,
  type CreateRootCaResult,
} from '../../../../controller/src/issuers/internal-ca';
import { assertCommands, testNeeding } from '../../../_helpers/needs';

const execFileAsync = promisify(execFile);

interface Ctx {
  dir: string;
  root: CreateRootCaResult;
}
const test = anyTest as TestFn<Ctx>;
const testOpenssl = testNeeding<Ctx>(['openssl']);
const NOW = new Date('2026-11-25T20:10:00.000Z');

test.before(async (t) => {
  t.context = {
    dir: await mkdtemp(join(tmpdir(), 'certfleet-csr-')),
    root: await createRootCa({ now: NOW, keySpec: 'EC-P256' }),
  };
});
test.after.always(async (t) => {
  if (t.context.dir) await rm(t.context.dir, { recursive: true, force: true });
});

let n = 0;
async function file(t: ExecutionContext<Ctx>, name: string, contents: string | Buffer): Promise<string> {
  const path = join(t.context.dir, `${++n}-${name}`);
  await writeFile(path, contents);
  return path;
}
async function openssl(...args: string[]): Promise<string> {
  const { stdout, stderr } = await execFileAsync('openssl', args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout + stderr;
}
function expectCode(t: ExecutionContext<Ctx>, fn: () => unknown, code: string, message?: RegExp): void {
  const err = t.throws(fn);
  t.true(isCertFleetError(err), `CertFleetError expected, got ${String(err)}`);
  t.is((err as { code?: string }).code, code);
  if (message) t.regex(err?.message ?? '', message);
}

testOpenssl(
  'A1 A2 a hostile CSR (CA:TRUE, 500 SANs, anyExtendedKeyUsage, its own subject) yields only its public key: the certificate has none of it',
  async (t) => {
    assertCommands(['openssl']);
    const keyFile = await file(t, 'hostile.key', (await generateKeyPair('EC-P256')).privateKeyPem);
    const sans = Array.from({ length: 500 }, (_, i) => `DNS:evil${i}.attacker.example`).join(',');
    const cnf = await file(
      t,
      'hostile.cnf',
      [
        '[req]',
        'distinguished_name = dn',
        'req_extensions = ext',
        'prompt = no',
        '[dn]',
        'CN = Evil Intermediate CA',
        'O = Attacker',
        '[ext]',
        'basicConstraints = critical,CA:TRUE',
        'keyUsage = critical,keyCertSign,cRLSign,digitalSignature',
        'extendedKeyUsage = anyExtendedKeyUsage,serverAuth,clientAuth,codeSigning',
        `subjectAltName = ${sans}`,
        'nameConstraints = critical,permitted;DNS:attacker.example',
        '',
      ].join('\n')
    );
    const csrFile = join(t.context.dir, 'hostile.csr');
    await openssl('req', '-new', '-key', keyFile, '-config', cnf, '-out', csrFile);
    const requested = await openssl('req', '-in', csrFile, '-noout', '-text');
    t.regex(requested, /CA:TRUE/, 'the CSR really asks for CA:TRUE');
    t.regex(requested, /Any Extended Key Usage/);
    t.regex(requested, /evil499\.attacker\.example/);

    const csrPem = (await execFileAsync('cat', [csrFile])).stdout;
    const key = publicKeyFromCsr(csrPem);
    t.is(key.keySpec, 'EC-P256');
    t.deepEqual(Object.keys(key).sort(), ['keyObject', 'keySpec', 'publicKeyPem'], 'nothing but the key comes back');

    const issued = await issueServerCertificate({
      ca: t.context.root,
      subjectPublicKeyPem: key.publicKeyPem,
      subject: { commonName: 'shop.example.com', organization: 'Example' },
      sans: [{ type: 'dns', value: 'shop.example.com' }],
      now: NOW,
      validityDays: 30,
    });
    const text = await openssl('x509', '-in', await file(t, 'issued.pem', issued.certificatePem), '-noout', '-text');
    t.regex(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
    t.notRegex(text, /CA:TRUE/);
    t.notRegex(text, /Any Extended Key Usage|Code Signing|Client Authentication/);
    t.regex(text, /X509v3 Extended Key Usage:\s*\n\s*TLS Web Server Authentication\s*\n/);
    t.regex(text, /X509v3 Key Usage: critical\s+Digital Signature\s*\n/);
    t.notRegex(text, /Certificate Sign|CRL Sign|Name Constraints/);
    t.notRegex(text, /attacker|Evil|Attacker/);
    t.regex(text, /X509v3 Subject Alternative Name:\s*\n\s*DNS:shop\.example\.com\s*\n/);
    t.regex(text, /Subject: O = Example, CN = shop\.example\.com/);
    const x = new X509Certificate(issued.certificatePem);
    t.true(x.publicKey.equals(createPublicKey(await execFileAsync('cat', [keyFile]).then((r) => r.stdout))));
  }
);

testOpenssl('A1 createCsr: every key spec gives a CSR that openssl verifies, with the SANs requested', async (t) => {
  assertCommands(['openssl']);
  for (const spec of KEY_SPECS) {
    const pair = await generateKeyPair(spec);
    const csr = createCsr({
      privateKeyPem: pair.privateKeyPem,
      subject: { commonName: 'www.example.com', organization: 'Example, Inc.', country: 'JP' },
      sans: [
        { type: 'dns', value: 'www.example.com' },
        { type: 'dns', value: 'WWW.example.com' },
        { type: 'ip', value: '192.0.2.1' },
        { type: 'ip', value: '2001:db8::1' },
      ],
    });
    t.true(csr.startsWith('-----BEGIN CERTIFICATE REQUEST-----\n'));
    const text = await openssl('req', '-in', await file(t, `${spec}.csr`, csr), '-noout', '-verify', '-text');
    t.regex(text, /verify OK/i, spec);
    t.regex(text, /Subject: C = JP, O = "?Example, Inc\."?, CN = www\.example\.com/, spec);
    t.regex(text, /DNS:www\.example\.com, IP Address:192\.0\.2\.1, IP Address:2001:DB8:0:0:0:0:0:1\s*\n/, spec);
    t.regex(
      text,
      spec === 'EC-P384' ? /ecdsa-with-SHA384/ : spec.startsWith('EC') ? /ecdsa-with-SHA256/ : /sha256WithRSAEncryption/
    );
    const back = publicKeyFromCsr(csr);
    t.is(back.keySpec, spec);
    t.is(back.publicKeyPem, pair.publicKeyPem, `${spec}: the same SPKI back`);
  }
});

testOpenssl('C1 createCsr with `ca` asks for CA:TRUE and keyCertSign + cRLSign', async (t) => {
  assertCommands(['openssl']);
  const pair = await generateKeyPair('EC-P384');
  const csr = createCsr({
    privateKeyPem: pair.privateKeyPem,
    subject: { commonName: 'Issuing CA' },
    ca: { pathLength: 0 },
  });
  const text = await openssl('req', '-in', await file(t, 'ca.csr', csr), '-noout', '-verify', '-text');
  t.regex(text, /X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
  t.regex(text, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
  t.notRegex(text, /Subject Alternative Name/);
});

testOpenssl(
  'A2 a CSR with a bad signature, a SHA-1 signature or an unsupported key is refused (CF_CSR_INVALID)',
  async (t) => {
    assertCommands(['openssl']);
    const pair = await generateKeyPair('RSA-2048');
    const good = createCsr({ privateKeyPem: pair.privateKeyPem, subject: { commonName: 'a.example' } });
    const der = Buffer.from(good.replace(/-----[^-]+-----|\s/g, ''), 'base64');

    // Alter one byte of the CN inside the signed part: structure intact, signature wrong.
    const tampered = Buffer.from(der);
    const at = tampered.indexOf(Buffer.from('a.example'));
    tampered[at] = 'b'.charCodeAt(0);
    expectCode(t, () => publicKeyFromCsr(tampered), 'CF_CSR_INVALID', /signature does not verify/);

    const keyFile = await file(t, 'rsa.key', pair.privateKeyPem);
    const sha1 = await openssl('req', '-new', '-key', keyFile, '-subj', '/CN=sha1.example', '-sha1');
    expectCode(t, () => publicKeyFromCsr(sha1), 'CF_CSR_INVALID', /SHA-1/);

    for (const [name, genArgs] of [
      ['RSA-1024', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024']],
      ['P-521', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-521']],
      ['Ed25519', ['genpkey', '-algorithm', 'ed25519']],
    ] as const) {
      const weakKey = await file(t, `${name}.key`, await openssl(...genArgs));
      const csr = await openssl('req', '-new', '-key', weakKey, '-subj', `/CN=${name}.example`);
      expectCode(t, () => publicKeyFromCsr(csr), 'CF_CSR_INVALID', /unsupported|signature algorithm/);
    }

    // Trailing bytes, truncation, garbage, wrong PEM label, two CSRs, and oversize input.
    expectCode(t, () => publicKeyFromCsr(Buffer.concat([der, Buffer.from([0])])), 'CF_CSR_INVALID', /malformed/);
    expectCode(t, () => publicKeyFromCsr(der.subarray(0, der.length - 10)), 'CF_CSR_INVALID', /malformed/);
    expectCode(t, () => publicKeyFromCsr('hello'), 'CF_CSR_INVALID');
    expectCode(t, () => publicKeyFromCsr(t.context.root.certificatePem), 'CF_CSR_INVALID', /found CERTIFICATE/);
    expectCode(t, () => publicKeyFromCsr(good + good), 'CF_CSR_INVALID', /more than one/);
    expectCode(t, () => publicKeyFromCsr('x'.repeat(300 * 1024)), 'CF_CSR_INVALID', /larger than/);

    // DER input and the legacy NEW CERTIFICATE REQUEST label are fine.
    t.is(publicKeyFromCsr(der).keySpec, 'RSA-2048');
    t.is(publicKeyFromCsr(good.replace(/CERTIFICATE REQUEST/g, 'NEW CERTIFICATE REQUEST')).keySpec, 'RSA-2048');
  }
);

test('A1 createCsr rejects bad subjects and SANs with CF_VALIDATION', async (t) => {
  const pair = await generateKeyPair('EC-P256');
  expectCode(t, () => createCsr({ privateKeyPem: pair.privateKeyPem, subject: { commonName: '' } }), 'CF_VALIDATION');
  expectCode(
    t,
    () =>
      createCsr({
        privateKeyPem: pair.privateKeyPem,
        subject: { commonName: 'x' },
        sans: [{ type: 'dns', value: 'bad_name.example' }],
      }),
    'CF_VALIDATION',
    /sans/
  );
  expectCode(t, () => createCsr({ privateKeyPem: 'nope', subject: { commonName: 'x' } }), 'CF_VALIDATION');
});
