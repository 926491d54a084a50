import { execFile } from 'node:child_process';
import { X509Certificate, createECDH, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import fc from 'fast-check';
import {
  generateKeyPair,
  isCertFleetError,
  summarizeCertificate,
  type GeneratedKeyPair,
  type KeySpec,
} from '@certfleet/shared';
import {
  createRootCa,
  issueServerCertificate,
  loadCa,
  type CreateRootCaResult,
  type LoadedCa,
  type SubjectAltName,
  type CertificateSubject,
} from '../../../../controller/src/issuers/internal-ca';
import {
  childrenOf,
  contentOf,
  readDer,
  readOid,
  sequence,
} from '../../../../controller/src/issuers/internal-ca/der-reader';
import {
  createTemplateSigner,
  ecSpki,
  prepareServerRequest,
  subjectKeyFromSpki,
  templateSignerFromSpec,
  type TemplateSigner,
} from '../../../../controller/src/issuers/internal-ca/template-signer';
import { assertCommands, testNeeding } from '../../../_helpers/needs';

const execFileAsync = promisify(execFile);

type CaSpec = 'EC-P256' | 'EC-P384' | 'RSA-2048';
const CA_SPECS: CaSpec[] = ['EC-P256', 'EC-P384', 'RSA-2048'];
const EXTENSIONS = {
  crlDistributionPoint: 'http://pki.test.internal/pki/ca/crl',
  ocspUrl: 'http://ocsp.test.internal',
  caIssuersUrl: 'http://pki.test.internal/pki/ca/cert.der',
};

interface CaUnderTest {
  root: CreateRootCaResult;
  loaded: LoadedCa;
  plain: TemplateSigner;
  withExtensions: TemplateSigner;
}

interface Ctx {
  dir: string;
  cas: Record<CaSpec, CaUnderTest>;
  leafKeys: Record<'EC-P256' | 'RSA-2048', GeneratedKeyPair>;
}
const test = anyTest as TestFn<Ctx>;
const testOpenssl = testNeeding<Ctx>(['openssl']);

const NOW = new Date('2026-11-25T20:10:00.000Z');
const SUBJECT: CertificateSubject = { commonName: 'app.test.internal', organization: 'Lab, Inc.', country: 'DE' };
const SANS: SubjectAltName[] = [
  { type: 'dns', value: 'app.test.internal' },
  { type: 'dns', value: '*.svc.test.internal' },
  { type: 'ip', value: '127.0.0.1' },
  { type: 'ip', value: '::1' },
];

test.before(async (t) => {
  const cas = {} as Record<CaSpec, CaUnderTest>;
  await Promise.all(
    CA_SPECS.map(async (spec) => {
      const root = await createRootCa({ now: new Date(NOW.getTime() - 86_400_000), keySpec: spec });
      const loaded = await loadCa(root);
      cas[spec] = {
        root,
        loaded,
        plain: await createTemplateSigner({ ca: loaded }),
        withExtensions: await createTemplateSigner({ ca: root, extensions: EXTENSIONS }),
      };
    })
  );
  const [ec, rsa] = await Promise.all([generateKeyPair('EC-P256'), generateKeyPair('RSA-2048')]);
  t.context = {
    dir: await mkdtemp(join(tmpdir(), 'certfleet-template-signer-')),
    cas,
    leafKeys: { 'EC-P256': ec, 'RSA-2048': rsa },
  };
});

test.after.always(async (t) => {
  if (t.context.dir) await rm(t.context.dir, { recursive: true, force: true });
});

interface ParsedExtension {
  oid: string;
  critical: boolean;
  value: string;
}

/** The extensions of a certificate, parsed: OID, critical flag and the extnValue octets (hex), in order. */
function extensionsOf(certDer: Buffer): ParsedExtension[] {
  const [tbs] = sequence(readDer(certDer), 'Certificate');
  const container = sequence(tbs, 'TBSCertificate').find((f) => f.tag === 0xa3);
  if (!container) return [];
  return sequence(childrenOf(container)[0], 'Extensions').map((ext) => {
    const parts = sequence(ext, 'Extension');
    const critical = parts.length === 3 ? (contentOf(parts[1]!)[0] ?? 0) !== 0 : false;
    return { oid: readOid(parts[0], 'extnID'), critical, value: contentOf(parts[parts.length - 1]!).toString('hex') };
  });
}

/** What a certificate says, field by field, apart from its serial, signature and fingerprints. */
function describe(pem: string): Record<string, unknown> {
  const x = new X509Certificate(pem);
  const s = summarizeCertificate(x.raw);
  const [, signatureAlgorithm] = sequence(readDer(x.raw), 'Certificate');
  return {
    subject: s.subject,
    issuer: s.issuer,
    notBefore: s.notBefore,
    notAfter: s.notAfter,
    keyAlgorithm: s.keyAlgorithm,
    sans: s.sans,
    publicKey: x.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'),
    signatureAlgorithm: readOid(sequence(signatureAlgorithm, 'AlgorithmIdentifier')[0], 'algorithm'),
    extensions: extensionsOf(x.raw),
  };
}

async function rejectsWithCode(t: ExecutionContext<Ctx>, fn: () => unknown, code: string): Promise<void> {
  const err = await t.throwsAsync(async () => fn());
  t.true(isCertFleetError(err), `a CertFleetError (got ${String(err)})`);
  t.is((err as { code?: string }).code, code, err?.message);
}

for (const caSpec of CA_SPECS) {
  for (const leafSpec of ['EC-P256', 'RSA-2048'] as const) {
    for (const withExt of [false, true]) {
      test(`${caSpec} CA, ${leafSpec} key${withExt ? ', CRL DP + AIA' : ''}: same certificate as issueServerCertificate`, async (t) => {
        const ca = t.context.cas[caSpec];
        const key = t.context.leafKeys[leafSpec];
        const signer = withExt ? ca.withExtensions : ca.plain;
        const fast = signer.issue({
          subjectPublicKey: key.publicKeyPem,
          subject: SUBJECT,
          sans: SANS,
          now: NOW,
          validityDays: 90,
        });
        const reference = await issueServerCertificate({
          ca: ca.loaded,
          subjectPublicKeyPem: key.publicKeyPem,
          subject: SUBJECT,
          sans: SANS,
          now: NOW,
          validityDays: 90,
          ...(withExt ? { extensions: EXTENSIONS } : {}),
        });
        t.deepEqual(describe(fast.certificatePem), describe(reference.certificatePem));
        const oids = extensionsOf(fast.der).map((e) => `${e.oid}${e.critical ? '!' : ''}`);
        t.deepEqual(oids, [
          '2.5.29.19!', // basicConstraints CA:FALSE, critical
          '2.5.29.15!', // keyUsage, critical
          '2.5.29.37', // extKeyUsage serverAuth
          '2.5.29.17', // subjectAltName
          '2.5.29.35', // authorityKeyIdentifier
          '2.5.29.14', // subjectKeyIdentifier
          ...(withExt ? ['2.5.29.31', '1.3.6.1.5.5.7.1.1'] : []),
        ]);
        const x = new X509Certificate(fast.certificatePem);
        const caCert = new X509Certificate(ca.root.certificatePem);
        t.true(x.checkIssued(caCert));
        t.true(x.verify(caCert.publicKey));
        t.is(x.serialNumber, fast.serial);
        t.regex(fast.serial, /^[4-7][0-9A-F]{31}$/);
        t.is(fast.notBefore.toISOString(), '2026-11-25T20:05:00.000Z');
        t.is(fast.notAfter.toISOString(), '2027-02-23T20:10:00.000Z');
        t.deepEqual(x.raw, fast.der);
        t.true(fast.certificatePem.endsWith('-----END CERTIFICATE-----\n'));
      });
    }
  }
}

testOpenssl('every CA: certificates verify with openssl verify -x509_strict -purpose sslserver', async (t) => {
  assertCommands(['openssl']);
  const { dir } = t.context;
  for (const caSpec of CA_SPECS) {
    const ca = t.context.cas[caSpec];
    const caFile = join(dir, `ca-${caSpec}.pem`);
    await writeFile(caFile, ca.root.certificatePem);
    const files: string[] = [];
    for (const leafSpec of ['EC-P256', 'RSA-2048'] as const) {
      for (const signer of [ca.plain, ca.withExtensions]) {
        const issued = signer.issue({
          subjectPublicKey: t.context.leafKeys[leafSpec].publicKeyPem,
          subject: SUBJECT,
          sans: SANS,
          now: new Date(),
          validityDays: 30,
        });
        const file = join(dir, `leaf-${caSpec}-${leafSpec}-${files.length}.pem`);
        await writeFile(file, issued.certificatePem);
        files.push(file);
      }
    }
    const { stdout } = await execFileAsync('openssl', [
      'verify',
      '-x509_strict',
      '-purpose',
      'sslserver',
      '-CAfile',
      caFile,
      ...files,
    ]);
    t.is(stdout.split('\n').filter((l) => l.endsWith(': OK')).length, files.length, stdout);
  }
});

test('issuePrepared: ECDH keys spliced into SPKI, same fields as issue(); validity computed once', (t) => {
  const signer = t.context.cas['EC-P256'].plain;
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  const point = ecdh.getPublicKey();
  const spki = ecSpki('EC-P256', point);
  t.deepEqual(
    createPublicKey({ key: spki, format: 'der', type: 'spki' }).export({ type: 'spki', format: 'der' }),
    spki
  );
  const request = prepareServerRequest({
    subject: { commonName: ' Svc.Test.Internal ' },
    sans: [
      { type: 'dns', value: 'SVC.test.internal' },
      { type: 'dns', value: 'svc.test.internal' },
    ],
  });
  t.deepEqual(request, {
    subject: { commonName: 'Svc.Test.Internal' },
    sans: [{ type: 'dns', value: 'svc.test.internal' }],
  });
  const validity = signer.validity(NOW, 397);
  const a = signer.issuePrepared(request, { spki, publicKeyBits: point, keySpec: 'EC-P256' }, validity);
  const b = signer.issue({
    subjectPublicKey: spki,
    subject: { commonName: 'Svc.Test.Internal' },
    sans: [{ type: 'dns', value: 'svc.test.internal' }],
    now: NOW,
    validityDays: 397,
  });
  t.deepEqual(describe(a.certificatePem), describe(b.certificatePem));
  t.not(a.serial, b.serial);
});

test('a spec cloned to another thread (Buffers arrive as Uint8Arrays) signs the same certificates', (t) => {
  const original = t.context.cas['EC-P384'].withExtensions;
  const cloned = templateSignerFromSpec(structuredClone(original.spec));
  const req = {
    subjectPublicKey: t.context.leafKeys['EC-P256'].publicKeyPem,
    subject: SUBJECT,
    sans: SANS,
    now: NOW,
    validityDays: 10,
    serial: '7A',
  };
  const a = original.issue(req);
  const b = cloned.issue(req);
  t.deepEqual(describe(a.certificatePem), describe(b.certificatePem));
  t.is(b.serial, '7A');
  t.true(
    new X509Certificate(b.der).verify(new X509Certificate(t.context.cas['EC-P384'].root.certificatePem).publicKey)
  );
});

test('subject key forms: SPKI DER, public KeyObject and PEM give the same subjectPublicKeyInfo', (t) => {
  const signer = t.context.cas['EC-P256'].plain;
  const { publicKeyPem } = t.context.leafKeys['RSA-2048'];
  const keyObject = createPublicKey(publicKeyPem);
  const spki = keyObject.export({ type: 'spki', format: 'der' });
  const base = { subject: SUBJECT, sans: SANS, now: NOW, validityDays: 5 };
  const keys = [spki, keyObject, publicKeyPem].map((subjectPublicKey) =>
    new X509Certificate(signer.issue({ ...base, subjectPublicKey }).der).publicKey.export({
      type: 'spki',
      format: 'der',
    })
  );
  for (const k of keys) t.deepEqual(k, spki);
});

test('the serial given is used as issueServerCertificate uses it; validity is capped by the CA notAfter', async (t) => {
  const ca = t.context.cas['RSA-2048'];
  const late = new Date(ca.loaded.notAfter.getTime() - 30 * 86_400_000);
  const opts = { subject: SUBJECT, sans: SANS, now: late, validityDays: 90, serial: '00ff01' };
  const key = t.context.leafKeys['EC-P256'].publicKeyPem;
  const r = ca.plain.issue({ ...opts, subjectPublicKey: key });
  t.is(r.serial, 'FF01');
  t.is(new X509Certificate(r.der).serialNumber, 'FF01');
  t.is(r.notAfter.getTime(), ca.loaded.notAfter.getTime());
  const ref = await issueServerCertificate({ ...opts, ca: ca.loaded, subjectPublicKeyPem: key });
  t.deepEqual(describe(r.certificatePem), describe(ref.certificatePem));
});

test('hostile input gives CF_VALIDATION, as issueServerCertificate does', async (t) => {
  const signer = t.context.cas['EC-P256'].withExtensions;
  const base = {
    subjectPublicKey: t.context.leafKeys['EC-P256'].publicKeyPem,
    subject: SUBJECT,
    sans: SANS,
    now: NOW,
    validityDays: 90,
  };
  const bad: Array<[string, Record<string, unknown>]> = [
    ['DNS SAN with a bad character', { sans: [{ type: 'dns', value: 'bad_name!.test' }] }],
    ['wildcard over a TLD', { sans: [{ type: 'dns', value: '*.com' }] }],
    ['wildcard inside a label', { sans: [{ type: 'dns', value: 'a*.example.com' }] }],
    ['non-ASCII DNS name', { sans: [{ type: 'dns', value: 'bücher.example' }] }],
    ['DNS name with a NUL', { sans: [{ type: 'dns', value: 'evil.example\u0000.good.example' }] }],
    ['IP SAN that is no address', { sans: [{ type: 'ip', value: '999.1.1.1' }] }],
    ['IPv6 with a zone id', { sans: [{ type: 'ip', value: 'fe80::1%eth0' }] }],
    ['unknown SAN type', { sans: [{ type: 'email', value: 'a@b.example' }] as unknown as SubjectAltName[] }],
    ['no SAN', { sans: [] }],
    [
      '101 SANs',
      { sans: Array.from({ length: 101 }, (_, i) => ({ type: 'dns' as const, value: `h${i}.example.com` })) },
    ],
    ['CN with a control character', { subject: { commonName: 'a\nb' } }],
    ['CN of 65 characters', { subject: { commonName: 'a'.repeat(65) } }],
    ['lower-case country', { subject: { commonName: 'x', country: 'de' } }],
    ['extra subject field', { subject: { commonName: 'x', title: 'boss' } as unknown as CertificateSubject }],
    ['private key instead of public key', { subjectPublicKey: t.context.leafKeys['EC-P256'].privateKeyPem }],
    ['garbage key', { subjectPublicKey: Buffer.from('3003020100', 'hex') }],
    ['validity of 0 days', { validityDays: 0 }],
    ['validity beyond 3650 days', { validityDays: 3651 }],
    ['serial of zero', { serial: '0000' }],
    ['serial that is not hex', { serial: 'xyz' }],
    ['CA not yet valid', { now: new Date('2020-01-01T00:00:00Z') }],
  ];
  for (const [what, over] of bad) {
    const err = t.throws(
      () => signer.issue({ ...base, ...over } as Parameters<TemplateSigner['issue']>[0]),
      undefined,
      what
    );
    t.true(isCertFleetError(err), what);
    t.is((err as { code?: string }).code, 'CF_VALIDATION', `${what}: ${err?.message}`);
  }
  await rejectsWithCode(
    t,
    () => prepareServerRequest({ subject: { commonName: 'x' }, sans: [{ type: 'dns', value: 'bad name' }] }),
    'CF_VALIDATION'
  );
  // The reference implementation refuses the same SAN the same way.
  await rejectsWithCode(
    t,
    () =>
      issueServerCertificate({
        ca: t.context.cas['EC-P256'].loaded,
        subjectPublicKeyPem: base.subjectPublicKey,
        subject: SUBJECT,
        sans: [{ type: 'dns', value: 'bad_name!.test' }],
        now: NOW,
        validityDays: 90,
      }),
    'CF_VALIDATION'
  );
});

test('keys that are not a KeySpec, and EC points off the curve, are refused', (t) => {
  const signer = t.context.cas['EC-P256'].plain;
  const base = { subject: SUBJECT, sans: SANS, now: NOW, validityDays: 90 };
  for (const key of [
    generateKeyPairSync('ec', { namedCurve: 'secp521r1' }).publicKey,
    generateKeyPairSync('ed25519').publicKey,
  ]) {
    const err = t.throws(() => signer.issue({ ...base, subjectPublicKey: key }));
    t.is((err as { code?: string }).code, 'CF_IMPORT_UNSUPPORTED_ALGORITHM');
  }
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  const point = Buffer.from(ecdh.getPublicKey());
  point[40] = (point[40] ?? 0) ^ 0x01;
  const err = t.throws(() => subjectKeyFromSpki(ecSpki('EC-P256', point)));
  t.is((err as { code?: string }).code, 'CF_VALIDATION');
});

test('property: random subjects and SANs give the same certificate as issueServerCertificate', async (t) => {
  const ca = t.context.cas['EC-P256'];
  const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
  const dns = fc.tuple(label, label, fc.constantFrom('test', 'internal', 'example')).map((p) => p.join('.'));
  const san = fc.oneof(
    dns.map((value) => ({ type: 'dns' as const, value })),
    fc.ipV4().map((value) => ({ type: 'ip' as const, value })),
    fc.ipV6().map((value) => ({ type: 'ip' as const, value }))
  );
  // DN values must not contain control characters (the schemas refuse them; tested above).
  const noControl = (s: string): boolean => [...s].every((ch) => ch.charCodeAt(0) >= 0x20 && ch.charCodeAt(0) !== 0x7f);
  const text = fc.string({ minLength: 1, maxLength: 40 }).filter((s) => s.trim().length > 0 && noControl(s));
  await fc.assert(
    fc.asyncProperty(
      fc.array(san, { minLength: 1, maxLength: 6 }),
      text,
      fc.option(text, { nil: undefined }),
      async (sans, cn, org) => {
        const subject: CertificateSubject = { commonName: cn, ...(org === undefined ? {} : { organization: org }) };
        const key = t.context.leafKeys['EC-P256'].publicKeyPem;
        const fast = ca.plain.issue({ subjectPublicKey: key, subject, sans, now: NOW, validityDays: 30 });
        const ref = await issueServerCertificate({
          ca: ca.loaded,
          subjectPublicKeyPem: key,
          subject,
          sans,
          now: NOW,
          validityDays: 30,
        });
        t.deepEqual(describe(fast.certificatePem), describe(ref.certificatePem));
      }
    ),
    { numRuns: 40 }
  );
});

test('a CA key spec is reported; P-384 and RSA CAs sign with SHA-384 / SHA-256', (t) => {
  t.is(t.context.cas['EC-P256'].plain.caKeySpec, 'EC-P256' as KeySpec);
  t.is(t.context.cas['EC-P384'].plain.caKeySpec, 'EC-P384' as KeySpec);
  t.is(t.context.cas['RSA-2048'].plain.caKeySpec, 'RSA-2048' as KeySpec);
  const alg = (spec: CaSpec): unknown =>
    describe(
      t.context.cas[spec].plain.issue({
        subjectPublicKey: t.context.leafKeys['EC-P256'].publicKeyPem,
        subject: SUBJECT,
        sans: SANS,
        now: NOW,
        validityDays: 1,
      }).certificatePem
    ).signatureAlgorithm;
  t.is(alg('EC-P256'), '1.2.840.10045.4.3.2');
  t.is(alg('EC-P384'), '1.2.840.10045.4.3.3');
  t.is(alg('RSA-2048'), '1.2.840.113549.1.1.11');
});
