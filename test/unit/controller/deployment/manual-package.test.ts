import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { unzipSync } from 'fflate';
import { isCertFleetError } from '@certfleet/shared';
import {
  MANUAL_PACKAGE_FILES,
  MANUAL_SERVER_TYPES,
  buildManualPackage,
  serverFileSlug,
  type ManualPackageInput,
  type ManualServerType,
} from '../../../../controller/src/deployment/manual-package';
import { createRootCa, issueServerCertificate } from '../../../../controller/src/issuers/internal-ca';
import { assertCommands, testNeeding } from '../../../_helpers/needs';

const run = promisify(execFile);
const PASSWORD = 'package-passw0rd-Zx9';
const NOW = new Date('2026-11-25T12:00:00Z');

interface Ctx {
  input: ManualPackageInput;
  leaf: X509Certificate;
  otherKeyPem: string;
  dir: string;
}
const test = testNeeding<Ctx>(['openssl']);

test.before(async (t) => {
  const root = await createRootCa({ now: NOW, keySpec: 'EC-P256' });
  const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const leaf = await issueServerCertificate({
    ca: root,
    subjectPublicKeyPem: key.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    subject: { commonName: 'shop.example.com' },
    sans: [{ type: 'dns', value: 'shop.example.com' }],
    now: NOW,
    validityDays: 30,
  });
  t.context = {
    input: {
      commonName: 'shop.example.com',
      certificatePem: leaf.certificatePem,
      chainPem: [root.certificatePem],
      privateKeyPem: key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      password: PASSWORD,
      serverType: 'nginx',
    },
    leaf: new X509Certificate(leaf.certificatePem),
    otherKeyPem: generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString(),
    dir: fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-manual-package-')),
  };
});
test.after.always((t) => {
  if (t.context.dir) fs.rmSync(t.context.dir, { recursive: true, force: true });
});

const text = (files: Record<string, Uint8Array>, name: string): string => Buffer.from(files[name] ?? []).toString();

/** Unix mode of each entry from the ZIP central directory (external attributes >> 16). */
function entryModes(zip: Buffer): Record<string, number> {
  const modes: Record<string, number> = {};
  for (let i = zip.indexOf(Buffer.from('PK\x01\x02', 'latin1')); i !== -1;) {
    const nameLength = zip.readUInt16LE(i + 28);
    const extra = zip.readUInt16LE(i + 30);
    const comment = zip.readUInt16LE(i + 32);
    const name = zip.subarray(i + 46, i + 46 + nameLength).toString();
    modes[name] = (zip.readUInt32LE(i + 38) >>> 16) & 0o777;
    const next = i + 46 + nameLength + extra + comment;
    i = zip.subarray(next, next + 4).toString('latin1') === 'PK\x01\x02' ? next : -1;
  }
  return modes;
}

test('D4 manual package: every file, PEMs as given, key encrypted with the password and matching the cert', async (t) => {
  const { input, leaf } = t.context;
  const zip = await buildManualPackage(input);
  const files = unzipSync(zip);
  t.deepEqual(Object.keys(files).sort(), [...MANUAL_PACKAGE_FILES].sort());
  t.deepEqual(entryModes(zip), {
    'README.txt': 0o644,
    'cert.pem': 0o644,
    'chain.pem': 0o644,
    'fullchain.pem': 0o644,
    'key.pem': 0o600,
    'certificate.p12': 0o600,
  });

  const cert = new X509Certificate(text(files, 'cert.pem'));
  t.is(cert.fingerprint256, leaf.fingerprint256);
  const chain = text(files, 'chain.pem');
  t.is(new X509Certificate(chain).fingerprint256, new X509Certificate(input.chainPem![0]!).fingerprint256);
  t.is(text(files, 'fullchain.pem'), text(files, 'cert.pem') + chain);

  const keyPem = text(files, 'key.pem');
  t.regex(keyPem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
  t.notRegex(keyPem, /BEGIN PRIVATE KEY/);
  const key = createPrivateKey({ key: keyPem, passphrase: PASSWORD });
  t.true(cert.checkPrivateKey(key), 'the encrypted key opens with the password and belongs to cert.pem');
  t.throws(() => createPrivateKey({ key: keyPem, passphrase: 'wrong-password-123' }));
  t.throws(() => createPrivateKey(keyPem));
  // the password is in no entry; the unencrypted key is in no entry
  const all = Buffer.concat(Object.values(files).map((f) => Buffer.from(f)));
  t.false(all.includes(PASSWORD));
  t.false(all.includes(Buffer.from(input.privateKeyPem.split('\n')[1]!)));

  // openssl agrees: the key is PBES2 AES-256-CBC and decrypts with the password
  const keyFile = path.join(t.context.dir, 'key.pem');
  fs.writeFileSync(keyFile, keyPem);
  assertCommands(['openssl']);
  const asn1 = await run('openssl', ['asn1parse', '-in', keyFile]);
  t.regex(asn1.stdout, /PBES2/);
  t.regex(asn1.stdout, /aes-256-cbc/);
  const pub = await run('openssl', ['pkey', '-in', keyFile, '-passin', `pass:${PASSWORD}`, '-pubout']);
  t.is(pub.stdout.trim(), cert.publicKey.export({ type: 'spki', format: 'pem' }).toString().trim());
});

test('D4 manual package: certificate.p12 opens in openssl with the password, AES-256-CBC, leaf + chain + key', async (t) => {
  const { input, leaf, dir } = t.context;
  assertCommands(['openssl']);
  const files = unzipSync(await buildManualPackage({ ...input, serverType: 'java-keystore' }));
  const p12 = path.join(dir, 'certificate.p12');
  fs.writeFileSync(p12, files['certificate.p12']!);
  const info = await run('openssl', ['pkcs12', '-info', '-noout', '-in', p12, '-passin', `pass:${PASSWORD}`]);
  const infoText = info.stdout + info.stderr;
  t.regex(infoText, /AES-256-CBC/);
  t.notRegex(infoText, /RC2|3DES|pbeWithSHA1/i);
  t.regex(infoText, /MAC: sha256/);
  const certs = await run('openssl', ['pkcs12', '-in', p12, '-passin', `pass:${PASSWORD}`, '-nokeys']);
  const pems = certs.stdout.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  t.is(pems.length, 2, 'leaf and chain');
  t.true(pems.some((p) => new X509Certificate(p).fingerprint256 === leaf.fingerprint256));
  const wrong = await t.throwsAsync(run('openssl', ['pkcs12', '-info', '-noout', '-in', p12, '-passin', 'pass:wrong']));
  t.truthy(wrong);
});

const expectedCommands: Record<ManualServerType, RegExp[]> = {
  nginx: [/nginx -t/, /systemctl reload nginx/, /ssl_certificate_key/],
  apache: [/apachectl configtest/, /apachectl graceful/, /SSLCertificateKeyFile/],
  haproxy: [/haproxy -c -f/, /systemctl reload haproxy/, /bind :443 ssl crt/],
  postfix: [/postfix check/, /postfix reload/, /smtpd_tls_chain_files/, /-starttls smtp/],
  dovecot: [/doveconf -n/, /doveadm reload/, /ssl_key = </],
  'java-keystore': [/keytool -list/, /systemctl restart tomcat/, /certificateKeystoreType="PKCS12"/],
  file: [/openssl verify/, /systemctl reload <service>/, /install -m 0644 cert\.pem chain\.pem fullchain\.pem/],
  'iis-or-other': [/Import-PfxCertificate/, /iisreset/, /certificate\.p12/],
};

test('D4 manual package: README names the files, the server type commands and the s_client fingerprint check', async (t) => {
  const { input, leaf } = t.context;
  for (const serverType of MANUAL_SERVER_TYPES) {
    const readme = text(unzipSync(await buildManualPackage({ ...input, serverType })), 'README.txt');
    t.true(readme.includes(`Server type: ${serverType}`), serverType);
    for (const name of MANUAL_PACKAGE_FILES) t.true(readme.includes(name), `${serverType} README names ${name}`);
    for (const re of expectedCommands[serverType]) t.regex(readme, re, `${serverType}: ${re.source}`);
    t.regex(readme, /openssl s_client -connect shop\.example\.com:\d+ -servername shop\.example\.com/);
    t.true(readme.includes(`sha256 Fingerprint=${leaf.fingerprint256}`), `${serverType}: fingerprint line`);
    t.false(readme.includes(PASSWORD));
  }
});

test('D4 manual package: bad input is CF_VALIDATION (short password, server type, foreign key, not a cert)', async (t) => {
  const { input, otherKeyPem } = t.context;
  const cases: [string, ManualPackageInput, RegExp][] = [
    ['short password', { ...input, password: 'eleven-char' }, /12 characters/],
    ['server type', { ...input, serverType: 'lighttpd' as never }, /serverType/],
    ['foreign key', { ...input, privateKeyPem: otherKeyPem }, /does not belong/],
    ['not a certificate', { ...input, certificatePem: 'nope' }, /not a PEM certificate/],
    ['bad chain', { ...input, chainPem: ['nope'] }, /chain certificate 1/],
    ['not a key', { ...input, privateKeyPem: 'nope' }, /cannot be read/],
  ];
  for (const [what, bad, message] of cases) {
    const err = await t.throwsAsync(buildManualPackage(bad), undefined, what);
    t.true(isCertFleetError(err), what);
    t.is((err as { code?: string }).code, 'CF_VALIDATION', what);
    t.regex((err as Error).message, message, what);
    t.false((err as Error).message.includes(bad.password), `${what}: password not in the message`);
  }
});

test('D4 server file names: wildcards and odd characters become a safe slug', (t) => {
  t.is(serverFileSlug('*.example.com'), 'wildcard.example.com');
  t.is(serverFileSlug('Shop.Example.COM'), 'shop.example.com');
  t.is(serverFileSlug('../../etc/passwd'), '_.._etc_passwd');
  t.is(serverFileSlug(''), 'certificate');
});
