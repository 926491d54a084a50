import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import forge from 'node-forge';
import { generateKeyPair, parseMaterial, type GeneratedKeyPair } from '@certfleet/shared';
import {
  createPkcs12,
  createRootCa,
  issueClientCertificate,
  type CreateRootCaResult,
} from '../../../../controller/src/issuers/internal-ca';
import { assertCommands, testNeeding } from '../../../_helpers/needs';

const execFileAsync = promisify(execFile);

interface Ctx {
  dir: string;
  root: CreateRootCaResult;
  key: GeneratedKeyPair;
  certificatePem: string;
}
const test = anyTest as TestFn<Ctx>;
const testOpenssl = testNeeding<Ctx>(['openssl']);
const NOW = new Date('2026-11-25T20:10:00.000Z');
const PASSWORD = 'correct horse battery staple';

test.before(async (t) => {
  const root = await createRootCa({ now: new Date(), keySpec: 'EC-P384' });
  const key = await generateKeyPair('EC-P256');
  const client = await issueClientCertificate({
    ca: root,
    subjectPublicKeyPem: key.publicKeyPem,
    username: 'alice',
    now: new Date(),
    validityDays: 365,
  });
  t.context = {
    dir: await mkdtemp(join(tmpdir(), 'certfleet-p12-')),
    root,
    key,
    certificatePem: client.certificatePem,
  };
});
test.after.always(async (t) => {
  if (t.context.dir) await rm(t.context.dir, { recursive: true, force: true });
});

let n = 0;
async function file(t: ExecutionContext<Ctx>, name: string, contents: string | Buffer): Promise<string> {
  const path = join(t.context.dir, `${++n}-${name}`);
  await writeFile(path, contents);
  return path;
}
async function openssl(...args: string[]): Promise<{ out: string; code: number }> {
  try {
    const { stdout, stderr } = await execFileAsync('openssl', args);
    return { out: stdout + stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    return { out: `${e.stdout ?? ''}${e.stderr ?? ''}`, code: e.code ?? 1 };
  }
}

testOpenssl(
  'C5 PKCS#12 opens in openssl without -legacy: PBES2/PBKDF2-HMAC-SHA256/AES-256-CBC for key and certificates, MAC SHA-256',
  async (t) => {
    assertCommands(['openssl']);
    const t0 = performance.now();
    const p12 = createPkcs12({
      certificatePem: t.context.certificatePem,
      chainPem: [t.context.root.certificatePem],
      privateKeyPem: t.context.key.privateKeyPem,
      password: PASSWORD,
      friendlyName: 'alice (CertFleet)',
    });
    t.log(`createPkcs12 (200 000 iterations): ${(performance.now() - t0).toFixed(0)} ms, ${p12.length} bytes`);
    const f = await file(t, 'alice.p12', p12);

    const plain = await openssl('pkcs12', '-in', f, '-passin', `pass:${PASSWORD}`, '-noout');
    t.is(plain.code, 0, plain.out);

    const info = await openssl('pkcs12', '-in', f, '-passin', `pass:${PASSWORD}`, '-info', '-noout');
    t.is(info.code, 0, info.out);
    t.log(info.out.trim());
    t.regex(info.out, /^MAC: sha256, Iteration 200000$/m);
    t.regex(info.out, /^MAC length: 32, salt length: 16$/m);
    t.regex(info.out, /^PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 200000, PRF hmacWithSHA256$/m);
    t.regex(info.out, /^Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 200000, PRF hmacWithSHA256$/m);
    t.notRegex(info.out, /sha1|SHA1|3DES|RC2|des-ede3/i);
    t.is((info.out.match(/^Certificate bag$/gm) ?? []).length, 2);

    const pem = await openssl('pkcs12', '-in', f, '-passin', `pass:${PASSWORD}`, '-nodes');
    t.regex(pem.out, /friendlyName: alice \(CertFleet\)/);
    t.regex(pem.out, /localKeyID: [0-9A-F ]{59}/);
    t.regex(pem.out, /-----BEGIN PRIVATE KEY-----/);
    const wrong = await openssl('pkcs12', '-in', f, '-passin', 'pass:wrong password', '-noout');
    t.not(wrong.code, 0);
    t.regex(wrong.out, /mac verify (error|failure)/i);
  }
);

test('C5 our importer (parseMaterial) and Node TLS read the PKCS#12 back: key matches, chain in order', async (t) => {
  const p12 = createPkcs12({
    certificatePem: t.context.certificatePem,
    chainPem: t.context.root.certificatePem,
    privateKeyPem: t.context.key.privateKeyPem,
    password: PASSWORD,
    iterations: 10_000,
  });
  const parsed = await parseMaterial(p12, { password: PASSWORD });
  t.is(parsed.format, 'pkcs12');
  t.is(parsed.certificates.length, 2);
  t.is(parsed.certificates[0]!.subject, 'CN=alice');
  t.is(parsed.certificates[1]!.subject, t.context.root.subject);
  t.true(parsed.privateKey?.matchesCertificate);
  t.true(
    createPrivateKey(parsed.privateKey!.pkcs8Pem).equals(createPrivateKey(t.context.key.privateKeyPem)),
    'the same key comes back'
  );
  await t.throwsAsync(parseMaterial(p12, { password: 'nope' }), { message: /wrong password/ });
  t.notThrows(() => tls.createSecureContext({ pfx: p12, passphrase: PASSWORD }));
});

test('C5 non-ASCII passwords (UTF-8 for PBKDF2, BMPString for the MAC) and RSA keys', async (t) => {
  const rsa = await generateKeyPair('RSA-2048');
  const cert = await issueClientCertificate({
    ca: t.context.root,
    subjectPublicKeyPem: rsa.publicKeyPem,
    username: 'Jürgen 山田',
    now: new Date(),
    validityDays: 30,
  });
  const password = 'pässwörd-秘密-🔑';
  const p12 = createPkcs12({
    certificatePem: cert.certificatePem,
    privateKeyPem: rsa.privateKeyPem,
    password,
    iterations: 2048,
  });
  const parsed = await parseMaterial(p12, { password });
  t.true(parsed.privateKey?.matchesCertificate);
  t.is(parsed.certificates[0]!.subject, 'CN=Jürgen 山田');
  t.is(new X509Certificate(cert.certificatePem).subject, 'CN=Jürgen 山田');
});

testOpenssl('C5 openssl accepts a non-ASCII password as well', async (t) => {
  assertCommands(['openssl']);
  const password = 'pässwörd-秘密';
  const p12 = createPkcs12({
    certificatePem: t.context.certificatePem,
    privateKeyPem: t.context.key.privateKeyPem,
    password,
    iterations: 2048,
  });
  const r = await openssl('pkcs12', '-in', await file(t, 'utf8.p12', p12), '-passin', `pass:${password}`, '-noout');
  t.is(r.code, 0, r.out);
});

test('C5 node-forge (a third PKCS#12 implementation) decrypts it too', (t) => {
  const p12 = createPkcs12({
    certificatePem: t.context.certificatePem,
    chainPem: [t.context.root.certificatePem],
    privateKeyPem: t.context.key.privateKeyPem,
    password: PASSWORD,
    iterations: 2048,
  });
  // forge checks the SHA-256 MAC and decrypts PBES2/AES-256 bags; it cannot read EC keys, so only bag
  // structure and certificates are compared here.
  const asn1 = forge.asn1.fromDer(forge.util.createBuffer(p12.toString('binary')));
  const pfx = forge.pkcs12.pkcs12FromAsn1(asn1, true, PASSWORD);
  const certBags = pfx.getBags({ bagType: forge.pki.oids.certBag! })[forge.pki.oids.certBag!] ?? [];
  t.is(certBags.length, 2);
  t.is(certBags[0]!.attributes.friendlyName?.[0], 'alice');
});

test('C5 createPkcs12 refuses a key that does not match, an empty password and extra certificates', async (t) => {
  const other = await generateKeyPair('EC-P256');
  const base = {
    certificatePem: t.context.certificatePem,
    privateKeyPem: t.context.key.privateKeyPem,
    password: PASSWORD,
    iterations: 1000,
  };
  for (const [over, message] of [
    [{ privateKeyPem: other.privateKeyPem }, /does not match/],
    [{ password: '' }, /password/],
    [{ certificatePem: t.context.certificatePem + t.context.root.certificatePem }, /exactly one certificate/],
    [{ iterations: 10 }, /iterations/],
    [{ chainPem: 'not pem' }, /chain/],
  ] as const) {
    const err = t.throws(() => createPkcs12({ ...base, ...over }));
    t.is((err as { code?: string }).code, 'CF_VALIDATION');
    t.regex(err!.message, message);
  }
});

void NOW;
