import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { generateKeyPair, isCertFleetError } from '@certfleet/shared';
import {
  createCrl,
  createSubordinateCaRequest,
  issueServerCertificate,
  loadCa,
  validateSubordinateCertificate,
  type SubordinateCaRequest,
} from '../../../../controller/src/issuers/internal-ca';
import { assertCommands, testNeeding } from '../../../_helpers/needs';

const execFileAsync = promisify(execFile);

interface Pki {
  rootPem: string;
  rootKey: string;
  interPem: string;
  interKey: string;
}
interface Ctx {
  dir: string;
  pki: Pki;
  sub: SubordinateCaRequest;
}
const test = anyTest as TestFn<Ctx>;
const testOpenssl = testNeeding<Ctx>(['openssl']);

let n = 0;
async function file(dir: string, name: string, contents: string | Buffer): Promise<string> {
  const path = join(dir, `${++n}-${name}`);
  await writeFile(path, contents);
  return path;
}
async function openssl(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('openssl', args);
  return stdout;
}

const CA_EXT = [
  'basicConstraints = critical,CA:TRUE',
  'keyUsage = critical,keyCertSign,cRLSign',
  'subjectKeyIdentifier = hash',
  'authorityKeyIdentifier = keyid',
];

/** Signs `csrPem` with an openssl CA (the simulated parent), with the given extension lines. */
async function sign(
  dir: string,
  csrPem: string,
  issuerPem: string,
  issuerKey: string,
  ext: string[],
  days = 365
): Promise<string> {
  const out = join(dir, `${++n}-signed.pem`);
  await openssl(
    'x509',
    '-req',
    '-in',
    await file(dir, 'req.csr', csrPem),
    '-CA',
    await file(dir, 'issuer.pem', issuerPem),
    '-CAkey',
    await file(dir, 'issuer.key', issuerKey),
    '-set_serial',
    String(1000 + n),
    '-days',
    String(days),
    '-sha256',
    '-extfile',
    await file(dir, 'ext.cnf', `[v3]\n${ext.join('\n')}\n`),
    '-extensions',
    'v3',
    '-out',
    out
  );
  return readFile(out, 'utf8');
}

/** A parent PKI made by openssl: a root and an intermediate (pathlen unconstrained). */
async function parentPki(dir: string): Promise<Pki> {
  const rootKey = (await generateKeyPair('EC-P384')).privateKeyPem;
  const rootPem = await openssl(
    'req',
    '-x509',
    '-new',
    '-key',
    await file(dir, 'root.key', rootKey),
    '-subj',
    '/O=Parent Corp/CN=Parent Root CA',
    '-days',
    '3650',
    '-sha384',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign'
  );
  const interKey = (await generateKeyPair('RSA-2048')).privateKeyPem;
  const interCsr = await openssl(
    'req',
    '-new',
    '-key',
    await file(dir, 'inter.key', interKey),
    '-subj',
    '/O=Parent Corp/CN=Parent Issuing CA'
  );
  const interPem = await sign(dir, interCsr, rootPem, rootKey, CA_EXT, 3000);
  return { rootPem, rootKey, interPem, interKey };
}

test.before(async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'certfleet-sub-'));
  t.context = {
    dir,
    pki: undefined as unknown as Pki,
    sub: await createSubordinateCaRequest({ name: 'CertFleet Issuing CA', keySpec: 'EC-P256', now: new Date() }),
  };
  if ((await execFileAsync('sh', ['-c', 'command -v openssl']).catch(() => null)) !== null) {
    t.context.pki = await parentPki(dir);
  }
});
test.after.always(async (t) => {
  if (t.context.dir) await rm(t.context.dir, { recursive: true, force: true });
});

function rejects(t: ExecutionContext<Ctx>, fn: () => unknown, message: RegExp): void {
  const err = t.throws(fn);
  t.true(isCertFleetError(err), String(err));
  t.is((err as { code?: string }).code, 'CF_VALIDATION');
  t.regex(err!.message, message);
}

testOpenssl(
  'C1 subordinate request: fresh CA key and a CSR asking for CA:TRUE under a unique timestamped DN',
  async (t) => {
    assertCommands(['openssl']);
    const { sub, dir } = t.context;
    t.regex(sub.subject, /^CN=CertFleet Issuing CA \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, O=CertFleet$/);
    t.is(sub.keySpec, 'EC-P256');
    const text = await openssl('req', '-in', await file(dir, 'sub.csr', sub.csrPem), '-noout', '-text', '-verify');
    t.regex(text, /X509v3 Basic Constraints: critical\s+CA:TRUE\s*\n/);
    t.regex(text, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
    t.regex(text, /Subject: O = CertFleet, CN = CertFleet Issuing CA \d{4}/);
    const err = await t.throwsAsync(createSubordinateCaRequest({ name: 'x'.repeat(44), now: new Date() }));
    t.is((err as { code?: string }).code, 'CF_VALIDATION');
  }
);

testOpenssl(
  'C1 the parent-issued CA certificate is validated and the subordinate then issues chains openssl verifies',
  async (t) => {
    assertCommands(['openssl']);
    const { sub, pki, dir } = t.context;
    const subPem = await sign(dir, sub.csrPem, pki.interPem, pki.interKey, CA_EXT);
    const now = new Date();
    // Chain given out of order: the path is built from the signatures.
    const v = validateSubordinateCertificate({
      certificatePem: subPem,
      key: sub.privateKeyPem,
      chainPem: [pki.rootPem, pki.interPem],
      now,
    });
    t.is(v.chainPem.length, 2);
    t.is(new X509Certificate(v.chainPem[0]!).subject, 'O=Parent Corp\nCN=Parent Issuing CA');
    t.is(new X509Certificate(v.chainPem[1]!).subject, 'O=Parent Corp\nCN=Parent Root CA');
    t.is(v.subject, sub.subject);
    t.is(v.serial, new X509Certificate(subPem).serialNumber.replace(/^0+/, ''));
    // The public key alone is enough as well.
    t.notThrows(() =>
      validateSubordinateCertificate({
        certificatePem: subPem,
        key: sub.publicKeyPem,
        chainPem: [pki.interPem, pki.rootPem],
        now,
      })
    );
    // The chain may also come appended to the certificate.
    t.notThrows(() =>
      validateSubordinateCertificate({
        certificatePem: subPem + pki.interPem,
        key: sub.publicKeyPem,
        chainPem: [pki.rootPem],
        now,
      })
    );

    const ca = await loadCa({ certificatePem: v.certificatePem, privateKeyPem: sub.privateKeyPem });
    const leafKey = await generateKeyPair('EC-P256');
    const leaf = await issueServerCertificate({
      ca,
      subjectPublicKeyPem: leafKey.publicKeyPem,
      subject: { commonName: 'app.example' },
      sans: [{ type: 'dns', value: 'app.example' }],
      now,
      validityDays: 30,
    });
    const untrusted = await file(dir, 'untrusted.pem', v.certificatePem + v.chainPem[0]!);
    const rootFile = await file(dir, 'root.pem', pki.rootPem);
    const out = await openssl(
      'verify',
      '-CAfile',
      rootFile,
      '-untrusted',
      untrusted,
      await file(dir, 'leaf.pem', leaf.certificatePem)
    );
    t.regex(out, /: OK/);

    // The subordinate signs CRLs that verify against its certificate.
    const crl = createCrl({
      ca: { certificatePem: v.certificatePem, privateKeyPem: sub.privateKeyPem },
      revoked: [{ serial: leaf.serial, revokedAt: now, reason: 'superseded' }],
      crlNumber: 1,
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + 86_400_000),
    });
    const crlText = await execFileAsync('openssl', [
      'crl',
      '-inform',
      'DER',
      '-in',
      await file(dir, 'sub.crl', crl.der),
      '-CAfile',
      await file(dir, 'subca.pem', v.certificatePem),
      '-noout',
    ]);
    t.regex(crlText.stderr + crlText.stdout, /verify OK/);
    t.true(new X509Certificate(v.certificatePem).checkPrivateKey(createPrivateKey(sub.privateKeyPem)));
  }
);

testOpenssl('C1 a parent-issued certificate is refused when it is wrong in any way', async (t) => {
  assertCommands(['openssl']);
  const { sub, pki, dir } = t.context;
  const now = new Date();
  const chain = [pki.interPem, pki.rootPem];
  // Evaluated per call: the certificates below are signed after `now` was taken.
  const check = (certificatePem: string, chainPem = chain, at = new Date()): void =>
    void validateSubordinateCertificate({ certificatePem, key: sub.publicKeyPem, chainPem, now: at });

  const other = await createSubordinateCaRequest({ name: 'Other', keySpec: 'EC-P256', now });
  rejects(t, () => check(sub.csrPem), /holds no certificate/);
  rejects(t, () => check(pki.interPem), /does not carry this CA key/);
  const otherCert = await sign(dir, other.csrPem, pki.interPem, pki.interKey, CA_EXT);
  rejects(t, () => check(otherCert), /does not carry this CA key/);

  const notCa = await sign(dir, sub.csrPem, pki.interPem, pki.interKey, [
    'basicConstraints = critical,CA:FALSE',
    'keyUsage = critical,digitalSignature',
  ]);
  rejects(t, () => check(notCa), /not a CA certificate/);
  const noCrlSign = await sign(dir, sub.csrPem, pki.interPem, pki.interKey, [
    'basicConstraints = critical,CA:TRUE',
    'keyUsage = critical,keyCertSign',
  ]);
  rejects(t, () => check(noCrlSign), /keyCertSign and cRLSign/);
  const noKeyUsage = await sign(dir, sub.csrPem, pki.interPem, pki.interKey, ['basicConstraints = critical,CA:TRUE']);
  rejects(t, () => check(noKeyUsage), /keyCertSign and cRLSign/);

  const good = await sign(dir, sub.csrPem, pki.interPem, pki.interKey, CA_EXT, 30);
  rejects(t, () => check(good, [pki.rootPem]), /parent certificate .*Parent Issuing CA.* is missing/);
  rejects(t, () => check(good, [pki.interPem]), /not a self-signed root/);
  rejects(t, () => check(good, chain, new Date(now.getTime() + 40 * 86_400_000)), /not valid now/);
  rejects(t, () => check(good, ['garbage']), /holds no certificate|parent certificate/);

  // A parent that may not have sub-CAs below it (pathlen:0).
  const p0Key = (await generateKeyPair('EC-P256')).privateKeyPem;
  const p0Csr = await openssl('req', '-new', '-key', await file(dir, 'p0.key', p0Key), '-subj', '/CN=Pathlen Zero CA');
  const p0 = await sign(dir, p0Csr, pki.rootPem, pki.rootKey, [
    'basicConstraints = critical,CA:TRUE,pathlen:0',
    'keyUsage = critical,keyCertSign,cRLSign',
  ]);
  const underP0 = await sign(dir, sub.csrPem, p0, p0Key, CA_EXT);
  rejects(t, () => check(underP0, [p0, pki.rootPem]), /pathLenConstraint 0/);

  // Self-signed with our own key.
  const selfSigned = await openssl(
    'req',
    '-x509',
    '-new',
    '-key',
    await file(dir, 'sub.key', sub.privateKeyPem),
    '-subj',
    '/CN=Self',
    '-days',
    '30',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign'
  );
  rejects(t, () => check(selfSigned), /self-signed/);
});
