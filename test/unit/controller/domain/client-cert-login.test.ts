import test from 'ava';
import {
  clientCertLoginInputSchema,
  clientCertRefusal,
  type PresentedCertificate,
} from '../../../../controller/src/domain/client-cert-login';

const cert: PresentedCertificate = {
  sha1: 'a'.repeat(40),
  sha256: 'b'.repeat(64),
  notBefore: new Date('2026-01-01T00:00:00Z'),
  notAfter: new Date('2027-01-01T00:00:00Z'),
  subject: 'CN=admin',
};
const now = new Date('2026-06-01T00:00:00Z');

test('U4 refusal reasons: off, missing, not listed, not yet valid, expired; SHA-1 or SHA-256 match', (t) => {
  t.is(clientCertRefusal({ enabled: false, thumbprints: [] }, null, now), null, 'off: no certificate needed');
  const on = { enabled: true, thumbprints: [cert.sha256] };
  t.is(clientCertRefusal(on, null, now), 'no-certificate');
  t.is(clientCertRefusal(on, cert, now), null);
  t.is(clientCertRefusal({ enabled: true, thumbprints: [cert.sha1] }, cert, now), null, 'SHA-1 thumbprint');
  t.is(clientCertRefusal({ enabled: true, thumbprints: ['c'.repeat(64)] }, cert, now), 'not-allowed');
  t.is(clientCertRefusal(on, cert, new Date('2025-12-31T23:59:59Z')), 'not-yet-valid');
  t.is(clientCertRefusal(on, cert, new Date('2027-01-01T00:00:01Z')), 'expired');
});

test('U4 settings input: thumbprints normalised (colons, case), validated, enabling needs one', (t) => {
  const upper = 'AB:'.repeat(19) + 'AB';
  const parsed = clientCertLoginInputSchema.parse({ enabled: true, thumbprints: [upper, 'C'.repeat(64)] });
  t.deepEqual(parsed.thumbprints, ['ab'.repeat(20), 'c'.repeat(64)]);
  t.false(parsed.force);
  for (const bad of ['abc', 'g'.repeat(40), 'a'.repeat(41), 'a'.repeat(63)]) {
    t.false(clientCertLoginInputSchema.safeParse({ enabled: false, thumbprints: [bad] }).success, bad);
  }
  const none = clientCertLoginInputSchema.safeParse({ enabled: true, thumbprints: [] });
  t.false(none.success);
  t.regex(JSON.stringify(none.error?.issues), /at least one allowed thumbprint/);
  t.true(clientCertLoginInputSchema.safeParse({ enabled: false, thumbprints: [] }).success);
  t.false(clientCertLoginInputSchema.safeParse({ enabled: false, thumbprints: [], extra: 1 }).success, 'strict');
});
