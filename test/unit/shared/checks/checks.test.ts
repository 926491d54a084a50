import test from 'ava';
import { type CheckContext, type CheckOutcome, evaluateChecks, CHECK_CODES } from '@certfleet/shared';
import { fixtures, served } from './_fixtures';

const now = (): Date => new Date();

function monitored(extra: Partial<CheckContext> = {}): Promise<CheckContext> {
  return fixtures().then((f) => ({ now: now(), mode: 'monitored', trustSet: f.trust, ...extra }) as CheckContext);
}

function check(outcome: CheckOutcome, code: string): CheckOutcome['checks'][number] {
  const c = outcome.checks.find((x) => x.code === code);
  if (!c) throw new Error(`no check ${code}`);
  return c;
}

test('a correct chain passes every check, in the documented order, with leaf/intermediate/root expiry', async (t) => {
  const f = await fixtures();
  const o = evaluateChecks(served(f.leaf, f.intermediate), await monitored({ checkName: 'www.example.test' }));
  t.is(o.status, 'ok');
  t.is(o.reason, 'Ok');
  t.deepEqual(
    o.checks.map((c) => c.code),
    [...CHECK_CODES]
  );
  for (const c of o.checks) t.true(c.status === 'ok' || c.status === 'skipped', `${c.code}: ${c.message}`);
  t.is(check(o, 'ServedCertMatchesCurrent').status, 'skipped');
  t.is(o.leaf?.sha256, f.leaf.x509.fingerprint256.replace(/:/g, '').toLowerCase());
  t.is(o.leaf?.sha1, f.leaf.x509.fingerprint.replace(/:/g, '').toLowerCase());
  t.is(o.leaf?.subject, 'CN=www.example.test, O=Example Org, C=DE');
  t.deepEqual(o.leaf?.sans, ['DNS:www.example.test', 'DNS:*.apps.example.test', 'IP:192.0.2.7']);
  t.is(o.expiry.leaf, new Date(f.leaf.x509.validTo).toISOString());
  t.deepEqual(o.expiry.intermediates, [new Date(f.intermediate.x509.validTo).toISOString()]);
  t.is(o.expiry.root, new Date(f.root.x509.validTo).toISOString());
  t.is(o.chain.length, 1);
});

test('Reachable: a failed probe fails with the probe error code and skips everything else', async (t) => {
  const o = evaluateChecks(
    {
      host: '127.0.0.1',
      port: 1,
      serverName: null,
      ok: false,
      error: { code: 'ConnectRefused', message: 'refused' },
      chain: [],
    },
    await monitored()
  );
  t.is(o.status, 'failing');
  t.is(o.reason, 'ConnectRefused');
  t.true(o.checks.slice(1).every((c) => c.status === 'skipped'));
  t.is(o.leaf, undefined);
  const errno = evaluateChecks(
    { host: 'x', port: 1, serverName: null, ok: false, error: { code: 'ETIMEDOUT', message: 't' }, chain: [] },
    await monitored()
  );
  t.is(errno.reason, 'Timeout');
  const junk = evaluateChecks(
    { host: 'x', port: 1, serverName: null, ok: true, chain: [Buffer.from('3003020100', 'hex')] },
    await monitored()
  );
  t.is(junk.reason, 'CertificateMalformed');
  const none = evaluateChecks({ host: 'x', port: 1, serverName: null, ok: true, chain: [] }, await monitored());
  t.is(none.reason, 'NoCertificate');
});

test('ServedCertMatchesCurrent (managed): SHA-256 match passes, any other certificate fails; colons/case ignored', async (t) => {
  const f = await fixtures();
  const base: CheckContext = { now: now(), mode: 'managed' };
  const good = evaluateChecks(served(f.leaf, f.intermediate), { ...base, expectedSha256: f.leaf.x509.fingerprint256 });
  t.is(check(good, 'ServedCertMatchesCurrent').status, 'ok');
  t.is(good.status, 'ok');
  const bad = evaluateChecks(served(f.expiring, f.intermediate), {
    ...base,
    expectedSha256: f.leaf.x509.fingerprint256,
  });
  t.is(bad.status, 'failing');
  t.is(bad.reason, 'ServedCertMismatch');
  t.regex(check(bad, 'ServedCertMatchesCurrent').message, /SHA-1 [0-9a-f]{40}/);
  t.is(check(evaluateChecks(served(f.leaf), base), 'ServedCertMatchesCurrent').status, 'skipped');
});

test('IntermediatesServed: expected list (managed) and issuer-served (trust set)', async (t) => {
  const f = await fixtures();
  const inter = f.intermediate.x509.fingerprint256;
  const managed: CheckContext = { now: now(), mode: 'managed', expectedChainSha256: [inter] };
  t.is(evaluateChecks(served(f.leaf, f.intermediate), managed).status, 'ok');
  const missing = evaluateChecks(served(f.leaf), managed);
  t.is(missing.reason, 'IntermediateMissing');
  const mon = evaluateChecks(served(f.leaf), await monitored());
  t.is(mon.reason, 'IntermediateMissing');
  t.is(check(mon, 'IntermediatesServed').status, 'failing');
  t.is(check(evaluateChecks(served(f.selfSigned), await monitored()), 'IntermediatesServed').status, 'ok');
  t.is(
    check(evaluateChecks(served(f.leaf), { now: now(), mode: 'monitored' }), 'IntermediatesServed').status,
    'skipped'
  );
});

test('ChainTrusted: untrusted root, served root, self-signed, issuer not a CA, expired intermediate', async (t) => {
  const f = await fixtures();
  const ctx = await monitored();
  const withRoot = evaluateChecks(served(f.leaf, f.intermediate, f.root), ctx);
  t.is(withRoot.status, 'ok', withRoot.message);
  const other = evaluateChecks(served(f.leafFromOther, f.otherIntermediate), ctx);
  t.is(other.reason, 'ChainUntrusted');
  const otherWithRoot = evaluateChecks(served(f.leafFromOther, f.otherIntermediate, f.otherRoot), ctx);
  t.is(otherWithRoot.reason, 'ChainUntrusted');
  t.regex(check(otherWithRoot, 'ChainTrusted').message, /self-signed/);
  t.is(evaluateChecks(served(f.selfSigned), ctx).reason, 'SelfSigned');
  const notCa = evaluateChecks(served(f.leafUnderNotCa, f.notCa, f.intermediate), ctx);
  t.is(notCa.reason, 'IssuerNotCa');
  const oldInter = evaluateChecks(served(f.leafUnderExpiredIntermediate, f.expiredIntermediate), ctx);
  t.is(oldInter.reason, 'IntermediateExpired');
  t.is(check(oldInter, 'IntermediateExpiring').reason, 'IntermediateExpired');
  // an explicitly trusted self-signed certificate is fine
  const trustsSelf = { ...ctx, trustSet: { ...f.trust } };
  const { trustSetFromPems } = await import('@certfleet/shared');
  trustsSelf.trustSet = trustSetFromPems('self', [f.selfSigned.pem]);
  const self = evaluateChecks(served(f.selfSigned), trustsSelf);
  t.is(self.status, 'ok', self.message);
  t.is(check(self, 'SelfSigned').status, 'ok');
});

test('SubjectMatches: CN, O and C compared case-insensitively', async (t) => {
  const f = await fixtures();
  const good = evaluateChecks(
    served(f.leaf, f.intermediate),
    await monitored({
      expectedSubject: { commonName: 'WWW.example.test', organization: 'example  org', country: 'de' },
    })
  );
  t.is(check(good, 'SubjectMatches').status, 'ok');
  const bad = evaluateChecks(
    served(f.leaf, f.intermediate),
    await monitored({ expectedSubject: { organization: 'Other Org', country: 'DE' } })
  );
  t.is(bad.reason, 'SubjectMismatch');
  t.regex(check(bad, 'SubjectMatches').message, /O is "Example Org", expected "Other Org"/);
  t.is(check(evaluateChecks(served(f.leaf), await monitored()), 'SubjectMatches').status, 'skipped');
});

test('HostnameCovered: check name, falls back to SNI, wildcard one label, IP SAN', async (t) => {
  const f = await fixtures();
  const run = async (checkName?: string): Promise<CheckOutcome> =>
    evaluateChecks(served(f.leaf, f.intermediate), await monitored(checkName === undefined ? {} : { checkName }));
  t.is(check(await run(), 'HostnameCovered').status, 'ok'); // SNI www.example.test
  t.is(check(await run('a.apps.example.test'), 'HostnameCovered').status, 'ok');
  t.is((await run('a.b.apps.example.test')).reason, 'HostnameMismatch');
  t.is((await run('apps.example.test')).reason, 'HostnameMismatch');
  t.is(check(await run('192.0.2.7'), 'HostnameCovered').status, 'ok');
  t.is((await run('192.0.2.8')).reason, 'HostnameMismatch');
  const wrong = evaluateChecks(served(f.wrongHost, f.intermediate), await monitored());
  t.is(wrong.reason, 'HostnameMismatch');
});

test('CertificateNotExpired / CertificateNotYetValid (managed: no trust set, so the leaf checks decide)', async (t) => {
  const f = await fixtures();
  const ctx: CheckContext = { now: now(), mode: 'managed' };
  const expired = evaluateChecks(served(f.expired, f.intermediate), ctx);
  t.is(expired.reason, 'CertificateExpired');
  t.is(check(expired, 'CertificateNotExpired').status, 'failing');
  t.is(check(expired, 'CertificateNearingExpiry').status, 'skipped');
  const early = evaluateChecks(served(f.notYetValid, f.intermediate), ctx);
  t.is(early.reason, 'CertificateNotYetValid');
  // with a trust set, path validation reports the same reason first
  t.is(evaluateChecks(served(f.expired, f.intermediate), await monitored()).reason, 'CertificateExpired');
  t.is(evaluateChecks(served(f.notYetValid, f.intermediate), await monitored()).reason, 'CertificateNotYetValid');
});

test('CertificateNearingExpiry: warning inside the threshold (default 30 days), configurable', async (t) => {
  const f = await fixtures();
  const o = evaluateChecks(served(f.expiring, f.intermediate), await monitored());
  t.is(o.status, 'warning');
  t.is(o.reason, 'CertificateExpiringSoon');
  const narrow = evaluateChecks(served(f.expiring, f.intermediate), await monitored({ expiryThresholdDays: 5 }));
  t.is(narrow.status, 'ok');
  const wide = evaluateChecks(served(f.leaf, f.intermediate), await monitored({ expiryThresholdDays: 120 }));
  t.is(wide.reason, 'CertificateExpiringSoon');
});

test('SelfSigned: warning without a trust set', async (t) => {
  const f = await fixtures();
  const o = evaluateChecks(served(f.selfSigned), {
    now: now(),
    mode: 'managed',
    expectedSha256: f.selfSigned.x509.fingerprint256,
  });
  t.is(o.status, 'warning');
  t.is(o.reason, 'SelfSigned');
});

test('WeakKey: RSA-1024 fails; P-256 passes', async (t) => {
  const f = await fixtures();
  const o = evaluateChecks(served(f.rsa1024, f.intermediate), await monitored());
  t.is(o.reason, 'WeakKey');
  t.regex(check(o, 'WeakKey').message, /RSA-1024/);
  t.is(check(evaluateChecks(served(f.leaf, f.intermediate), await monitored()), 'WeakKey').status, 'ok');
});

test('WeakSignature: a SHA-1 signature fails', async (t) => {
  const f = await fixtures();
  const o = evaluateChecks(served(f.sha1Signed, f.intermediate), await monitored());
  t.is(o.reason, 'WeakSignature');
  t.regex(check(o, 'WeakSignature').message, /ecdsa-with-SHA1/);
});

test('IntermediateExpiring: warning when an intermediate expires within the threshold', async (t) => {
  const f = await fixtures();
  const o = evaluateChecks(served(f.leafUnderExpiringIntermediate, f.expiringIntermediate), await monitored());
  t.is(o.status, 'warning');
  t.is(o.reason, 'IntermediateExpiringSoon', 'the leaf itself has 90 days left; only its issuer is short-lived');
  t.is(check(o, 'IntermediateExpiring').reason, 'IntermediateExpiringSoon');
});

test('first failure wins: a mismatched, expired certificate reports the mismatch', async (t) => {
  const f = await fixtures();
  const o = evaluateChecks(served(f.expired), {
    now: now(),
    mode: 'managed',
    expectedSha256: f.leaf.x509.fingerprint256,
    checkName: 'nope.example.test',
  });
  t.is(o.reason, 'ServedCertMismatch');
  const failing = o.checks.filter((c) => c.status === 'failing').map((c) => c.code);
  t.deepEqual(failing, ['ServedCertMatchesCurrent', 'HostnameCovered', 'CertificateNotExpired']);
});

test('evaluateChecks is pure: same input, same outcome; time comes from ctx.now', async (t) => {
  const f = await fixtures();
  const ctx = await monitored();
  const a = evaluateChecks(served(f.leaf, f.intermediate), ctx);
  const b = evaluateChecks(served(f.leaf, f.intermediate), ctx);
  t.deepEqual(a, b);
  const later = evaluateChecks(served(f.leaf, f.intermediate), {
    ...ctx,
    now: new Date(Date.now() + 400 * 86_400_000),
  });
  t.is(later.reason, 'CertificateExpired');
});
