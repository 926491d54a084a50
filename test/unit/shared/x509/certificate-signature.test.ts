/**
 * SPEC M3: path validation verifies a served certificate's signature from its DER
 * (shared/src/x509/certificate-signature.ts) and asks OpenSSL only for what that leaves undecided; where it decides,
 * it must answer exactly what `X509Certificate.verify` (OpenSSL's X509_verify) answers.
 */
import { type KeyObject, X509Certificate, sign } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import { issuerPublicKey, verifyCertificateSignature } from '../../../../shared/src/x509/certificate-signature';
import { type Asn1Node, childrenOf, encodingOf, readAlgorithmIdentifier } from '../../../../shared/src/x509/der';
import { tbsFields } from '../../../../shared/src/x509/tbs';
import { systemRootsFor } from '../../../_helpers/system-roots';
import { type KeySpec, OpensslPki, type PkiCert, type PkiKey } from './_openssl-pki';

/** OpenSSL's verdict (a key it refuses counts as false, as path validation counts it). */
function openssl(der: Buffer, key: KeyObject): boolean {
  try {
    return new X509Certificate(der).verify(key);
  } catch {
    return false;
  }
}

/** Asserts the DER verdict equals OpenSSL's when decided; returns it. */
function same(t: ExecutionContext, der: Buffer, key: KeyObject, what: string): boolean | undefined {
  const mine = verifyCertificateSignature(der, key);
  if (mine !== undefined) t.is(mine, openssl(der, key), what);
  return mine;
}

test('M3 DER signature verdicts equal OpenSSL for every pair of system roots (each root with itself, all cross pairs)', (t) => {
  const roots = systemRootsFor(t);
  if (!roots) return;
  let verified = 0;
  let undecided = 0;
  for (const child of roots) {
    const der = Buffer.from(child.raw);
    for (const issuer of roots) {
      const verdict = same(t, der, issuerPublicKey(issuer), `${child.subject} by ${issuer.subject}`);
      if (verdict === undefined) undecided++;
      if (verdict === true) verified++;
    }
  }
  t.is(verified, roots.length, 'each self-signed root verifies with its own key, and only with it');
  t.log(`${roots.length ** 2} pairs, ${undecided} left to OpenSSL`);
});

/** Signature algorithms openssl makes: key, digest, padding, and whether the DER code decides them. */
const ALGORITHMS: ReadonlyArray<{ name: string; key: KeySpec; digest?: string; pss?: boolean; decided: boolean }> = [
  ...['sha1', 'sha224', 'sha256', 'sha384', 'sha512'].map((digest) => ({
    name: `${digest}WithRSAEncryption`,
    key: 'rsa' as const,
    digest,
    decided: true,
  })),
  ...['sha1', 'sha224', 'sha256', 'sha384', 'sha512'].map((digest) => ({
    name: `ecdsa-with-${digest} (P-256)`,
    key: 'P-256' as const,
    digest,
    decided: true,
  })),
  { name: 'ecdsa-with-SHA384 (P-384)', key: 'P-384', digest: 'sha384', decided: true },
  { name: 'ecdsa-with-SHA512 (P-521)', key: 'P-521', digest: 'sha512', decided: true },
  { name: 'Ed25519', key: 'ed25519', decided: true },
  { name: 'Ed448', key: 'ed448', decided: true },
  { name: 'RSASSA-PSS (RSA key)', key: 'rsa', digest: 'sha256', pss: true, decided: false },
  { name: 'RSASSA-PSS (RSA-PSS key)', key: 'rsa-pss', digest: 'sha256', pss: true, decided: false },
  { name: 'dsa-with-SHA256', key: 'dsa', digest: 'sha256', decided: false },
];

interface Made {
  name: string;
  decided: boolean;
  cert: PkiCert;
}

let made: Promise<{ certs: Made[]; issued: PkiCert[] }> | undefined;

/** One self-signed certificate per algorithm (keys shared per type), and certificates issued across key types. */
function certificates(): Promise<{ certs: Made[]; issued: PkiCert[] }> {
  made ??= (async () => {
    const pki = await OpensslPki.create();
    try {
      const keys = new Map<KeySpec, Promise<PkiKey>>();
      const keyOf = (spec: KeySpec): Promise<PkiKey> => {
        if (!keys.has(spec)) keys.set(spec, pki.key(spec));
        return keys.get(spec) as Promise<PkiKey>;
      };
      const certs: Made[] = [];
      for (const a of ALGORITHMS) {
        const key = await keyOf(a.key);
        const cert = await pki.cert({ subject: `/CN=${a.name}`, key, digest: a.digest, pss: a.pss, ext: CA });
        certs.push({ name: a.name, decided: a.decided, cert });
      }
      const byName = (name: string): PkiCert => (certs.find((c) => c.name === name) as Made).cert;
      const issued = [
        await pki.cert({
          subject: '/CN=ec under rsa',
          key: await keyOf('P-384'),
          issuer: byName('sha256WithRSAEncryption'),
          digest: 'sha384',
        }),
        await pki.cert({
          subject: '/CN=ed25519 under ec',
          key: await keyOf('ed25519'),
          issuer: byName('ecdsa-with-sha256 (P-256)'),
          digest: 'sha256',
        }),
        await pki.cert({ subject: '/CN=rsa under ed448', key: await keyOf('rsa'), issuer: byName('Ed448') }),
      ];
      return { certs, issued };
    } finally {
      await pki.dispose();
    }
  })();
  return made;
}

const CA = ['basicConstraints = critical,CA:TRUE', 'keyUsage = critical,keyCertSign,cRLSign'];

test('M3 DER signature verdicts equal OpenSSL for certificates of every algorithm, with every key', async (t) => {
  const { certs, issued } = await certificates();
  const keys = certs.map((c) => issuerPublicKey(c.cert.x509));
  for (const { name, decided, cert } of certs) {
    const own = verifyCertificateSignature(cert.der, issuerPublicKey(cert.x509));
    if (decided) t.true(own, `${name} verifies with its own key`);
    else t.is(own, undefined, `${name} is left to OpenSSL`);
    for (const [i, key] of keys.entries()) {
      const verdict = same(t, cert.der, key, `${name} with the key of ${certs[i]?.name}`);
      if (decided) t.not(verdict, undefined, `${name} with the key of ${certs[i]?.name} is decided`);
    }
  }
  for (const cert of issued) {
    const issuer = certs.find((c) => c.cert.x509.subject === cert.x509.issuer) as Made;
    t.true(same(t, cert.der, issuerPublicKey(issuer.cert.x509), cert.x509.subject), `${cert.x509.subject}`);
    t.false(same(t, cert.der, issuerPublicKey(cert.x509), `${cert.x509.subject} with its own key`));
  }
});

/** A copy of `der` with byte `at` XOR-ed with `mask`. */
function flipped(der: Buffer, at: number, mask = 0x01): Buffer {
  const out = Buffer.from(der);
  out[at] = (out[at] as number) ^ mask;
  return out;
}

test('M3 DER signature verification fails, as OpenSSL, for a tampered signature byte, a tampered TBS byte and unused signature bits', async (t) => {
  const { certs } = await certificates();
  for (const { name, cert } of certs.filter((c) => c.decided)) {
    const key = issuerPublicKey(cert.x509);
    const signature = tbsFields(cert.der).signatureValue as Asn1Node;
    t.false(same(t, flipped(cert.der, signature.contentEnd - 1), key, `${name}: signature byte`), `${name}: signature`);
    const cn = cert.der.indexOf(Buffer.from(name.slice(0, 6)));
    t.false(same(t, flipped(cert.der, cn, 0x20), key, `${name}: TBS byte`), `${name}: TBS`);
    // the BIT STRING's unused-bits count 0 → 1: OpenSSL refuses such a signature without looking at it
    t.false(same(t, flipped(cert.der, signature.contentStart), key, `${name}: unused bits`), `${name}: unused bits`);
  }
});

/** A copy of `der` with the last OID byte of the AlgorithmIdentifier `algorithm` set to `value`. */
function withAlgorithm(der: Buffer, algorithm: Asn1Node, value: number): Buffer {
  const out = Buffer.from(der);
  out[(childrenOf(algorithm)[0] as Asn1Node).contentEnd - 1] = value;
  return out;
}

/** A copy of `der` with its signature replaced by `key`'s SHA-256 signature of its (possibly changed) TBS. */
function resigned(der: Buffer, key: KeyObject): Buffer {
  const fields = tbsFields(der);
  const out = Buffer.from(der);
  const signature = sign('sha256', encodingOf(fields.tbsCertificate), key);
  signature.copy(out, (fields.signatureValue as Asn1Node).contentStart + 1); // same length: an RSA-2048 signature
  return out;
}

const SHA384_WITH_RSA = 0x0c; // 1.2.840.113549.1.1.12 (sha256WithRSAEncryption ends in 0x0b)

test('M3 inner and outer signature algorithms must agree (OpenSSL X509_verify), even when the signature itself is good', async (t) => {
  const { certs } = await certificates();
  const rsa = (certs.find((c) => c.name === 'sha256WithRSAEncryption') as Made).cert;
  const key = issuerPublicKey(rsa.x509);
  const { signatureAlgorithm: outer, signature: inner } = tbsFields(rsa.der);
  if (!outer || !inner) return t.fail('no AlgorithmIdentifiers');
  const algorithmOf = (der: Buffer, which: 'signature' | 'signatureAlgorithm'): string =>
    readAlgorithmIdentifier(tbsFields(der)[which], which).oid;
  // outer sha384WithRSAEncryption, inner sha256WithRSAEncryption, the SHA-256 signature
  const outerChanged = withAlgorithm(rsa.der, outer, SHA384_WITH_RSA);
  t.is(algorithmOf(outerChanged, 'signatureAlgorithm'), '1.2.840.113549.1.1.12');
  t.false(same(t, outerChanged, key, 'outer changed'), 'outer changed');
  // inner sha384WithRSAEncryption, re-signed with SHA-256 as the outer algorithm says: a good signature, yet refused
  const innerChanged = resigned(withAlgorithm(rsa.der, inner, SHA384_WITH_RSA), rsa.key.privateKey);
  t.is(algorithmOf(innerChanged, 'signature'), '1.2.840.113549.1.1.12');
  t.false(same(t, innerChanged, key, 'inner changed, re-signed'), 'inner changed, re-signed');
  // the same re-signing without the change verifies: what is refused above is the mismatch, not the signature
  t.true(same(t, resigned(rsa.der, rsa.key.privateKey), key, 'control'), 'control');
});

test('M3 DER signature verification leaves RSASSA-PSS, DSA and unparsable bytes to OpenSSL', async (t) => {
  const { certs } = await certificates();
  for (const { name, cert } of certs.filter((c) => !c.decided)) {
    t.is(verifyCertificateSignature(cert.der, issuerPublicKey(cert.x509)), undefined, name);
    t.true(openssl(cert.der, issuerPublicKey(cert.x509)), `${name}: OpenSSL verifies it`);
  }
  const { cert } = certs[0] as Made;
  const key = issuerPublicKey(cert.x509);
  t.is(verifyCertificateSignature(Buffer.from('3003020101', 'hex'), key), undefined, 'not a certificate');
  t.is(verifyCertificateSignature(cert.der.subarray(0, 100), key), undefined, 'truncated');
});

test('M3 one public key object per issuer certificate object', async (t) => {
  const { certs } = await certificates();
  const { x509 } = (certs[0] as Made).cert;
  t.is(issuerPublicKey(x509), issuerPublicKey(x509));
  t.true(issuerPublicKey(x509).equals(x509.publicKey), "OpenSSL's reading of the key");
});
