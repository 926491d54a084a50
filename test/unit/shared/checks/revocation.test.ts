import test from 'ava';
import { type CheckContext, type CheckOutcome, type RevocationInfo, evaluateChecks } from '@certfleet/shared';
import { fixtures, served } from './_fixtures';

async function judge(revocation?: RevocationInfo): Promise<CheckOutcome> {
  const f = await fixtures();
  const ctx: CheckContext = {
    now: new Date(),
    mode: 'monitored',
    trustSet: f.trust,
    checkName: 'www.example.test',
    ...(revocation ? { revocation } : {}),
  };
  return evaluateChecks(served(f.leaf, f.intermediate), ctx);
}

function notRevoked(o: CheckOutcome): CheckOutcome['checks'][number] {
  const c = o.checks.find((x) => x.code === 'NotRevoked');
  if (!c) throw new Error('no NotRevoked check');
  return c;
}

test('NotRevoked: no revocation info in the context → skipped, verdict unchanged', async (t) => {
  const o = await judge();
  t.is(notRevoked(o).status, 'skipped');
  t.is(o.status, 'ok');
  t.is(o.reason, 'Ok');
});

test('NotRevoked: good → ok', async (t) => {
  const o = await judge({ status: 'good', source: 'crl', message: 'serial 1 not listed in CRL http://x/crl' });
  t.is(notRevoked(o).status, 'ok');
  t.regex(notRevoked(o).message, /not revoked \(CRL\)/);
  t.is(o.status, 'ok');
});

test('NotRevoked: revoked → failing CertificateRevoked with date and reason', async (t) => {
  const o = await judge({
    status: 'revoked',
    source: 'crl',
    reason: 'keyCompromise',
    revokedAt: '2026-11-20T10:00:00.000Z',
    message: 'listed in CRL http://x/crl',
  });
  const c = notRevoked(o);
  t.is(c.status, 'failing');
  t.is(c.reason, 'CertificateRevoked');
  t.regex(c.message, /revoked on 2026-11-20T10:00:00\.000Z \(reason keyCompromise\)/);
  t.is(o.status, 'failing');
  t.is(o.reason, 'CertificateRevoked');
});

test('NotRevoked: unknown (asked, no usable answer) → warning RevocationUnknown', async (t) => {
  const o = await judge({ status: 'unknown', source: 'crl', message: 'http://127.0.0.1:1/crl: ECONNREFUSED' });
  const c = notRevoked(o);
  t.is(c.status, 'warning');
  t.is(c.reason, 'RevocationUnknown');
  t.regex(c.message, /ECONNREFUSED/);
  t.is(o.status, 'warning');
  t.is(o.reason, 'RevocationUnknown');
});

test('NotRevoked: skipped when there is no leaf, even with revocation info', async (t) => {
  const f = await fixtures();
  const o = evaluateChecks(
    { host: 'x', port: 1, serverName: null, ok: false, error: { code: 'ConnectRefused', message: 'r' }, chain: [] },
    {
      now: new Date(),
      mode: 'monitored',
      trustSet: f.trust,
      revocation: { status: 'revoked', source: 'crl', message: 'm' },
    }
  );
  t.is(notRevoked(o).status, 'skipped');
  t.is(o.reason, 'ConnectRefused');
});

test('M6 NotRevoked: no source reachable (cause unreachable) → warning RevocationUnreachable naming the source', async (t) => {
  const o = await judge({
    status: 'unknown',
    source: 'ocsp',
    cause: 'unreachable',
    message: 'OCSP http://127.0.0.1:1: unreachable (ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1)',
  });
  const c = notRevoked(o);
  t.is(c.status, 'warning');
  t.is(c.reason, 'RevocationUnreachable');
  t.regex(c.message, /^revocation status unknown, OCSP unreachable: OCSP http:\/\/127\.0\.0\.1:1: unreachable/);
  t.is(o.status, 'warning');
  t.is(o.reason, 'RevocationUnreachable');
  // an answer that came but could not be trusted stays RevocationUnknown
  const invalid = await judge({ status: 'unknown', source: 'ocsp', cause: 'invalid', message: 'BadSignature: …' });
  t.is(notRevoked(invalid).reason, 'RevocationUnknown');
  const notKnown = await judge({ status: 'unknown', source: 'ocsp', cause: 'not-known', message: 'unknown' });
  t.is(notRevoked(notKnown).reason, 'RevocationUnknown');
});
