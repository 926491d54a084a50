/**
 * SPEC M3, M6: the probe reuses OpenSSL's handshake verification of the leaf's signature only when it proves it
 * (shared/src/probe/probe.ts, noteHandshakeVerification), and path validation then skips that one signature check.
 * Real TLS listeners on loopback serve: a good chain, the same with an unrelated certificate after it, a leaf whose
 * signature was tampered with, an expired leaf, a leaf with an impostor intermediate (same name, other key), and a
 * leaf with both the real and the impostor intermediate. Each case has a leaf of its own (a record is kept by the
 * certificates' SHA-256). Only the good chains may be recorded; every verdict must be what it would be without the
 * record — and the same as the grab's (certificate-grab.ts, the probe's default), which verifies no leaf signature and
 * so records nothing.
 */
import type net from 'node:net';
import tls from 'node:tls';
import test from 'ava';
import { evaluateChecks, probeEndpoint, trustSetFromPems } from '@certfleet/shared';
import { handshakeVerifiedIssuer } from '../../../shared/src/x509/decoded-x509';
import { sha256Hex } from '../../../shared/src/x509/certificate';
import { closeAll, serveTlsChain } from '../../_helpers/probe-pki';
import { type TestCert, daysFromNow, testCa, testCert } from '../../_helpers/test-pki';

const CN = 'hv.probe.test';
const servers: net.Server[] = [];
test.after.always(() => closeAll(servers));

/** The same certificate with the last byte of its signature changed (still well-formed DER). */
function tampered(cert: TestCert): string {
  const der = Buffer.from(cert.der);
  der[der.length - 1] = (der[der.length - 1] as number) ^ 0x01;
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

test('M3 M6 the leaf signature verified in the handshake is reused only when OpenSSL proves it', async (t) => {
  const { root, intermediate } = await testCa('Handshake Verify');
  const impostor = (await testCa('Handshake Verify')).intermediate; // same names, other keys
  t.is(impostor.x509.subject, intermediate.x509.subject);
  const leaf = (): Promise<TestCert> => testCert({ subject: `CN=${CN}`, issuer: intermediate, dns: [CN] });
  const [good, goodPlus, forged, withImpostor, withBoth] = await Promise.all([leaf(), leaf(), leaf(), leaf(), leaf()]);
  const unrelated = (await testCa('Handshake Verify Other')).intermediate;
  const expired = await testCert({
    subject: `CN=${CN}`,
    issuer: intermediate,
    dns: [CN],
    notBefore: daysFromNow(-60),
    notAfter: daysFromNow(-1),
  });
  const trust = trustSetFromPems('hv', [root.pem]);
  // `openssl`: the verify error OpenSSL reports for the served chain with an empty trust store (the premise of the
  // reuse; see noteHandshakeVerification); `reason`: the verdict against a trust set holding the root.
  const cases = [
    {
      name: 'good chain',
      leaf: good,
      pem: good.pem + intermediate.pem,
      openssl: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
      recorded: true,
      reason: 'Ok',
    },
    {
      name: 'good chain and an unrelated certificate', // three served: the issuer is found by name
      leaf: goodPlus,
      pem: goodPlus.pem + intermediate.pem + unrelated.pem,
      openssl: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
      recorded: true,
      reason: 'Ok',
    },
    {
      name: 'tampered leaf signature',
      leaf: forged,
      pem: tampered(forged) + intermediate.pem,
      openssl: 'CERT_SIGNATURE_FAILURE',
      recorded: false,
      reason: 'IntermediateMissing', // the forged link is not followed
    },
    {
      name: 'expired leaf',
      leaf: expired,
      pem: expired.pem + intermediate.pem,
      openssl: 'CERT_HAS_EXPIRED',
      recorded: false,
      reason: 'CertificateExpired',
    },
    {
      name: 'impostor intermediate',
      leaf: withImpostor,
      pem: withImpostor.pem + impostor.pem,
      openssl: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      recorded: false,
      reason: 'IntermediateMissing',
    },
    {
      name: 'real and impostor intermediates',
      leaf: withBoth,
      pem: withBoth.pem + impostor.pem + intermediate.pem,
      openssl: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
      recorded: false, // two served certificates bear the issuer name
      reason: 'Ok',
    },
  ];
  for (const c of cases) {
    const port = await serveTlsChain(servers, c.pem, c.leaf.key.privateKeyPem);
    // the grab (the default) verifies no leaf signature, so it records nothing; the verdict is the same
    const grabbed = await probeEndpoint({ host: '127.0.0.1', port, serverName: CN, timeoutMs: 5_000 });
    t.true(grabbed.ok, `${c.name} (grab): ${grabbed.error?.message ?? ''}`);
    t.is(handshakeVerifiedIssuer(sha256Hex(grabbed.chain[0] as Buffer)), undefined, `${c.name} (grab)`);
    const withoutRecord = evaluateChecks(grabbed, {
      now: new Date(),
      mode: 'monitored',
      trustSet: trust,
      checkName: CN,
    });
    t.is(withoutRecord.reason, c.reason, `${c.name} (grab): ${withoutRecord.message}`);

    const o = await probeEndpoint({ host: '127.0.0.1', port, serverName: CN, timeoutMs: 5_000, handshake: 'node' });
    t.true(o.ok, `${c.name}: ${o.error?.message ?? ''}`);
    const recorded = handshakeVerifiedIssuer(sha256Hex(o.chain[0] as Buffer));
    if (c.recorded) t.is(recorded, sha256Hex(intermediate.der), c.name);
    else t.is(recorded, undefined, c.name);

    const withRecord = evaluateChecks(o, { now: new Date(), mode: 'monitored', trustSet: trust, checkName: CN });
    // what OpenSSL reported (for the log)
    const raw = await new Promise<string>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port, servername: CN, rejectUnauthorized: false, ca: [] }, () => {
        resolve(String(s.authorizationError));
        s.destroy();
      });
      s.on('error', (e) => resolve(`error ${e.message}`));
    });
    t.is(raw, c.openssl, c.name);
    t.is(withRecord.reason, c.reason, `${c.name}: ${withRecord.message}`);
    t.is(withRecord.message, withoutRecord.message, c.name);
    t.log(
      `${c.name}: OpenSSL ${raw}, recorded ${recorded ? 'yes' : 'no'}, verdict ${withRecord.reason}: ${withRecord.message}`
    );
  }
});
