/**
 * SPEC M3, M6: the checks read a certificate's facts from its DER (shared/src/checks/certificate-facts.ts) and ask
 * OpenSSL only to verify signatures; what they read must be what OpenSSL reads — serial, validity, subject, CA flag —
 * for every root of the system store and every certificate of the test PKI.
 */
import { X509Certificate } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import { certificateFacts } from '@certfleet/shared';
import { rememberServed } from '../../../../shared/src/x509/decoded-x509';
import { sha256Hex } from '../../../../shared/src/x509/certificate';
import { certificateExtensions, subjectName, tbsFields } from '../../../../shared/src/x509/tbs';
import { systemRootsFor } from '../../../_helpers/system-roots';
import { testCert } from '../../../_helpers/test-pki';
import { fixtures } from './_fixtures';

function sameAsOpenSsl(t: ExecutionContext, x509: X509Certificate): void {
  const f = certificateFacts(Buffer.from(x509.raw));
  const what = x509.subject.replace(/\n/g, ', ');
  t.is(f.serial, x509.serialNumber.toLowerCase(), `serial of ${what}`);
  t.is(f.notBefore.getTime(), new Date(x509.validFrom).getTime(), `notBefore of ${what}`);
  t.is(f.notAfter.getTime(), new Date(x509.validTo).getTime(), `notAfter of ${what}`);
  t.is(f.isCa, x509.ca, `CA flag of ${what}`);
  t.is(subjectName(x509.raw), f.subject, `subject of ${what}`);
}

test('M3 certificate facts read from the DER equal OpenSSL reading of every system root and test certificate', async (t) => {
  const f = await fixtures();
  const mine = Object.values(f).filter((v): v is { x509: X509Certificate } => 'x509' in v && 'der' in v);
  t.true(mine.length >= 15);
  for (const c of mine) sameAsOpenSsl(t, c.x509);
  const roots = systemRootsFor(t);
  if (!roots) return;
  for (const r of roots) sameAsOpenSsl(t, r);
  t.log(`${mine.length} test certificates and ${roots.length} system roots compared`);
});

/** The DER with the serial's single content byte replaced (the signature no longer matches; nothing verifies it). */
function withSerialByte(der: Buffer, value: number): Buffer {
  const out = Buffer.from(der);
  const at = out.indexOf(Buffer.from([0x02, 0x01, 0x01])); // INTEGER 1, the first INTEGER after the version
  out[at + 2] = value;
  return out;
}

test('M3 serial numbers read as OpenSSL prints them: zero, negative, one byte', async (t) => {
  const { X509CertificateGenerator, cryptoProvider } = await import('@peculiar/x509');
  const { webcrypto } = await import('node:crypto');
  cryptoProvider.set(webcrypto as never);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const cert = await X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=serial.test',
    keys: keys as never,
    signingAlgorithm: alg,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
  });
  const der = Buffer.from(cert.rawData);
  for (const [byte, printed] of [
    [0x01, '01'],
    [0x00, '0'],
    [0xff, '-01'],
    [0x80, '-80'],
    [0x7f, '7f'],
  ] as const) {
    const patched = withSerialByte(der, byte);
    t.is(new X509Certificate(patched).serialNumber.toLowerCase(), printed, `OpenSSL, byte ${byte}`);
    t.is(certificateFacts(patched).serial, printed, `facts, byte ${byte}`);
  }
});

test("M3 a probe's certificate with a padded serial does not decode, as in OpenSSL (the grab's leaf is not decoded by OpenSSL)", async (t) => {
  const leaf = await testCert({ subject: 'CN=padded.facts.test', dns: ['padded.facts.test'] });
  const der = Buffer.from(leaf.der);
  // re-encode the serial INTEGER with a superfluous leading zero octet (and grow both enclosing lengths)
  const tbs = tbsFields(der).serialNumber;
  const content = der.subarray(tbs.contentStart, tbs.contentEnd);
  const paddedSerial = Buffer.concat([Buffer.from([0x02, content.length + 1, 0x00]), content]);
  const padded = Buffer.concat([der.subarray(0, tbs.start), paddedSerial, der.subarray(tbs.contentEnd)]);
  t.is(padded[1], 0x82, 'long-form lengths');
  padded.writeUInt16BE(padded.readUInt16BE(2) + 1, 2);
  padded.writeUInt16BE(padded.readUInt16BE(6) + 1, 6);
  t.throws(() => new X509Certificate(padded), undefined, 'OpenSSL refuses the padded INTEGER');
  t.throws(() => certificateFacts(rememberServed(padded, sha256Hex(padded))), undefined, 'so do the facts');
  // the unpadded original reads fine from its probe buffer
  t.is(
    certificateFacts(rememberServed(der, sha256Hex(der))).serial,
    new X509Certificate(der).serialNumber.toLowerCase()
  );
});

test("M3 a probe's certificate is read from its own buffer (no copy, extensions once) and decoded by OpenSSL only on demand", async (t) => {
  const leaf = await testCert({ subject: 'CN=fresh.facts.test', dns: ['fresh.facts.test'] }); // not cached yet
  const der = Buffer.from(leaf.der);
  const facts = certificateFacts(rememberServed(der, sha256Hex(der)));
  t.is(facts.der, der, 'the registered buffer itself');
  t.is(certificateFacts(der), facts, 'memoized by the buffer');
  t.is(facts.x509.fingerprint256, leaf.x509.fingerprint256, 'OpenSSL decodes the same bytes when asked');
  t.is(facts.x509, facts.x509, 'once');
  t.is(
    certificateExtensions(der),
    certificateExtensions(der),
    'its extensions are read once (checks, AIA, revocation)'
  );
  const unknown = await testCert({ subject: 'CN=other.facts.test', dns: ['other.facts.test'] });
  const other = Buffer.from(unknown.der);
  t.not(certificateFacts(other).der, other, 'bytes of unknown origin are copied');
  t.not(certificateExtensions(other), certificateExtensions(other), 'and read each time (the caller may change them)');
  t.deepEqual(certificateExtensions(other), certificateExtensions(other));
});
