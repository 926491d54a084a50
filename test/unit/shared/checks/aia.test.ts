/**
 * The pure half of AIA chain completion (SPEC M2, M3): how IntermediatesServed and ChainTrusted judge a leaf served
 * without its intermediate when `CheckContext.aia` carries what AIA fetching found, and how caIssuers bodies
 * (DER, PKCS#7 "p7c", PEM) are read.
 */
import 'reflect-metadata';
import test from 'ava';
import * as x509 from '@peculiar/x509';
import { type AiaEvidence, type CheckOutcome, caIssuersCertificates, evaluateChecks } from '@certfleet/shared';
import { fixtures, served } from './_fixtures';

const URL = 'http://aia.example.test/int.der';

function check(o: CheckOutcome, code: string): CheckOutcome['checks'][number] {
  const c = o.checks.find((x) => x.code === code);
  if (!c) throw new Error(`no ${code} check`);
  return c;
}

test('M2 M3 AIA: fetched issuer completes the path → IntermediatesServed fails IntermediateMissingAiaCompletable, ChainTrusted ok', async (t) => {
  const f = await fixtures();
  const aia: AiaEvidence = { certificates: [f.intermediate.der], attempts: [{ for: 'CN=www.example.test', url: URL }] };
  const o = evaluateChecks(served(f.leaf), { now: new Date(), mode: 'monitored', trustSet: f.trust, aia });
  t.is(o.status, 'failing');
  t.is(o.reason, 'IntermediateMissingAiaCompletable');
  const s = check(o, 'IntermediatesServed');
  t.is(s.reason, 'IntermediateMissingAiaCompletable');
  t.regex(s.message, /"O=CertFleet Tests, CN=Checks Intermediate CA"/);
  t.regex(s.message, new RegExp(`AIA caIssuers \\(${URL.replace(/\./g, '\\.')}\\)`));
  t.regex(s.message, /in trust set "checks-test"/);
  t.is(check(o, 'ChainTrusted').status, 'ok');
  t.regex(check(o, 'ChainTrusted').message, /completed with 1 intermediate\(s\) from AIA/);
  t.truthy(o.expiry.root);
});

test('M2 M3 AIA: the served chain wins; AIA certificates are ignored when nothing is missing', async (t) => {
  const f = await fixtures();
  const aia: AiaEvidence = { certificates: [f.otherIntermediate.der], attempts: [{ for: 'x', url: URL }] };
  const o = evaluateChecks(served(f.leaf, f.intermediate), {
    now: new Date(),
    mode: 'monitored',
    trustSet: f.trust,
    checkName: 'www.example.test',
    aia,
  });
  t.is(o.status, 'ok', o.message);
  t.notRegex(check(o, 'ChainTrusted').message, /AIA/);
});

test('M2 M3 AIA: a completed chain that does not reach the trust set is ChainUntrusted', async (t) => {
  const f = await fixtures();
  const aia: AiaEvidence = {
    certificates: [f.otherIntermediate.der],
    attempts: [
      { for: 'CN=www.example.test', url: URL },
      { for: 'CN=Other Intermediate CA', error: 'names no http:// AIA caIssuers URL' },
    ],
  };
  const o = evaluateChecks(served(f.leafFromOther), { now: new Date(), mode: 'monitored', trustSet: f.trust, aia });
  const trusted = check(o, 'ChainTrusted');
  t.is(trusted.reason, 'ChainUntrusted');
  t.regex(trusted.message, /^completed from AIA caIssuers/);
  const s = check(o, 'IntermediatesServed');
  t.is(s.reason, 'IntermediateMissing');
  t.regex(s.message, /the chain still does not validate/);
});

test('M2 M3 AIA: failed fetches are named in the IntermediateMissing message; no AIA info → message unchanged', async (t) => {
  const f = await fixtures();
  const aia: AiaEvidence = {
    certificates: [],
    attempts: [{ for: 'CN=www.example.test', url: URL, error: 'unreachable: ECONNREFUSED', unreachable: true }],
  };
  const o = evaluateChecks(served(f.leaf), { now: new Date(), mode: 'monitored', trustSet: f.trust, aia });
  t.is(o.reason, 'IntermediateMissing');
  t.regex(
    check(o, 'IntermediatesServed').message,
    /; AIA: caIssuers http:\/\/aia\.example\.test\/int\.der for "CN=www\.example\.test": unreachable: ECONNREFUSED$/
  );
  t.regex(check(o, 'ChainTrusted').message, /unreachable: ECONNREFUSED$/);
  const plain = evaluateChecks(served(f.leaf), { now: new Date(), mode: 'monitored', trustSet: f.trust });
  t.is(plain.reason, 'IntermediateMissing');
  t.notRegex(check(plain, 'IntermediatesServed').message, /AIA/);
});

test('M2 M3 AIA caIssuers bodies: DER certificate, PKCS#7 certs-only (DER and PEM), PEM; junk is refused', async (t) => {
  const f = await fixtures();
  t.deepEqual(caIssuersCertificates(f.intermediate.der), [f.intermediate.der]);
  const bundle = new x509.X509Certificates([
    new x509.X509Certificate(f.intermediate.der),
    new x509.X509Certificate(f.root.der),
  ]);
  const p7c = Buffer.from(bundle.export('raw'));
  const fromP7c = caIssuersCertificates(p7c);
  t.is(fromP7c.length, 2);
  t.true(fromP7c.some((c) => c.equals(f.intermediate.der)));
  t.is(caIssuersCertificates(Buffer.from(bundle.export('pem'))).length, 2);
  t.deepEqual(caIssuersCertificates(Buffer.from(f.intermediate.pem)), [f.intermediate.der]);
  t.throws(() => caIssuersCertificates(Buffer.from('<html>not found</html>')), { message: /neither DER nor PEM/ });
  t.throws(() => caIssuersCertificates(Buffer.from('3003020101', 'hex')), { message: /not a certificate/ });
});
