/**
 * parseMaterial (SPEC I1: every format × RSA/EC; I3: every error code). Expected summary values always come from
 * `openssl x509` on the same certificate, never from constants.
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import {
  CertFleetError,
  type ErrorCode,
  MAX_INPUT_BYTES,
  type ParsedMaterial,
  assertKeyMatches,
  parseMaterial,
} from '@certfleet/shared';
import { toImportError } from '../../../../shared/src/import/import-error';
import {
  type FamilyFixtures,
  type Fixtures,
  PASSWORDS,
  getFixtures,
  opensslFacts,
  readFixture,
} from '../../../_helpers/fixtures';

const test = anyTest as TestFn<{ fx: Fixtures }>;

test.before(async (t) => {
  t.context.fx = await getFixtures();
});

const FAMILIES = ['rsa', 'ec'] as const;
const ALL_PASSWORDS = Object.values(PASSWORDS);

/** Asserts leaf → intermediate → root and every summary field against OpenSSL. */
function assertChainMatchesOpenssl(
  t: ExecutionContext,
  parsed: ParsedMaterial,
  fam: FamilyFixtures,
  withChain = true
): void {
  const expected = withChain ? [fam.leaf, fam.intermediate, fam.root] : [fam.leaf];
  t.is(parsed.certificates.length, expected.length, 'certificate count');
  parsed.certificates.forEach((summary, i) => {
    const facts = opensslFacts(expected[i] as string);
    const { pem, ...fields } = summary;
    t.deepEqual(fields, facts, `certificate ${i} summary matches openssl`);
    t.is(pem, readFixture(expected[i] as string).toString('utf8'), `certificate ${i} PEM`);
  });
}

/** The key's public half, as OpenSSL derives it from the original key file. */
function assertKeyIsLeafKey(t: ExecutionContext, parsed: ParsedMaterial, fam: FamilyFixtures): void {
  const key = parsed.privateKey;
  if (key === null) return void t.fail('expected a private key');
  t.true(key.matchesCertificate);
  t.is(key.algorithm as string, opensslFacts(fam.leaf).keyAlgorithm);
  t.regex(key.pkcs8Pem, /^-----BEGIN PRIVATE KEY-----\n/);
  const expectedSpki = execFileSync('openssl', ['pkey', '-in', fam.leafKey, '-pubout', '-outform', 'DER']);
  t.deepEqual(createPublicKey(key.pkcs8Pem).export({ type: 'spki', format: 'der' }), expectedSpki);
}

async function rejects(t: ExecutionContext, promise: Promise<unknown>, code: ErrorCode): Promise<CertFleetError> {
  const err = await t.throwsAsync(promise, { instanceOf: CertFleetError });
  t.is(err?.code, code, err?.message);
  t.regex(err?.message ?? '', /^import(\([a-z0-9]+\))?: /, 'message starts with its origin');
  for (const secret of ALL_PASSWORDS) {
    t.false((err?.message ?? '').includes(secret), 'password in message');
    t.false(JSON.stringify(err?.details ?? {}).includes(secret), 'password in details');
  }
  return err as CertFleetError;
}

for (const family of FAMILIES) {
  const F = family.toUpperCase();
  const fam = (t: ExecutionContext<{ fx: Fixtures }>): FamilyFixtures => t.context.fx[family];
  const read = (path: string): Buffer => readFixture(path);

  test(`I1 PEM bundle (${F}): leaf first, summaries match openssl, PKCS#8 key matches`, async (t) => {
    const parsed = await parseMaterial(read(fam(t).bundle));
    t.is(parsed.format, 'pem');
    assertChainMatchesOpenssl(t, parsed, fam(t));
    assertKeyIsLeafKey(t, parsed, fam(t));
  });

  test(`I1 PEM bundle in the wrong order (${F}) is ordered leaf → intermediate → root`, async (t) => {
    const parsed = await parseMaterial(read(fam(t).shuffledBundle));
    assertChainMatchesOpenssl(t, parsed, fam(t));
    assertKeyIsLeafKey(t, parsed, fam(t));
  });

  test(`I1 PEM certificate with --key (${F === 'RSA' ? 'PKCS#1' : 'SEC1'}) and --chain`, async (t) => {
    const traditional = read(fam(t).leafKeyTraditional).toString();
    t.regex(traditional, family === 'rsa' ? /BEGIN RSA PRIVATE KEY/ : /BEGIN EC PRIVATE KEY/);
    const parsed = await parseMaterial(read(fam(t).leaf), {
      key: read(fam(t).leafKeyTraditional),
      chain: read(fam(t).chain),
    });
    assertChainMatchesOpenssl(t, parsed, fam(t));
    assertKeyIsLeafKey(t, parsed, fam(t));
  });

  test(`I1 PEM with encrypted PKCS#8 key (${F}, PBES2 AES-256)`, async (t) => {
    t.regex(read(fam(t).leafKeyEncrypted).toString(), /BEGIN ENCRYPTED PRIVATE KEY/);
    const parsed = await parseMaterial(read(fam(t).bundleEncryptedKey), { password: PASSWORDS.key });
    assertChainMatchesOpenssl(t, parsed, fam(t));
    assertKeyIsLeafKey(t, parsed, fam(t));
    const viaKeyPassword = await parseMaterial(read(fam(t).leaf), {
      key: read(fam(t).leafKeyEncrypted),
      keyPassword: PASSWORDS.key,
    });
    assertKeyIsLeafKey(t, viaKeyPassword, fam(t));
  });

  test(`I1 PEM key with OpenSSL legacy Proc-Type/DEK-Info encryption (${F})`, async (t) => {
    t.regex(read(fam(t).leafKeyLegacyEncrypted).toString(), /Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,/);
    const parsed = await parseMaterial(read(fam(t).leaf), {
      key: read(fam(t).leafKeyLegacyEncrypted),
      password: PASSWORDS.key,
    });
    assertChainMatchesOpenssl(t, parsed, fam(t), false);
    assertKeyIsLeafKey(t, parsed, fam(t));
  });

  test(`I1 DER .cer (${F}) with a DER PKCS#8 --key and a PEM --chain`, async (t) => {
    const parsed = await parseMaterial(read(fam(t).leafDer), {
      key: read(fam(t).leafKeyDer),
      chain: read(fam(t).chain),
    });
    t.is(parsed.format, 'der');
    assertChainMatchesOpenssl(t, parsed, fam(t));
    assertKeyIsLeafKey(t, parsed, fam(t));
    const alone = await parseMaterial(read(fam(t).leafDer), { fileName: 'site.cer' });
    assertChainMatchesOpenssl(t, alone, fam(t), false);
    t.is(alone.privateKey, null);
  });

  test(`I1 PKCS#7 .p7b in PEM and DER (${F}, shuffled inside)`, async (t) => {
    for (const path of [fam(t).p7bPem, fam(t).p7bDer]) {
      const parsed = await parseMaterial(read(path));
      t.is(parsed.format, 'pkcs7');
      assertChainMatchesOpenssl(t, parsed, fam(t));
      t.is(parsed.privateKey, null);
    }
  });

  test(`I1 PKCS#7 as --chain (${F})`, async (t) => {
    const parsed = await parseMaterial(read(fam(t).leaf), { chain: read(fam(t).p7bDer), key: read(fam(t).leafKey) });
    assertChainMatchesOpenssl(t, parsed, fam(t));
    assertKeyIsLeafKey(t, parsed, fam(t));
  });

  const p12Variants = [
    ['OpenSSL 3 default (PBES2/AES-256-CBC, SHA-256 MAC)', 'p12'],
    ['OpenSSL -legacy (RC2-40/3DES, SHA-1 MAC)', 'p12Legacy'],
    ['keytool', 'p12Keytool'],
    ['OpenSSL, 64 iterations', 'p12Fast'],
    ['keytool, 64 iterations', 'p12KeytoolFast'],
  ] as const;
  for (const [label, key] of p12Variants) {
    test(`I1 PKCS#12 from ${label} with ${F} key`, async (t) => {
      const parsed = await parseMaterial(read(fam(t)[key]), { password: PASSWORDS.p12 });
      t.is(parsed.format, 'pkcs12');
      assertChainMatchesOpenssl(t, parsed, fam(t));
      assertKeyIsLeafKey(t, parsed, fam(t));
    });
  }

  test(`I1 PKCS#12 with an empty password needs no password (${F})`, async (t) => {
    assertKeyIsLeafKey(t, await parseMaterial(read(fam(t).p12EmptyPassword)), fam(t));
    assertKeyIsLeafKey(t, await parseMaterial(read(fam(t).p12EmptyPassword), { password: '' }), fam(t));
  });

  test(`I1 PKCS#12 without MAC (${F}): encrypted with -nomac, and fully unprotected`, async (t) => {
    assertKeyIsLeafKey(t, await parseMaterial(read(fam(t).p12NoMac), { password: PASSWORDS.p12 }), fam(t));
    await rejects(t, parseMaterial(read(fam(t).p12NoMac), { password: 'wrong-password' }), 'CF_IMPORT_WRONG_PASSWORD');
    await rejects(t, parseMaterial(read(fam(t).p12NoMac)), 'CF_IMPORT_PASSWORD_REQUIRED');
    const unprotected = await parseMaterial(read(fam(t).p12Unprotected));
    assertChainMatchesOpenssl(t, unprotected, fam(t));
    assertKeyIsLeafKey(t, unprotected, fam(t));
  });

  test(`I1 JKS with key password ≠ store password (${F})`, async (t) => {
    const parsed = await parseMaterial(read(fam(t).jks), {
      password: PASSWORDS.jksStore,
      keyPassword: PASSWORDS.jksKey,
    });
    t.is(parsed.format, 'jks');
    assertChainMatchesOpenssl(t, parsed, fam(t));
    assertKeyIsLeafKey(t, parsed, fam(t));
  });

  test(`I3 key that does not match the certificate (${F}) is reported, and assertKeyMatches throws CF_IMPORT_KEY_MISMATCH`, async (t) => {
    const parsed = await parseMaterial(read(fam(t).leaf), { key: read(fam(t).otherKey), chain: read(fam(t).chain) });
    t.is(parsed.privateKey?.matchesCertificate, false);
    t.is(parsed.certificates[0]?.sha256, opensslFacts(fam(t).leaf).sha256, 'leaf still chosen by issuing relations');
    const err = t.throws(() => assertKeyMatches(parsed), { instanceOf: CertFleetError });
    t.is(err?.code, 'CF_IMPORT_KEY_MISMATCH');
    t.notThrows(() => assertKeyMatches(parsedWithKey(parsed, true)));
    t.notThrows(() => assertKeyMatches({ ...parsed, privateKey: null }));
  });

  test(`I3 wrong passwords (${F}): PKCS#12, legacy PKCS#12, keytool PKCS#12, JKS store, JKS key, encrypted PEM keys`, async (t) => {
    const f = fam(t);
    await rejects(t, parseMaterial(read(f.p12), { password: 'wrong-password' }), 'CF_IMPORT_WRONG_PASSWORD');
    await rejects(t, parseMaterial(read(f.p12Legacy), { password: PASSWORDS.jksStore }), 'CF_IMPORT_WRONG_PASSWORD');
    await rejects(t, parseMaterial(read(f.p12Keytool), { password: PASSWORDS.key }), 'CF_IMPORT_WRONG_PASSWORD');
    await rejects(
      t,
      parseMaterial(read(f.jks), { password: PASSWORDS.jksKey, keyPassword: PASSWORDS.jksKey }),
      'CF_IMPORT_WRONG_PASSWORD'
    );
    await rejects(t, parseMaterial(read(f.jks), { password: PASSWORDS.jksStore }), 'CF_IMPORT_WRONG_PASSWORD');
    await rejects(
      t,
      parseMaterial(read(f.jks), { password: PASSWORDS.jksStore, keyPassword: PASSWORDS.p12 }),
      'CF_IMPORT_WRONG_PASSWORD'
    );
    await rejects(
      t,
      parseMaterial(read(f.bundleEncryptedKey), { password: PASSWORDS.p12 }),
      'CF_IMPORT_WRONG_PASSWORD'
    );
    await rejects(
      t,
      parseMaterial(read(f.leaf), { key: read(f.leafKeyLegacyEncrypted), password: PASSWORDS.p12 }),
      'CF_IMPORT_WRONG_PASSWORD'
    );
  });

  test(`I3 password required (${F}): PKCS#12, JKS, encrypted PKCS#8, legacy-encrypted key`, async (t) => {
    const f = fam(t);
    await rejects(t, parseMaterial(read(f.p12)), 'CF_IMPORT_PASSWORD_REQUIRED');
    await rejects(t, parseMaterial(read(f.p12Legacy)), 'CF_IMPORT_PASSWORD_REQUIRED');
    await rejects(t, parseMaterial(read(f.jks)), 'CF_IMPORT_PASSWORD_REQUIRED');
    await rejects(t, parseMaterial(read(f.bundleEncryptedKey)), 'CF_IMPORT_PASSWORD_REQUIRED');
    await rejects(
      t,
      parseMaterial(read(f.leaf), { key: read(f.leafKeyLegacyEncrypted) }),
      'CF_IMPORT_PASSWORD_REQUIRED'
    );
  });
}

function parsedWithKey(parsed: ParsedMaterial, matches: boolean): ParsedMaterial {
  return { ...parsed, privateKey: parsed.privateKey && { ...parsed.privateKey, matchesCertificate: matches } };
}

test('I1 EC P-384 leaf issued by the EC intermediate', async (t) => {
  const { fx } = t.context;
  const parsed = await parseMaterial(readFixture(fx.p384Leaf), {
    key: readFixture(fx.p384Key),
    chain: readFixture(fx.ec.chain),
  });
  const { pem: _pem, ...leaf } = parsed.certificates[0] ?? { pem: '' };
  t.deepEqual(leaf, opensslFacts(fx.p384Leaf));
  t.is(parsed.certificates[0]?.keyAlgorithm, 'EC-P384');
  t.deepEqual(
    parsed.certificates.slice(1).map((c) => c.sha256),
    [fx.ec.intermediate, fx.ec.root].map((p) => opensslFacts(p).sha256)
  );
  t.deepEqual(parsed.privateKey && { ...parsed.privateKey, pkcs8Pem: '' }, {
    pkcs8Pem: '',
    algorithm: 'EC-P384',
    matchesCertificate: true,
  });
});

test('I1 Ed25519 certificate and key', async (t) => {
  const { fx } = t.context;
  const parsed = await parseMaterial(readFixture(fx.ed25519Cert), { key: readFixture(fx.ed25519Key) });
  const { pem: _pem, ...leaf } = parsed.certificates[0] ?? { pem: '' };
  t.deepEqual(leaf, opensslFacts(fx.ed25519Cert));
  t.is(parsed.privateKey?.algorithm, 'Ed25519');
  t.true(parsed.privateKey?.matchesCertificate);
});

test('I1 the same key in the input and in --key counts once', async (t) => {
  const { rsa } = t.context.fx;
  const parsed = await parseMaterial(readFixture(rsa.bundle), { key: readFixture(rsa.leafKeyTraditional) });
  t.true(parsed.privateKey?.matchesCertificate);
  t.is(parsed.certificates.length, 3);
});

test('I3 input larger than 1 MiB → CF_IMPORT_TOO_LARGE, checked before anything else', async (t) => {
  const { fx } = t.context;
  await rejects(t, parseMaterial(readFixture(fx.tooLarge)), 'CF_IMPORT_TOO_LARGE');
  await rejects(t, parseMaterial(Buffer.alloc(MAX_INPUT_BYTES + 1, 0x41)), 'CF_IMPORT_TOO_LARGE');
  await rejects(
    t,
    parseMaterial(readFixture(fx.rsa.leaf), { key: Buffer.alloc(MAX_INPUT_BYTES + 1) }),
    'CF_IMPORT_TOO_LARGE'
  );
  await rejects(
    t,
    parseMaterial(readFixture(fx.rsa.leaf), { chain: Buffer.alloc(MAX_INPUT_BYTES + 1) }),
    'CF_IMPORT_TOO_LARGE'
  );
  await t.notThrowsAsync(
    parseMaterial(Buffer.concat([readFixture(fx.rsa.leaf), Buffer.alloc(MAX_INPUT_BYTES - 2000, 0x0a)]))
  );
});

test('I3 unknown format → CF_IMPORT_UNKNOWN_FORMAT', async (t) => {
  const { fx } = t.context;
  await rejects(t, parseMaterial(readFixture(fx.notCertificates)), 'CF_IMPORT_UNKNOWN_FORMAT');
  await rejects(t, parseMaterial(Buffer.alloc(0)), 'CF_IMPORT_UNKNOWN_FORMAT');
  await rejects(t, parseMaterial(Buffer.from('cececece00000002', 'hex')), 'CF_IMPORT_UNKNOWN_FORMAT');
  await rejects(
    t,
    parseMaterial(readFixture(fx.rsa.leaf), { chain: readFixture(fx.notCertificates) }),
    'CF_IMPORT_UNKNOWN_FORMAT'
  );
  await rejects(
    t,
    parseMaterial(readFixture(fx.rsa.leaf), { chain: readFixture(fx.rsa.p12) }),
    'CF_IMPORT_UNKNOWN_FORMAT'
  );
});

test('I3 truncated or corrupt input → CF_IMPORT_CORRUPT', async (t) => {
  const { fx } = t.context;
  await rejects(t, parseMaterial(readFixture(fx.truncatedDer)), 'CF_IMPORT_CORRUPT');
  await rejects(t, parseMaterial(readFixture(fx.truncatedPem)), 'CF_IMPORT_CORRUPT');
  await rejects(t, parseMaterial(readFixture(fx.truncatedP12), { password: PASSWORDS.p12 }), 'CF_IMPORT_CORRUPT');
  await rejects(t, parseMaterial(readFixture(fx.truncatedP7b)), 'CF_IMPORT_CORRUPT');
  await rejects(t, parseMaterial(readFixture(fx.truncatedJks), { password: PASSWORDS.jksStore }), 'CF_IMPORT_CORRUPT');
  // A .p12 name on text that is not PKCS#12: corrupt, not unknown.
  await rejects(t, parseMaterial(readFixture(fx.notCertificates), { fileName: 'site.p12' }), 'CF_IMPORT_CORRUPT');
  // Non-canonical base64 inside a PEM block.
  const pem = readFixture(fx.rsa.leaf)
    .toString()
    .replace(/\n([A-Za-z0-9+/]{10})/, '\n$1!');
  await rejects(t, parseMaterial(Buffer.from(pem)), 'CF_IMPORT_CORRUPT');
  // A private key inside the chain file.
  await rejects(t, parseMaterial(readFixture(fx.rsa.leaf), { chain: readFixture(fx.rsa.bundle) }), 'CF_IMPORT_CORRUPT');
  // Two different keys.
  const twoKeys = Buffer.concat([readFixture(fx.rsa.bundle), readFixture(fx.rsa.otherKey)]);
  await rejects(t, parseMaterial(twoKeys), 'CF_IMPORT_CORRUPT');
});

test('I3 an unexpected library exception becomes CF_IMPORT_CORRUPT with its cause kept and passwords redacted', (t) => {
  const cause = new TypeError(`boom near ${PASSWORDS.p12}`);
  const err = toImportError(cause, 'pkcs12', [PASSWORDS.p12, undefined]);
  t.is(err.code, 'CF_IMPORT_CORRUPT');
  t.is(err.cause, cause);
  t.false(err.message.includes(PASSWORDS.p12));
  t.regex(err.message, /^import\(pkcs12\): /);
});

test('I3 unsupported algorithms → CF_IMPORT_UNSUPPORTED_ALGORITHM (DSA cert and key, Ed448, RSA-1024)', async (t) => {
  const { fx } = t.context;
  const dsa = await rejects(t, parseMaterial(readFixture(fx.dsaCert)), 'CF_IMPORT_UNSUPPORTED_ALGORITHM');
  t.regex(dsa.message, /DSA/);
  await rejects(
    t,
    parseMaterial(readFixture(fx.rsa.leaf), { key: readFixture(fx.dsaKey) }),
    'CF_IMPORT_UNSUPPORTED_ALGORITHM'
  );
  await rejects(t, parseMaterial(readFixture(fx.ed448Cert)), 'CF_IMPORT_UNSUPPORTED_ALGORITHM');
  await rejects(t, parseMaterial(readFixture(fx.rsa1024Cert)), 'CF_IMPORT_UNSUPPORTED_ALGORITHM');
});

// Serial, so that the timing is not disturbed by concurrent tests.
test.serial(
  'I3 PKCS#12 MAC or PBE iteration count above 1,000,000 → CF_IMPORT_ITERATIONS_TOO_HIGH before any KDF runs',
  async (t) => {
    const { fx } = t.context;
    for (const path of [fx.p12MacIterTooHigh, fx.p12PbeIterTooHigh]) {
      const started = performance.now();
      const err = await rejects(
        t,
        parseMaterial(readFixture(path), { password: PASSWORDS.p12 }),
        'CF_IMPORT_ITERATIONS_TOO_HIGH'
      );
      // 2,000,001 PKCS#12-KDF rounds take well over a second; refusing first is near-instant.
      t.true(performance.now() - started < 250, `took ${performance.now() - started} ms`);
      t.is(err.details?.iterations, '2000001');
    }
  }
);

test('I3 more than 10 certificates → CF_IMPORT_CHAIN_TOO_LONG', async (t) => {
  const { fx } = t.context;
  t.is(
    (
      readFixture(fx.longChain)
        .toString()
        .match(/BEGIN CERTIFICATE/g) ?? []
    ).length,
    11
  );
  await rejects(t, parseMaterial(readFixture(fx.longChain)), 'CF_IMPORT_CHAIN_TOO_LONG');
  const tenPlusOne = readFixture(fx.longChain)
    .toString()
    .split(/(?<=-----END CERTIFICATE-----\n)/);
  await t.notThrowsAsync(parseMaterial(Buffer.from(tenPlusOne.slice(1).join(''))));
  await rejects(
    t,
    parseMaterial(Buffer.from(tenPlusOne[0] as string), { chain: Buffer.from(tenPlusOne.slice(1).join('')) }),
    'CF_IMPORT_CHAIN_TOO_LONG'
  );
});

test('I3 no certificate at all → CF_IMPORT_NO_CERTIFICATE (key-only PEM, DER key, key-only PKCS#12, CSR only)', async (t) => {
  const { fx } = t.context;
  await rejects(t, parseMaterial(readFixture(fx.rsa.leafKey)), 'CF_IMPORT_NO_CERTIFICATE');
  await rejects(t, parseMaterial(readFixture(fx.ec.leafKeyDer)), 'CF_IMPORT_NO_CERTIFICATE');
  await rejects(t, parseMaterial(readFixture(fx.p12KeyOnly), { password: PASSWORDS.p12 }), 'CF_IMPORT_NO_CERTIFICATE');
  const csr = execFileSync('openssl', ['req', '-new', '-key', fx.ec.leafKey, '-subj', '/CN=csr.example.test']);
  await rejects(t, parseMaterial(csr), 'CF_IMPORT_NO_CERTIFICATE');
});

test('I1 summaries are identical whatever the container', async (t) => {
  const { ec } = t.context.fx;
  const read = readFixture;
  const results = await Promise.all([
    parseMaterial(read(ec.bundle)),
    parseMaterial(read(ec.p7bDer)),
    parseMaterial(read(ec.p12Legacy), { password: PASSWORDS.p12 }),
    parseMaterial(read(ec.jks), { password: PASSWORDS.jksStore, keyPassword: PASSWORDS.jksKey }),
    parseMaterial(read(ec.leafDer), { chain: read(ec.p7bPem) }),
  ]);
  for (const result of results.slice(1)) t.deepEqual(result.certificates, results[0]?.certificates);
});
