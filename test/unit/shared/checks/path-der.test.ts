/**
 * SPEC M3: path validation reads a served leaf's signature and issuer match from its DER; OpenSSL decodes the leaf
 * (≈ 0.1–0.25 ms, the largest cost of a monitoring sweep) only when the DER code leaves a question to it.
 */
import test, { type ExecutionContext } from 'ava';
import {
  type CertificateFacts,
  type TrustSet,
  certificateFacts,
  trustSetFromPems,
  validatePath,
} from '@certfleet/shared';
import { sha256Hex } from '../../../../shared/src/x509/certificate';
import { rememberServed } from '../../../../shared/src/x509/decoded-x509';
import { OpensslPki, type PkiCert } from '../x509/_openssl-pki';
import { fixtures } from './_fixtures';

/** Facts of a probe's own buffer (OpenSSL decodes those lazily), and a count of asks for OpenSSL's decoding. */
function servedFacts(der: Buffer): { facts: CertificateFacts; decodes: () => number } {
  const copy = Buffer.from(der);
  const facts = certificateFacts(rememberServed(copy, sha256Hex(copy)));
  let asked = 0;
  const watched = Object.create(facts, {
    x509: {
      get() {
        asked++;
        return facts.x509;
      },
    },
  }) as CertificateFacts;
  return { facts: watched, decodes: () => asked };
}

/** Validates leaf + served against `trust` and asserts success without OpenSSL decoding the leaf. */
function passesWithoutDecodingLeaf(t: ExecutionContext, leaf: Buffer, served: Buffer[], trust: TrustSet, what: string) {
  const { facts, decodes } = servedFacts(leaf);
  const result = validatePath(
    facts,
    served.map((d) => servedFacts(d).facts),
    trust,
    new Date()
  );
  t.true(result.ok, `${what}: ${result.ok ? '' : result.message}`);
  t.is(decodes(), 0, `${what}: the leaf was not decoded by OpenSSL`);
}

test('M3 a normal two-certificate chain validates without OpenSSL decoding the leaf (test PKI: EC, RSA-1024 leaves)', async (t) => {
  const f = await fixtures();
  passesWithoutDecodingLeaf(t, f.leaf.der, [f.intermediate.der], f.trust, 'EC leaf');
  passesWithoutDecodingLeaf(t, f.rsa1024.der, [f.intermediate.der], f.trust, 'RSA-1024 leaf');
  passesWithoutDecodingLeaf(t, f.sha1Signed.der, [f.intermediate.der], f.trust, 'SHA-1 signed leaf');
});

interface Chains {
  root: PkiCert;
  intermediates: PkiCert[];
  leaves: PkiCert[];
  /** A leaf whose authorityKeyIdentifier names another key, signed by the EC intermediate. */
  wrongAkid: PkiCert;
  /** An RSASSA-PSS signed leaf under the RSA intermediate. */
  pss: PkiCert;
}

let made: Promise<Chains> | undefined;

const LEAF = [
  'basicConstraints = critical,CA:FALSE',
  'keyUsage = critical,digitalSignature,keyEncipherment',
  'extendedKeyUsage = serverAuth',
  'subjectAltName = DNS:www.example.test',
  'crlDistributionPoints = URI:http://crl.example.test/i.crl',
  'authorityInfoAccess = caIssuers;URI:http://ca.example.test/i.der',
  'certificatePolicies = 2.23.140.1.2.1',
  'subjectKeyIdentifier = hash',
  'authorityKeyIdentifier = keyid:always',
];

/** root (P-256) → RSA and EC intermediates → RSA, P-384 and Ed25519 leaves, with the extensions of public CAs. */
function chains(): Promise<Chains> {
  made ??= (async () => {
    const p = await OpensslPki.create();
    try {
      const [rootKey, rsaKey, ecKey, p384, ed25519, rsaLeafKey] = await Promise.all([
        p.key('P-256'),
        p.key('rsa'),
        p.key('P-256'),
        p.key('P-384'),
        p.key('ed25519'),
        p.key('rsa'),
      ]);
      const ca = ['basicConstraints = critical,CA:TRUE', 'keyUsage = critical,keyCertSign,cRLSign'];
      const root = await p.cert({
        subject: '/CN=Path DER Root/O=CertFleet Tests',
        key: rootKey,
        ext: [...ca, 'subjectKeyIdentifier = hash'],
      });
      const intermediates = await Promise.all(
        [rsaKey, ecKey].map((key, i) =>
          p.cert({
            subject: `/CN=Path DER Intermediate ${i}/O=CertFleet Tests`,
            key,
            issuer: root,
            digest: 'sha256',
            ext: [
              'basicConstraints = critical,CA:TRUE,pathlen:0',
              'keyUsage = critical,digitalSignature,keyCertSign,cRLSign',
              'extendedKeyUsage = serverAuth,clientAuth',
              'crlDistributionPoints = URI:http://crl.example.test/root.crl',
              'subjectKeyIdentifier = hash',
              'authorityKeyIdentifier = keyid:always',
            ],
          })
        )
      );
      const leaves: PkiCert[] = [];
      for (const issuer of intermediates) {
        for (const key of [rsaLeafKey, p384, ed25519]) {
          leaves.push(await p.cert({ subject: '/CN=www.example.test', key, issuer, digest: 'sha384', ext: LEAF }));
        }
      }
      const wrongAkid = await p.cert({
        subject: '/CN=www.example.test',
        key: p384,
        issuer: intermediates[1] as PkiCert,
        digest: 'sha256',
        ext: [...LEAF.filter((e) => !e.startsWith('authorityKeyIdentifier')), '2.5.29.35 = DER:3006800412345678'],
      });
      const pss = await p.cert({
        subject: '/CN=www.example.test',
        key: p384,
        issuer: intermediates[0] as PkiCert,
        digest: 'sha256',
        pss: true,
        ext: LEAF,
      });
      return { root, intermediates, leaves, wrongAkid, pss };
    } finally {
      await p.dispose();
    }
  })();
  return made;
}

test('M3 RSA, ECDSA and EdDSA leaves under RSA and EC intermediates validate without OpenSSL decoding the leaf', async (t) => {
  const { root, leaves } = await chains();
  const trust = trustSetFromPems('path-der', [root.pem]);
  for (const leaf of leaves) {
    const issuer = (await chains()).intermediates.find((i) => i.x509.subject === leaf.x509.issuer) as PkiCert;
    const what = `${leaf.x509.publicKey.asymmetricKeyType} leaf under ${issuer.x509.publicKey.asymmetricKeyType}`;
    passesWithoutDecodingLeaf(t, leaf.der, [issuer.der], trust, what);
  }
});

test('M3 an authority key identifier that names another key fails the issuer match as OpenSSL does (IssuerNotCa at depth 1)', async (t) => {
  const { root, intermediates, wrongAkid } = await chains();
  const ec = intermediates[1] as PkiCert;
  t.false(wrongAkid.x509.checkIssued(ec.x509), 'OpenSSL: not issued by it');
  t.true(wrongAkid.x509.verify(ec.x509.publicKey), 'although its key signed it');
  const result = validatePath(
    servedFacts(wrongAkid.der).facts,
    [servedFacts(ec.der).facts],
    trustSetFromPems('path-der', [root.pem]),
    new Date()
  );
  t.like(result, {
    ok: false,
    problem: 'IssuerNotCa',
    depth: 1,
    message:
      '"O=CertFleet Tests, CN=Path DER Intermediate 1" is a CA but its key usage or key identifier does not allow it to sign "CN=www.example.test"',
  });
});

test('M3 an RSASSA-PSS signed leaf is left to OpenSSL, which decodes it, with the same verdict', async (t) => {
  const { root, intermediates, pss } = await chains();
  const { facts, decodes } = servedFacts(pss.der);
  const result = validatePath(
    facts,
    [servedFacts((intermediates[0] as PkiCert).der).facts],
    trustSetFromPems('path-der', [root.pem]),
    new Date()
  );
  t.true(result.ok);
  t.true(decodes() > 0, 'OpenSSL verified the signature');
});
