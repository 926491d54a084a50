import { existsSync } from 'node:fs';
import test from 'ava';
import { SYSTEM_CA_BUNDLE, systemTrustSet, trustSetFromPems, caCertificatesVersion } from '@certfleet/shared';
import { subjectName } from '../../../../shared/src/x509/tbs';
import { fixtures } from './_fixtures';

test('trustSetFromPems: parses, de-duplicates, indexes by subject and SHA-256', async (t) => {
  const f = await fixtures();
  const set = trustSetFromPems('lab', [f.root.pem + f.root.pem, f.otherRoot.pem]);
  t.is(set.name, 'lab');
  t.is(set.source, 'user');
  t.is(set.roots.length, 2);
  t.deepEqual(set.bySubject.get(subjectName(f.root.der)), [set.roots[0]], 'by RFC 4514 subject, as facts name issuers');
  t.true(set.sha256.has(f.root.x509.fingerprint256.replace(/:/g, '').toLowerCase()));
  t.throws(() => trustSetFromPems('empty', ['no pem here']), { message: /no certificate/ });
});

// The Debian package is part of the product's runtime (the system-defined set); without it the set cannot exist.
test('systemTrustSet: the Debian Mozilla bundle with its package version, parsed once', (t) => {
  if (!existsSync(SYSTEM_CA_BUNDLE)) {
    t.throws(() => systemTrustSet({ version: 'x' }), { message: /cannot read/ });
    return;
  }
  const t0 = performance.now();
  const a = systemTrustSet();
  const first = performance.now() - t0;
  const b = systemTrustSet();
  t.is(a, b, 'cached');
  t.is(a.source, 'system');
  t.true(a.roots.length > 100, `${a.roots.length} roots`);
  t.regex(a.version, /^\d{8}|^unknown/);
  t.is(a.version, caCertificatesVersion());
  t.true(a.roots.every((r) => r.ca));
  t.log(`system trust set: ${a.roots.length} roots, ca-certificates ${a.version}, parsed in ${first.toFixed(1)} ms`);
  const isrg = [...a.bySubject.keys()].find((s) => s.includes('ISRG Root X1'));
  t.truthy(isrg, 'ISRG Root X1 is in the Mozilla store');
  // every root is indexed by the name the DER reader gives (none fell back to OpenSSL's text, which no issuer matches)
  t.true(a.roots.every((r) => a.bySubject.get(subjectName(r.raw))?.includes(r)));
});
