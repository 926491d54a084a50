/**
 * A throw-away PKI for the check tests and the endpoint farm: roots, intermediates and leaves with any validity,
 * names, key and signature algorithm, built with @peculiar/x509 (independent of the code under test). Keys are
 * WebCrypto key pairs; PEM/DER of certificates and PKCS#8 PEM of keys are exposed for TLS servers and `openssl`.
 */
import 'reflect-metadata';
import { X509Certificate, createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

const cryptoProvider = webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.create>[1];
const subtle = webcrypto.subtle;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type KeyGenParams = webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams;

export type TestKeyType = 'ec-p256' | 'ec-p384' | 'rsa-2048' | 'rsa-1024';

/** A key pair with its PKCS#8 PEM. */
export interface TestKey {
  type: TestKeyType;
  keys: CryptoKeyPair;
  privateKeyPem: string;
}

/** A certificate with its key. */
export interface TestCert {
  der: Buffer;
  pem: string;
  x509: X509Certificate;
  key: TestKey;
  subject: string;
}

type HashName = 'SHA-1' | 'SHA-256' | 'SHA-384';

function algorithmFor(type: TestKeyType, hash: HashName = 'SHA-256'): KeyGenParams {
  switch (type) {
    case 'ec-p256':
      return { name: 'ECDSA', namedCurve: 'P-256' };
    case 'ec-p384':
      return { name: 'ECDSA', namedCurve: 'P-384' };
    case 'rsa-2048':
    case 'rsa-1024':
      return {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: type === 'rsa-2048' ? 2048 : 1024,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash,
      };
  }
}

/** Generates a key pair (RSA asynchronously: ≈ 100 ms each for 2048 bits). */
export async function testKey(type: TestKeyType = 'ec-p256'): Promise<TestKey> {
  const keys = (await subtle.generateKey(algorithmFor(type), true, ['sign', 'verify'])) as CryptoKeyPair;
  const pkcs8 = Buffer.from(await subtle.exportKey('pkcs8', keys.privateKey));
  const privateKeyPem = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({
    format: 'pem',
    type: 'pkcs8',
  }) as string;
  return { type, keys, privateKeyPem };
}

/** What to put in a certificate. */
export interface CertSpec {
  /** e.g. `CN=leaf.example, O=Example, C=DE` (peculiar's order: as written). */
  subject: string;
  /** Issuer certificate; absent = self-signed. */
  issuer?: TestCert;
  key?: TestKey;
  /** @default 'ec-p256' when `key` is absent */
  keyType?: TestKeyType;
  notBefore?: Date;
  notAfter?: Date;
  /** `DNS:` / `IP:` names. */
  dns?: string[];
  ips?: string[];
  ca?: boolean;
  /** Signature digest. @default 'SHA-256' */
  hash?: HashName;
  /** Omit the basicConstraints extension entirely. */
  noBasicConstraints?: boolean;
}

const DAY = 86_400_000;

/** Issues (or self-signs) one certificate. */
export async function testCert(spec: CertSpec): Promise<TestCert> {
  const key = spec.key ?? (await testKey(spec.keyType ?? 'ec-p256'));
  const signer = spec.issuer?.key ?? key;
  const hash = spec.hash ?? 'SHA-256';
  const signingAlgorithm = signer.type.startsWith('rsa')
    ? { name: 'RSASSA-PKCS1-v1_5', hash }
    : { name: 'ECDSA', hash };
  const now = Date.now();
  const extensions: x509.Extension[] = [];
  if (!spec.noBasicConstraints) extensions.push(new x509.BasicConstraintsExtension(spec.ca ?? false, undefined, true));
  extensions.push(
    new x509.KeyUsagesExtension(
      spec.ca
        ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign
        : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true
    )
  );
  if (!spec.ca) extensions.push(new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]));
  const sans = [
    ...(spec.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(spec.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  if (sans.length) extensions.push(new x509.SubjectAlternativeNameExtension(sans));
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(key.keys.publicKey, false, cryptoProvider));
  if (spec.issuer)
    extensions.push(
      await x509.AuthorityKeyIdentifierExtension.create(spec.issuer.key.keys.publicKey, false, cryptoProvider)
    );
  const serial = randomBytes(16);
  serial[0] = ((serial[0] as number) & 0x3f) | 0x40;
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serial.toString('hex'),
      subject: spec.subject,
      issuer: spec.issuer?.subject ?? spec.subject,
      notBefore: spec.notBefore ?? new Date(now - DAY),
      notAfter: spec.notAfter ?? new Date(now + 90 * DAY),
      signingAlgorithm,
      publicKey: key.keys.publicKey,
      signingKey: signer.keys.privateKey,
      extensions,
    },
    cryptoProvider
  );
  const der = Buffer.from(cert.rawData);
  return { der, pem: cert.toString('pem') + '\n', x509: new X509Certificate(der), key, subject: spec.subject };
}

/** Days from now as a Date. */
export function daysFromNow(days: number): Date {
  return new Date(Date.now() + days * DAY);
}

/** A root → intermediate pair (EC P-256). */
export async function testCa(name = 'Test'): Promise<{ root: TestCert; intermediate: TestCert }> {
  const root = await testCert({
    subject: `CN=${name} Root CA, O=CertFleet Tests`,
    ca: true,
    notBefore: daysFromNow(-30),
    notAfter: daysFromNow(3650),
  });
  const intermediate = await testCert({
    subject: `CN=${name} Intermediate CA, O=CertFleet Tests`,
    issuer: root,
    ca: true,
    notBefore: daysFromNow(-30),
    notAfter: daysFromNow(1800),
  });
  return { root, intermediate };
}

/** What `POST /api/v1/imports` answers (the ids the tests use). */
export interface ImportedIds {
  definition: { id: string };
  certificate: { id: string };
}

/** The body of `POST /api/v1/imports` for a Lifecycle-Managed import of `leaf` with its key and `chain`. */
export function managedImportBody(name: string, leaf: TestCert, chain: TestCert): Record<string, string> {
  const b64 = (text: string): string => Buffer.from(text).toString('base64');
  return { mode: 'managed', name, file: b64(leaf.pem), key: b64(leaf.key.privateKeyPem), chain: b64(chain.pem) };
}
