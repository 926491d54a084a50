/**
 * SPEC M3: path validation reads OpenSSL's issuer match (`X509_check_issued` without its name comparison) from the
 * DER (shared/src/x509/issued-check.ts); where it decides, it must answer what `X509Certificate.checkIssued` answers.
 */
import { X509Certificate } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import { issuerPublicKey } from '../../../../shared/src/x509/certificate-signature';
import { checkIssuedDer, issuerProfile } from '../../../../shared/src/x509/issued-check';
import { systemRootsFor } from '../../../_helpers/system-roots';
import { OpensslPki, type PkiCert, type PkiCertSpec } from './_openssl-pki';

/** The DER verdict for (issuer, subject), asserted equal to OpenSSL's when decided. */
function same(t: ExecutionContext, issuer: X509Certificate, subject: X509Certificate, what: string) {
  const mine = checkIssuedDer(
    issuerProfile(Buffer.from(issuer.raw), issuerPublicKey(issuer)),
    Buffer.from(subject.raw)
  );
  if (mine !== undefined) t.is(mine, subject.checkIssued(issuer), what);
  return mine;
}

test('M3 the DER issuer match equals OpenSSL for every system root with itself and with roots of the same name', (t) => {
  const roots = systemRootsFor(t);
  if (!roots) return;
  let pairs = 0;
  let undecided = 0;
  for (const subject of roots) {
    for (const issuer of roots) {
      if (subject.issuer !== issuer.subject) continue;
      pairs++;
      if (same(t, issuer, subject, `${subject.subject} by ${issuer.subject}`) === undefined) undecided++;
    }
  }
  t.true(pairs >= roots.length);
  t.true(undecided <= 5, `${undecided} left to OpenSSL`);
  t.log(`${pairs} pairs, ${undecided} left to OpenSSL`);
});

const CA_NAME = '/CN=Issued Check CA/O=CertFleet Tests';
const CA = ['basicConstraints = critical,CA:TRUE', 'keyUsage = critical,keyCertSign,cRLSign'];
const SKID = 'subjectKeyIdentifier = hash';
const LEAF = ['basicConstraints = critical,CA:FALSE', 'keyUsage = critical,digitalSignature'];
const AKID = 'authorityKeyIdentifier = keyid:always';

/** An extension OID openssl leaves alone, of the same length as subjectKeyIdentifier's (2.5.29.14). */
const UNUSED_OID = '2.5.29.99';

/**
 * `cert` with its {@link UNUSED_OID} extension renamed to 2.5.29.`arc` (openssl's config cannot repeat an extension;
 * the signature no longer verifies, which the issuer match does not look at).
 */
function renamedExtension(cert: PkiCert, arc: number): PkiCert {
  const der = Buffer.from(cert.der);
  const at = der.indexOf(Buffer.from('0603551d63', 'hex'));
  if (at < 0) throw new Error(`no ${UNUSED_OID} extension`);
  der[at + 4] = arc;
  return { ...cert, der, x509: new X509Certificate(der) };
}

interface Pki {
  issuers: Record<string, PkiCert>;
  subjects: Record<string, PkiCert>;
}

let made: Promise<Pki> | undefined;

/**
 * Issuers that all have the same name (the match compares names before, not here) and differ in key, key
 * identifier, serial, key usage or validity; subjects with and without authority key identifiers.
 */
function pki(): Promise<Pki> {
  made ??= (async () => {
    const p = await OpensslPki.create();
    try {
      const [k1, k2, rsa, ed25519, leafKey] = await Promise.all([
        p.key('P-256'),
        p.key('P-256'),
        p.key('rsa'),
        p.key('ed25519'),
        p.key('P-256'),
      ]);
      const ca = (ext: string[], key = k1, serial = 4242) => p.cert({ subject: CA_NAME, key, ext, serial });
      const otherRoot = await p.cert({ subject: '/CN=Other Root', key: k2, ext: [...CA, SKID] });
      const issuers: Record<string, PkiCert> = {
        ca: await ca([...CA, SKID]),
        otherKey: await ca([...CA, SKID], k2),
        noSkid: await ca(CA),
        noCertSign: await ca(['basicConstraints = critical,CA:TRUE', 'keyUsage = critical,digitalSignature', SKID]),
        noKeyUsage: await ca(['basicConstraints = critical,CA:TRUE', SKID]),
        otherSerial: await ca([...CA, SKID], k1, 4243),
        // same key, name and serial as `ca`, but issued by another root: an authorityCertIssuer names `ca`'s issuer
        underOtherRoot: await p.cert({
          subject: CA_NAME,
          key: k1,
          issuer: otherRoot,
          ext: [...CA, SKID],
          serial: 4242,
          digest: 'sha256',
        }),
        rsa: await ca(CA, rsa),
        ed25519: await ca(CA, ed25519),
        // OpenSSL marks these invalid: a subjectKeyIdentifier twice, an empty keyUsage
        duplicateSkid: renamedExtension(await ca([...CA, SKID, `${UNUSED_OID} = DER:04021234`]), 0x0e),
        emptyKeyUsage: await ca(['basicConstraints = critical,CA:TRUE', '2.5.29.15 = critical,DER:030100']),
      };
      const leaf = (name: string, ext: string[], issuer: PkiCert, more: Partial<PkiCertSpec> = {}) =>
        p.cert({ subject: `/CN=${name}`, key: leafKey, issuer, ext, digest: 'sha256', ...more });
      const subjects: Record<string, PkiCert> = {
        keyId: await leaf('key id', [...LEAF, AKID], issuers.ca as PkiCert),
        keyIdIssuerSerial: await leaf(
          'key id, issuer and serial',
          [...LEAF, 'authorityKeyIdentifier = keyid:always,issuer:always'],
          issuers.ca as PkiCert
        ),
        noAkid: await leaf('no akid', LEAF, issuers.ca as PkiCert),
        ed25519: await leaf('ed25519', LEAF, issuers.ed25519 as PkiCert),
        pss: await leaf('pss', LEAF, issuers.rsa as PkiCert, { pss: true }),
        usual: await leaf(
          'usual',
          [
            ...LEAF,
            AKID,
            SKID,
            'extendedKeyUsage = serverAuth,clientAuth',
            'subjectAltName = DNS:usual.example.test,DNS:*.usual.example.test,IP:192.0.2.1,email:a@example.test',
            'crlDistributionPoints = URI:http://crl.example.test/ca.crl',
            'authorityInfoAccess = OCSP;URI:http://ocsp.example.test,caIssuers;URI:http://ca.example.test/ca.der',
            'certificatePolicies = 2.23.140.1.2.1',
          ],
          issuers.ca as PkiCert
        ),
        sanDirName: await leaf('dirname', [...LEAF, AKID, 'subjectAltName = dirName:dir_sect'], issuers.ca as PkiCert, {
          sections: ['[dir_sect]', 'CN = A Directory Name'],
        }),
        negativePathLen: await leaf(
          'negative pathlen',
          ['2.5.29.19 = critical,DER:30060101ff0201ff', AKID],
          issuers.ca as PkiCert
        ),
      };
      return { issuers, subjects };
    } finally {
      await p.dispose();
    }
  })();
  return made;
}

/** [issuer, subject, the DER verdict (undefined: left to OpenSSL)]; OpenSSL's must be the same when decided. */
const CASES: ReadonlyArray<[string, string, boolean | undefined]> = [
  ['ca', 'keyId', true],
  ['otherKey', 'keyId', false], // authorityKeyIdentifier ≠ subjectKeyIdentifier
  ['noSkid', 'keyId', true], // nothing to compare the key identifier with
  ['otherKey', 'noAkid', true],
  ['noCertSign', 'noAkid', false], // keyUsage without keyCertSign
  ['noKeyUsage', 'keyId', true],
  ['ca', 'keyIdIssuerSerial', true],
  ['otherSerial', 'keyIdIssuerSerial', false], // authorityCertSerialNumber ≠ the issuer's serial
  ['underOtherRoot', 'keyIdIssuerSerial', undefined], // authorityCertIssuer ≠ the issuer's issuer: OpenSSL says false
  ['rsa', 'noAkid', false], // an ECDSA signature, an RSA issuer key
  ['ed25519', 'ed25519', true],
  ['rsa', 'ed25519', false],
  ['ca', 'ed25519', false],
  ['rsa', 'pss', true], // RSASSA-PSS with an RSA key
  ['ca', 'pss', false],
  ['ca', 'usual', true],
  ['ca', 'sanDirName', undefined], // a directoryName the reader does not vouch for
  ['ca', 'negativePathLen', undefined], // OpenSSL: invalid certificate
  ['duplicateSkid', 'noAkid', undefined], // OpenSSL: invalid certificate
  ['emptyKeyUsage', 'noAkid', false], // no keyCertSign (and OpenSSL finds the issuer invalid)
];

for (const [issuer, subject, expected] of CASES) {
  test(`M3 DER issuer match: ${subject} by ${issuer} is ${String(expected)} (as OpenSSL's checkIssued)`, async (t) => {
    const { issuers, subjects } = await pki();
    const i = issuers[issuer] as PkiCert;
    const s = subjects[subject] as PkiCert;
    t.is(same(t, i.x509, s.x509, `${subject} by ${issuer}`), expected);
    if (expected === undefined) t.log(`OpenSSL: ${String(s.x509.checkIssued(i.x509))}`);
  });
}

test('M3 the DER issuer match equals OpenSSL for every issuer and subject of the test PKI', async (t) => {
  const { issuers, subjects } = await pki();
  let decided = 0;
  for (const [iName, issuer] of Object.entries(issuers)) {
    for (const [sName, subject] of Object.entries(subjects)) {
      if (same(t, issuer.x509, subject.x509, `${sName} by ${iName}`) !== undefined) decided++;
    }
  }
  t.true(decided > 0);
});
