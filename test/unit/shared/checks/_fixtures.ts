/** One test PKI per process for the check unit tests (see test/_helpers/test-pki.ts). */
import { type ObservedEndpoint, type TrustSet, trustSetFromPems } from '@certfleet/shared';
import { type TestCert, daysFromNow, testCa, testCert, testKey } from '../../../_helpers/test-pki';

export interface CheckFixtures {
  root: TestCert;
  intermediate: TestCert;
  trust: TrustSet;
  leaf: TestCert;
  expiring: TestCert;
  expired: TestCert;
  notYetValid: TestCert;
  selfSigned: TestCert;
  wrongHost: TestCert;
  rsa1024: TestCert;
  sha1Signed: TestCert;
  /** An intermediate that expired, and a leaf under it. */
  expiredIntermediate: TestCert;
  leafUnderExpiredIntermediate: TestCert;
  /** An intermediate expiring in 10 days, and a leaf under it. */
  expiringIntermediate: TestCert;
  leafUnderExpiringIntermediate: TestCert;
  /** A leaf issued by a non-CA certificate. */
  notCa: TestCert;
  leafUnderNotCa: TestCert;
  /** A chain from a root that is not in `trust`. */
  otherRoot: TestCert;
  otherIntermediate: TestCert;
  leafFromOther: TestCert;
}

let cached: Promise<CheckFixtures> | undefined;

/** Builds the fixtures once per test process. */
export function fixtures(): Promise<CheckFixtures> {
  cached ??= build();
  return cached;
}

// @peculiar/x509 encodes RDNs in the order written; RFC 4514 prints them reversed
const NAME = 'C=DE, O=Example Org, CN=www.example.test';
const DNS = ['www.example.test', '*.apps.example.test'];

async function build(): Promise<CheckFixtures> {
  const { root, intermediate } = await testCa('Checks');
  const issuer = intermediate;
  const leafKey = await testKey();
  const leaf = await testCert({ subject: NAME, issuer, key: leafKey, dns: DNS, ips: ['192.0.2.7'] });
  const expiring = await testCert({ subject: NAME, issuer, dns: DNS, notAfter: daysFromNow(10) });
  const expired = await testCert({
    subject: NAME,
    issuer,
    dns: DNS,
    notBefore: daysFromNow(-100),
    notAfter: daysFromNow(-10),
  });
  const notYetValid = await testCert({ subject: NAME, issuer, dns: DNS, notBefore: daysFromNow(2) });
  const selfSigned = await testCert({ subject: NAME, dns: DNS });
  const wrongHost = await testCert({ subject: 'CN=other.example.test', issuer, dns: ['other.example.test'] });
  const rsa1024 = await testCert({ subject: NAME, issuer, dns: DNS, keyType: 'rsa-1024' });
  const sha1Signed = await testCert({ subject: NAME, issuer, dns: DNS, hash: 'SHA-1' });
  const expiredIntermediate = await testCert({
    subject: 'CN=Checks Old Intermediate, O=CertFleet Tests',
    issuer: root,
    ca: true,
    notBefore: daysFromNow(-400),
    notAfter: daysFromNow(-1),
  });
  const leafUnderExpiredIntermediate = await testCert({
    subject: NAME,
    issuer: expiredIntermediate,
    dns: DNS,
    notBefore: daysFromNow(-30),
  });
  const expiringIntermediate = await testCert({
    subject: 'CN=Checks Short Intermediate, O=CertFleet Tests',
    issuer: root,
    ca: true,
    notAfter: daysFromNow(10),
  });
  const leafUnderExpiringIntermediate = await testCert({ subject: NAME, issuer: expiringIntermediate, dns: DNS });
  const notCa = await testCert({ subject: 'CN=not-a-ca.example.test', issuer, dns: ['not-a-ca.example.test'] });
  const leafUnderNotCa = await testCert({ subject: NAME, issuer: notCa, dns: DNS });
  const other = await testCa('Other');
  const leafFromOther = await testCert({ subject: NAME, issuer: other.intermediate, dns: DNS });
  return {
    root,
    intermediate,
    trust: trustSetFromPems('checks-test', [root.pem]),
    leaf,
    expiring,
    expired,
    notYetValid,
    selfSigned,
    wrongHost,
    rsa1024,
    sha1Signed,
    expiredIntermediate,
    leafUnderExpiredIntermediate,
    expiringIntermediate,
    leafUnderExpiringIntermediate,
    notCa,
    leafUnderNotCa,
    otherRoot: other.root,
    otherIntermediate: other.intermediate,
    leafFromOther,
  };
}

/** An observation of a server sending `certs` (leaf first). */
export function served(...certs: TestCert[]): ObservedEndpoint {
  return { host: '192.0.2.7', port: 443, serverName: 'www.example.test', ok: true, chain: certs.map((c) => c.der) };
}
