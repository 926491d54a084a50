/**
 * Certificate/key fixtures generated at test time with `openssl` and `keytool` (never checked in), once per
 * process: root CA → intermediate → leaf for RSA-2048 and EC P-256 in every container and key encoding the
 * importer supports, plus the rejects (DSA, Ed448, RSA-1024, an 11-certificate chain, truncated files, a file over
 * 1 MiB, PKCS#12 files whose MAC / PBE iteration count was patched above the limit).
 *
 * Independent steps run concurrently (JVM start-up dominates); everything lands in one temporary directory that
 * is removed when the process exits.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Passwords used by the fixtures; the JKS key password deliberately differs from its store password. */
export const PASSWORDS = {
  p12: 'p12-Secret-9',
  key: 'key-Secret-7',
  jksStore: 'store-Secret-5',
  jksKey: 'entry-Secret-3',
} as const;

/** Fixtures for one key family (all paths). */
export interface FamilyFixtures {
  readonly family: 'rsa' | 'ec';
  readonly root: string;
  readonly intermediate: string;
  readonly leaf: string;
  /** PKCS#8 `BEGIN PRIVATE KEY`. */
  readonly leafKey: string;
  /** PKCS#1 `BEGIN RSA PRIVATE KEY` or SEC1 `BEGIN EC PRIVATE KEY`. */
  readonly leafKeyTraditional: string;
  /** `BEGIN ENCRYPTED PRIVATE KEY`, PBES2/AES-256-CBC, password {@link PASSWORDS.key}. */
  readonly leafKeyEncrypted: string;
  /** OpenSSL legacy `Proc-Type: 4,ENCRYPTED` + `DEK-Info` (AES-256-CBC), password {@link PASSWORDS.key}. */
  readonly leafKeyLegacyEncrypted: string;
  /** PKCS#8 DER key. */
  readonly leafKeyDer: string;
  /** A different key of the same family. */
  readonly otherKey: string;
  /** intermediate + root. */
  readonly chain: string;
  /** leaf + intermediate + root + PKCS#8 key. */
  readonly bundle: string;
  /** root, key, leaf, intermediate: the wrong order on purpose. */
  readonly shuffledBundle: string;
  /** leaf + chain + encrypted key. */
  readonly bundleEncryptedKey: string;
  /** DER `.cer` of the leaf. */
  readonly leafDer: string;
  /** PKCS#7 of root, leaf, intermediate (shuffled), PEM and DER. */
  readonly p7bPem: string;
  readonly p7bDer: string;
  /** PKCS#12, OpenSSL 3 defaults (PBES2 AES-256-CBC, SHA-256 MAC, 2048 iterations), password {@link PASSWORDS.p12}. */
  readonly p12: string;
  /** PKCS#12, `openssl pkcs12 -legacy` (RC2-40 certs, 3DES key, SHA-1 MAC). */
  readonly p12Legacy: string;
  /** PKCS#12 with an empty password. */
  readonly p12EmptyPassword: string;
  /** PKCS#12 from `keytool -importkeystore` (JDK defaults). */
  readonly p12Keytool: string;
  /** Low-iteration (64) variants for the fuzzer: OpenSSL default algorithms, legacy, keytool. */
  readonly p12Fast: string;
  readonly p12LegacyFast: string;
  readonly p12KeytoolFast: string;
  /** PKCS#12 without MAC: encrypted as usual (`-nomac`), and fully unencrypted (`-nomac -keypbe NONE -certpbe NONE`). */
  readonly p12NoMac: string;
  readonly p12Unprotected: string;
  /** JKS with store password {@link PASSWORDS.jksStore} and key password {@link PASSWORDS.jksKey}. */
  readonly jks: string;
}

/** Every fixture path. */
export interface Fixtures {
  readonly dir: string;
  readonly rsa: FamilyFixtures;
  readonly ec: FamilyFixtures;
  /** EC P-384 leaf issued by the EC intermediate, and its key. */
  readonly p384Leaf: string;
  readonly p384Key: string;
  readonly ed25519Cert: string;
  readonly ed25519Key: string;
  readonly dsaCert: string;
  readonly dsaKey: string;
  readonly ed448Cert: string;
  readonly rsa1024Cert: string;
  /** A PKCS#12 holding only a key. */
  readonly p12KeyOnly: string;
  /** PKCS#12 (EC, 70001 iterations) with the MAC iteration count patched to 2,000,001. */
  readonly p12MacIterTooHigh: string;
  /** Same, with the PBE iteration count patched instead. */
  readonly p12PbeIterTooHigh: string;
  /** 11 certificates: a chain root → 9 intermediates → leaf. */
  readonly longChain: string;
  /** Valid PEM, but larger than 1 MiB. */
  readonly tooLarge: string;
  readonly truncatedDer: string;
  readonly truncatedPem: string;
  readonly truncatedP12: string;
  readonly truncatedP7b: string;
  readonly truncatedJks: string;
  readonly notCertificates: string;
}

let cached: Promise<Fixtures> | undefined;

/** Generates the fixtures on first use in this process; later calls share the result. */
export function getFixtures(): Promise<Fixtures> {
  cached ??= generate();
  return cached;
}

/** Reads a fixture. */
export function readFixture(path: string): Buffer {
  return readFileSync(path);
}

async function openssl(args: string[]): Promise<string> {
  return (await run('openssl', args, { encoding: 'utf8', maxBuffer: 8 << 20 })).stdout;
}

async function keytool(args: string[]): Promise<void> {
  await run('keytool', ['-J-Xshare:auto', '-J-XX:TieredStopAtLevel=1', '-J-XX:+UseSerialGC', ...args], {
    encoding: 'utf8',
  });
}

async function generate(): Promise<Fixtures> {
  const dir = mkdtempSync(join(tmpdir(), 'certfleet-fixtures-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const p = (name: string): string => join(dir, name);

  const [rsa, ec, extras] = await Promise.all([family(dir, 'rsa'), family(dir, 'ec'), singles(p)]);
  const [p384, longChain, iterFiles] = await Promise.all([p384Leaf(p, ec), chainOf(p, 11), iterationFixtures(p, ec)]);

  // Valid PEM repeated past the 1 MiB limit.
  const bundle = readFileSync(rsa.bundle);
  writeFileSync(
    p('too-large.pem'),
    Buffer.concat(Array.from({ length: Math.ceil((1024 * 1024 + 1) / bundle.length) + 1 }, () => bundle))
  );
  const truncate = (source: string, name: string, fraction: number): string => {
    const bytes = readFileSync(source);
    writeFileSync(p(name), bytes.subarray(0, Math.floor(bytes.length * fraction)));
    return p(name);
  };
  writeFileSync(p('not-certificates.bin'), Buffer.from('this is neither PEM nor DER, just some text\n'));

  return {
    dir,
    rsa,
    ec,
    ...extras,
    ...p384,
    ...iterFiles,
    longChain,
    tooLarge: p('too-large.pem'),
    truncatedDer: truncate(rsa.leafDer, 'truncated.cer', 0.6),
    truncatedPem: truncate(rsa.leaf, 'truncated.pem', 0.6),
    truncatedP12: truncate(ec.p12, 'truncated.p12', 0.7),
    truncatedP7b: truncate(ec.p7bDer, 'truncated.p7b', 0.5),
    truncatedJks: truncate(rsa.jks, 'truncated.jks', 0.8),
    notCertificates: p('not-certificates.bin'),
  };
}

const CA_EXTENSIONS = [
  'basicConstraints=critical,CA:TRUE',
  'keyUsage=critical,keyCertSign,cRLSign',
  'subjectKeyIdentifier=hash',
  'authorityKeyIdentifier=keyid:always',
];

function leafExtensions(sans: string): string[] {
  return [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    `subjectAltName=${sans}`,
    'subjectKeyIdentifier=hash',
    'authorityKeyIdentifier=keyid:always',
  ];
}

async function genKey(path: string, spec: string): Promise<void> {
  const [algorithm, option] =
    spec === 'rsa2048'
      ? ['RSA', 'rsa_keygen_bits:2048']
      : spec === 'rsa1024'
        ? ['RSA', 'rsa_keygen_bits:1024']
        : ['EC', `ec_paramgen_curve:${spec}`];
  await openssl(['genpkey', '-algorithm', algorithm, '-pkeyopt', option, '-out', path]);
}

async function selfSigned(key: string, subject: string, out: string, extensions = CA_EXTENSIONS): Promise<void> {
  await openssl([
    'req',
    '-x509',
    '-new',
    '-utf8',
    '-key',
    key,
    '-subj',
    subject,
    '-days',
    '30',
    '-out',
    out,
    ...extensions.flatMap((e) => ['-addext', e]),
  ]);
}

/** Issues a certificate for `key` signed by `caCert`/`caKey`. */
async function issue(
  dir: string,
  key: string,
  subject: string,
  caCert: string,
  caKey: string,
  out: string,
  extensions: string[],
  serial?: string
): Promise<void> {
  const csr = `${out}.csr`;
  const ext = `${out}.ext`;
  writeFileSync(ext, `[v3]\n${extensions.join('\n')}\n`);
  await openssl(['req', '-new', '-utf8', '-key', key, '-subj', subject, '-out', csr]);
  await openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    caCert,
    '-CAkey',
    caKey,
    '-days',
    '30',
    '-extfile',
    ext,
    '-extensions',
    'v3',
    ...(serial === undefined
      ? ['-CAcreateserial', '-CAserial', join(dir, `${Math.random().toString(16).slice(2)}.srl`)]
      : ['-set_serial', serial]),
    '-out',
    out,
  ]);
}

function concat(out: string, ...files: string[]): string {
  writeFileSync(out, files.map((f) => readFileSync(f, 'utf8')).join(''));
  return out;
}

async function family(dir: string, fam: 'rsa' | 'ec'): Promise<FamilyFixtures> {
  const f = (name: string): string => join(dir, `${fam}-${name}`);
  const spec = fam === 'rsa' ? 'rsa2048' : 'P-256';
  await Promise.all(['root.key', 'int.key', 'leaf.key', 'other.key'].map((k) => genKey(f(k), spec)));
  const upper = fam.toUpperCase();
  await selfSigned(f('root.key'), `/C=US/O=CertFleet Test/CN=CertFleet Test Root ${upper}`, f('root.pem'));
  await issue(
    dir,
    f('int.key'),
    `/C=US/O=CertFleet Test/OU=Issuing/CN=CertFleet Test Intermediate ${upper}`,
    f('root.pem'),
    f('root.key'),
    f('int.pem'),
    CA_EXTENSIONS
  );
  const leafSubject =
    fam === 'rsa'
      ? '/C=US/ST=California/L=San Francisco/O=Example, Inc./CN=leaf-rsa.example.test'
      : '/C=DE/O=Bücher & Co/OU=Web\\+Edge/CN=leaf-ec.example.test';
  const sans =
    fam === 'rsa'
      ? 'DNS:leaf-rsa.example.test,DNS:www.example.test,IP:127.0.0.1,IP:2001:db8::1,email:ops@example.test,URI:https://example.test/ops'
      : 'DNS:leaf-ec.example.test,IP:::1';
  // A serial with the high bit set, so the DER carries a 00 sign byte that must not be printed.
  const serial = fam === 'rsa' ? '0x8f1e2d3c4b5a69788796a5b4c3d2e1f0' : '0x0a0b0c';
  await issue(dir, f('leaf.key'), leafSubject, f('int.pem'), f('int.key'), f('leaf.pem'), leafExtensions(sans), serial);

  const chain = concat(f('chain.pem'), f('int.pem'), f('root.pem'));
  await Promise.all([
    openssl(['pkey', '-in', f('leaf.key'), '-traditional', '-out', f('leaf-trad.key')]),
    openssl([
      'pkcs8',
      '-topk8',
      '-in',
      f('leaf.key'),
      '-v2',
      'aes-256-cbc',
      '-v2prf',
      'hmacWithSHA256',
      '-iter',
      '1000',
      '-passout',
      `pass:${PASSWORDS.key}`,
      '-out',
      f('leaf-enc.key'),
    ]),
    openssl([
      'pkey',
      '-in',
      f('leaf.key'),
      '-traditional',
      '-aes256',
      '-passout',
      `pass:${PASSWORDS.key}`,
      '-out',
      f('leaf-legacy.key'),
    ]),
    openssl(['pkey', '-in', f('leaf.key'), '-outform', 'DER', '-out', f('leaf-key.der')]),
    openssl(['x509', '-in', f('leaf.pem'), '-outform', 'DER', '-out', f('leaf.cer')]),
    openssl([
      'crl2pkcs7',
      '-nocrl',
      '-certfile',
      f('root.pem'),
      '-certfile',
      f('leaf.pem'),
      '-certfile',
      f('int.pem'),
      '-out',
      f('chain.p7b.pem'),
    ]),
    openssl([
      'crl2pkcs7',
      '-nocrl',
      '-certfile',
      f('root.pem'),
      '-certfile',
      f('leaf.pem'),
      '-certfile',
      f('int.pem'),
      '-outform',
      'DER',
      '-out',
      f('chain.p7b'),
    ]),
  ]);
  const p12Base = [
    'pkcs12',
    '-export',
    '-inkey',
    f('leaf.key'),
    '-in',
    f('leaf.pem'),
    '-certfile',
    chain,
    '-name',
    'leaf',
  ];
  await Promise.all([
    openssl([...p12Base, '-passout', `pass:${PASSWORDS.p12}`, '-out', f('default.p12')]),
    openssl([...p12Base, '-legacy', '-passout', `pass:${PASSWORDS.p12}`, '-out', f('legacy.p12')]),
    openssl([...p12Base, '-passout', 'pass:', '-out', f('empty-password.p12')]),
    openssl([...p12Base, '-iter', '64', '-passout', `pass:${PASSWORDS.p12}`, '-out', f('fast.p12')]),
    openssl([...p12Base, '-legacy', '-iter', '64', '-passout', `pass:${PASSWORDS.p12}`, '-out', f('legacy-fast.p12')]),
    openssl([...p12Base, '-nomac', '-iter', '64', '-passout', `pass:${PASSWORDS.p12}`, '-out', f('nomac.p12')]),
    openssl([
      ...p12Base,
      '-nomac',
      '-keypbe',
      'NONE',
      '-certpbe',
      'NONE',
      '-passout',
      'pass:',
      '-out',
      f('unprotected.p12'),
    ]),
  ]);
  const fromP12 = [
    '-importkeystore',
    '-noprompt',
    '-srckeystore',
    f('default.p12'),
    '-srcstoretype',
    'PKCS12',
    '-srcstorepass',
    PASSWORDS.p12,
    '-srcalias',
    'leaf',
  ];
  const fast = ['certPbeIterationCount', 'keyPbeIterationCount', 'macIterationCount'].map(
    (k) => `-J-Dkeystore.pkcs12.${k}=64`
  );
  await Promise.all([
    keytool([
      ...fromP12,
      '-destkeystore',
      f('store.jks'),
      '-deststoretype',
      'JKS',
      '-deststorepass',
      PASSWORDS.jksStore,
      '-destkeypass',
      PASSWORDS.jksKey,
    ]),
    keytool([
      ...fromP12,
      '-destkeystore',
      f('keytool.p12'),
      '-deststoretype',
      'PKCS12',
      '-deststorepass',
      PASSWORDS.p12,
    ]),
    keytool([
      ...fast,
      ...fromP12,
      '-destkeystore',
      f('keytool-fast.p12'),
      '-deststoretype',
      'PKCS12',
      '-deststorepass',
      PASSWORDS.p12,
    ]),
  ]);

  return {
    family: fam,
    root: f('root.pem'),
    intermediate: f('int.pem'),
    leaf: f('leaf.pem'),
    leafKey: f('leaf.key'),
    leafKeyTraditional: f('leaf-trad.key'),
    leafKeyEncrypted: f('leaf-enc.key'),
    leafKeyLegacyEncrypted: f('leaf-legacy.key'),
    leafKeyDer: f('leaf-key.der'),
    otherKey: f('other.key'),
    chain,
    bundle: concat(f('bundle.pem'), f('leaf.pem'), f('int.pem'), f('root.pem'), f('leaf.key')),
    shuffledBundle: concat(f('shuffled.pem'), f('root.pem'), f('leaf.key'), f('leaf.pem'), f('int.pem')),
    bundleEncryptedKey: concat(f('bundle-enc.pem'), f('leaf.pem'), f('int.pem'), f('root.pem'), f('leaf-enc.key')),
    leafDer: f('leaf.cer'),
    p7bPem: f('chain.p7b.pem'),
    p7bDer: f('chain.p7b'),
    p12: f('default.p12'),
    p12Legacy: f('legacy.p12'),
    p12EmptyPassword: f('empty-password.p12'),
    p12Keytool: f('keytool.p12'),
    p12Fast: f('fast.p12'),
    p12LegacyFast: f('legacy-fast.p12'),
    p12KeytoolFast: f('keytool-fast.p12'),
    p12NoMac: f('nomac.p12'),
    p12Unprotected: f('unprotected.p12'),
    jks: f('store.jks'),
  };
}

async function singles(
  p: (name: string) => string
): Promise<Pick<Fixtures, 'ed25519Cert' | 'ed25519Key' | 'dsaCert' | 'dsaKey' | 'ed448Cert' | 'rsa1024Cert'>> {
  await Promise.all([
    (async () => {
      await openssl(['genpkey', '-algorithm', 'ED25519', '-out', p('ed25519.key')]);
      await selfSigned(p('ed25519.key'), '/CN=ed25519.example.test', p('ed25519.pem'), []);
    })(),
    (async () => {
      await openssl([
        'genpkey',
        '-genparam',
        '-algorithm',
        'DSA',
        '-pkeyopt',
        'dsa_paramgen_bits:2048',
        '-out',
        p('dsa-params.pem'),
      ]);
      await openssl(['genpkey', '-paramfile', p('dsa-params.pem'), '-out', p('dsa.key')]);
      await selfSigned(p('dsa.key'), '/CN=dsa.example.test', p('dsa.pem'), []);
    })(),
    (async () => {
      await openssl(['genpkey', '-algorithm', 'ED448', '-out', p('ed448.key')]);
      await selfSigned(p('ed448.key'), '/CN=ed448.example.test', p('ed448.pem'), []);
    })(),
    (async () => {
      await genKey(p('rsa1024.key'), 'rsa1024');
      await selfSigned(p('rsa1024.key'), '/CN=rsa1024.example.test', p('rsa1024.pem'), []);
    })(),
  ]);
  return {
    ed25519Cert: p('ed25519.pem'),
    ed25519Key: p('ed25519.key'),
    dsaCert: p('dsa.pem'),
    dsaKey: p('dsa.key'),
    ed448Cert: p('ed448.pem'),
    rsa1024Cert: p('rsa1024.pem'),
  };
}

async function p384Leaf(
  p: (name: string) => string,
  ec: FamilyFixtures
): Promise<Pick<Fixtures, 'p384Leaf' | 'p384Key'>> {
  await genKey(p('p384.key'), 'P-384');
  await issue(
    p('.'),
    p('p384.key'),
    '/CN=p384.example.test',
    ec.intermediate,
    ec.intermediate.replace('int.pem', 'int.key'),
    p('p384.pem'),
    leafExtensions('DNS:p384.example.test')
  );
  return { p384Leaf: p('p384.pem'), p384Key: p('p384.key') };
}

async function chainOf(p: (name: string) => string, length: number): Promise<string> {
  const certs: string[] = [];
  await Promise.all(Array.from({ length }, (_, i) => genKey(p(`long-${i}.key`), 'P-256')));
  await selfSigned(p('long-0.key'), '/CN=Long Chain 0', p('long-0.pem'));
  certs.push(p('long-0.pem'));
  for (let i = 1; i < length; i++) {
    const ext = i === length - 1 ? leafExtensions('DNS:long.example.test') : CA_EXTENSIONS;
    await issue(
      p('.'),
      p(`long-${i}.key`),
      `/CN=Long Chain ${i}`,
      p(`long-${i - 1}.pem`),
      p(`long-${i - 1}.key`),
      p(`long-${i}.pem`),
      ext
    );
    certs.push(p(`long-${i}.pem`));
  }
  return concat(p('long-chain.pem'), ...certs.reverse());
}

/**
 * PKCS#12 files whose iteration counts exceed the limit. OpenSSL writes 70001 (INTEGER 02 03 01 11 71) for both
 * MAC and PBE; the bytes are patched in place to 2000001 (02 03 1e 84 81), same length, so the file stays
 * well-formed. MacData is the last element of the file, so its count is the last occurrence.
 */
async function iterationFixtures(
  p: (name: string) => string,
  ec: FamilyFixtures
): Promise<Pick<Fixtures, 'p12MacIterTooHigh' | 'p12PbeIterTooHigh' | 'p12KeyOnly'>> {
  await Promise.all([
    openssl([
      'pkcs12',
      '-export',
      '-inkey',
      ec.leafKey,
      '-in',
      ec.leaf,
      '-iter',
      '70001',
      '-passout',
      `pass:${PASSWORDS.p12}`,
      '-out',
      p('iter.p12'),
    ]),
    openssl([
      'pkcs12',
      '-export',
      '-nocerts',
      '-inkey',
      ec.leafKey,
      '-passout',
      `pass:${PASSWORDS.p12}`,
      '-out',
      p('key-only.p12'),
    ]),
  ]);
  const original = readFileSync(p('iter.p12'));
  const needle = Buffer.from('0203011171', 'hex');
  const replacement = Buffer.from('02031e8481', 'hex');
  const offsets: number[] = [];
  for (let at = original.indexOf(needle); at >= 0; at = original.indexOf(needle, at + 1)) offsets.push(at);
  if (offsets.length < 2)
    throw new Error(`fixtures: expected MAC and PBE iteration counts in iter.p12, found ${offsets.length}`);
  const patch = (offset: number, name: string): string => {
    const copy = Buffer.from(original);
    replacement.copy(copy, offset);
    writeFileSync(p(name), copy);
    return p(name);
  };
  return {
    p12MacIterTooHigh: patch(offsets[offsets.length - 1] as number, 'mac-iter-too-high.p12'),
    p12PbeIterTooHigh: patch(offsets[0] as number, 'pbe-iter-too-high.p12'),
    p12KeyOnly: p('key-only.p12'),
  };
}

/** What OpenSSL itself reports about a certificate: the oracle the summary fields are checked against. */
export interface OpensslFacts {
  /** `-nameopt RFC2253,-esc_msb,sep_comma_plus_space`: most specific first, `, `-separated, UTF-8. */
  readonly subject: string;
  readonly issuer: string;
  /** Lowercased `-serial`. */
  readonly serial: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly sha1: string;
  readonly sha256: string;
  /** `-ext subjectAltName`, mapped to the CertFleet vocabulary. */
  readonly sans: string[];
  /** From `-text`: `RSA-<bits>`, `EC-P256|P384|P521` or `Ed25519`. */
  readonly keyAlgorithm: string;
}

const factsCache = new Map<string, OpensslFacts>();

/** Asks `openssl x509` about a PEM or DER certificate file (memoized per path: fixtures never change). */
export function opensslFacts(certPath: string): OpensslFacts {
  let facts = factsCache.get(certPath);
  if (facts === undefined) {
    facts = queryOpenssl(certPath);
    factsCache.set(certPath, facts);
  }
  return facts;
}

function queryOpenssl(certPath: string): OpensslFacts {
  const x509 = (...args: string[]): string =>
    execFileSync('openssl', ['x509', '-in', certPath, '-noout', ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
  const value = (line: string): string => line.slice(line.indexOf('=') + 1).trim();
  const nameopt = ['-nameopt', 'RFC2253,-esc_msb,sep_comma_plus_space'];
  const fingerprint = (alg: string): string =>
    value(x509('-fingerprint', `-${alg}`))
      .replace(/:/g, '')
      .toLowerCase();
  const sanText = x509('-ext', 'subjectAltName').split('\n').slice(1).join(' ').trim();
  return {
    subject: value(x509('-subject', ...nameopt)),
    issuer: value(x509('-issuer', ...nameopt)),
    serial: value(x509('-serial')).toLowerCase(),
    notBefore: new Date(value(x509('-startdate'))).toISOString(),
    notAfter: new Date(value(x509('-enddate'))).toISOString(),
    sha1: fingerprint('sha1'),
    sha256: fingerprint('sha256'),
    sans: sanText === '' ? [] : sanText.split(', ').map(opensslSanToCertFleet),
    keyAlgorithm: keyAlgorithmFromText(x509('-text')),
  };
}

function keyAlgorithmFromText(text: string): string {
  const algorithm = /Public Key Algorithm: (\S+)/.exec(text)?.[1];
  if (algorithm === 'rsaEncryption') return `RSA-${/Public-Key: \((\d+) bit\)/.exec(text)?.[1] ?? '?'}`;
  if (algorithm === 'id-ecPublicKey') return `EC-${(/NIST CURVE: (P-\d+)/.exec(text)?.[1] ?? '?').replace('-', '')}`;
  if (algorithm === 'ED25519') return 'Ed25519';
  return `unknown(${algorithm ?? '?'})`;
}

function opensslSanToCertFleet(entry: string): string {
  if (entry.startsWith('IP Address:')) {
    const ip = entry.slice('IP Address:'.length);
    // OpenSSL prints IPv6 uncompressed and uppercase; URL parsing gives the RFC 5952 form.
    return `IP:${ip.includes(':') ? new URL(`http://[${ip}]/`).hostname.slice(1, -1) : ip}`;
  }
  return entry;
}
