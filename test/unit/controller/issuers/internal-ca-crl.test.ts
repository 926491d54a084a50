import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { generateKeyPair, isCertFleetError } from '@certfleet/shared';
import {
  CRL_REASON_CODES,
  createCrl,
  createRootCa,
  issueClientCertificate,
  issueServerCertificate,
  type CreateRootCaResult,
} from '../../../../controller/src/issuers/internal-ca';
import { assertCommands, testNeeding } from '../../../_helpers/needs';

const execFileAsync = promisify(execFile);

interface Ctx {
  dir: string;
  roots: Record<'EC-P384' | 'EC-P256' | 'RSA-2048', CreateRootCaResult>;
}
const test = anyTest as TestFn<Ctx>;
const testOpenssl = testNeeding<Ctx>(['openssl']);
const NOW = new Date('2026-11-25T20:10:00.000Z');
const WEEK = 7 * 86_400_000;

test.before(async (t) => {
  const [a, b, c] = await Promise.all([
    createRootCa({ now: NOW, keySpec: 'EC-P384' }),
    createRootCa({ now: NOW, keySpec: 'EC-P256' }),
    createRootCa({ now: NOW, keySpec: 'RSA-2048' }),
  ]);
  t.context = {
    dir: await mkdtemp(join(tmpdir(), 'certfleet-crl-')),
    roots: { 'EC-P384': a, 'EC-P256': b, 'RSA-2048': c },
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
/** Runs openssl; resolves with stdout+stderr and the exit code (never rejects on a non-zero exit). */
async function openssl(...args: string[]): Promise<{ out: string; code: number }> {
  try {
    const { stdout, stderr } = await execFileAsync('openssl', args);
    return { out: stdout + stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    return { out: `${e.stdout ?? ''}${e.stderr ?? ''}`, code: e.code ?? 1 };
  }
}

async function leaf(root: CreateRootCaResult, cn: string, extensions = {}): Promise<{ pem: string; serial: string }> {
  const key = await generateKeyPair('EC-P256');
  const issued = await issueServerCertificate({
    ca: root,
    subjectPublicKeyPem: key.publicKeyPem,
    subject: { commonName: cn },
    sans: [{ type: 'dns', value: cn }],
    now: NOW,
    validityDays: 30,
    extensions,
  });
  return { pem: issued.certificatePem, serial: issued.serial };
}

for (const spec of ['EC-P384', 'EC-P256', 'RSA-2048'] as const) {
  testOpenssl(`C4 ${spec} CA: v2 CRL verifies with openssl crl -CAfile and lists serials with reasons`, async (t) => {
    assertCommands(['openssl']);
    const root = t.context.roots[spec];
    const revokedLeaf = await leaf(root, 'revoked.example');
    const goodLeaf = await leaf(root, 'good.example');
    const revokedAt = new Date('2026-11-25T20:00:00.000Z');
    const crl = createCrl({
      ca: root,
      revoked: [
        { serial: revokedLeaf.serial, revokedAt, reason: 'keyCompromise' },
        { serial: '0a', revokedAt, reason: 'unspecified' },
        { serial: '1234', revokedAt, reason: 'privilegeWithdrawn' },
      ],
      crlNumber: 42,
      thisUpdate: NOW,
      nextUpdate: new Date(NOW.getTime() + WEEK),
    });
    t.true(crl.pem.startsWith('-----BEGIN X509 CRL-----\n'));
    const caFile = await file(t, 'ca.pem', root.certificatePem);
    const derFile = await file(t, 'crl.der', crl.der);
    const r = await openssl('crl', '-inform', 'DER', '-in', derFile, '-CAfile', caFile, '-noout', '-text');
    t.is(r.code, 0, r.out);
    t.regex(r.out, /verify OK/);
    t.regex(r.out, /Version 2 \(0x1\)/);
    t.regex(r.out, /X509v3 CRL Number:\s*\n\s*42\s*\n/);
    t.regex(r.out, /X509v3 Authority Key Identifier:\s*\n\s*[0-9A-F:]{59}/);
    t.regex(r.out, /Last Update: Nov 25 20:10:00 2026 GMT\s*\n\s*Next Update: Dec {2}2 20:10:00 2026 GMT/);
    t.regex(
      r.out,
      new RegExp(
        `Serial Number: ${revokedLeaf.serial}\\s*\\n\\s*Revocation Date: Nov 25 20:00:00 2026 GMT\\s*\\n\\s*CRL entry extensions:\\s*\\n\\s*X509v3 CRL Reason Code:\\s*\\n\\s*Key Compromise`
      )
    );
    t.regex(
      r.out,
      /Serial Number: 0A\s*\n\s*Revocation Date: [^\n]+\n(?!\s*CRL entry extensions)/,
      'unspecified: no reasonCode'
    );
    t.regex(r.out, /Serial Number: 1234[\s\S]{0,200}Privilege Withdrawn/);

    // The AKI matches the CA's SKI.
    const ski = /Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(
      (await openssl('x509', '-in', caFile, '-noout', '-text')).out
    )?.[1];
    t.truthy(ski);
    t.true(r.out.includes(ski!));

    // Path validation with the CRL: the revoked leaf fails, the other passes.
    const crlPem = await file(t, 'crl.pem', crl.pem);
    const bad = await openssl(
      'verify',
      '-attime',
      String(NOW.getTime() / 1000 + 60),
      '-crl_check',
      '-CRLfile',
      crlPem,
      '-CAfile',
      caFile,
      await file(t, 'r.pem', revokedLeaf.pem)
    );
    t.not(bad.code, 0);
    t.regex(bad.out, /certificate revoked/);
    const good = await openssl(
      'verify',
      '-attime',
      String(NOW.getTime() / 1000 + 60),
      '-crl_check',
      '-CRLfile',
      crlPem,
      '-CAfile',
      caFile,
      await file(t, 'g.pem', goodLeaf.pem)
    );
    t.is(good.code, 0, good.out);
  });
}

testOpenssl('C4 an empty CRL has no revokedCertificates and still verifies', async (t) => {
  assertCommands(['openssl']);
  const root = t.context.roots['EC-P256'];
  const crl = createCrl({
    ca: root,
    revoked: [],
    crlNumber: 1,
    thisUpdate: NOW,
    nextUpdate: new Date(NOW.getTime() + WEEK),
  });
  const r = await openssl(
    'crl',
    '-inform',
    'DER',
    '-in',
    await file(t, 'e.der', crl.der),
    '-CAfile',
    await file(t, 'ca.pem', root.certificatePem),
    '-noout',
    '-text'
  );
  t.is(r.code, 0, r.out);
  t.regex(r.out, /No Revoked Certificates/);
  t.regex(r.out, /verify OK/);
});

testOpenssl('C4 a CRL after 2049 uses GeneralizedTime; CRL numbers may exceed 2^53', async (t) => {
  assertCommands(['openssl']);
  const root = await createRootCa({ now: NOW, keySpec: 'EC-P256', validityYears: 40 });
  const thisUpdate = new Date('2050-01-01T00:00:00Z');
  const crl = createCrl({
    ca: root,
    revoked: [{ serial: 'FF', revokedAt: thisUpdate, reason: 'superseded' }],
    crlNumber: 2n ** 70n,
    thisUpdate,
    nextUpdate: new Date(thisUpdate.getTime() + WEEK),
  });
  const r = await openssl('crl', '-inform', 'DER', '-in', await file(t, 'g.der', crl.der), '-noout', '-text');
  t.regex(r.out, /Last Update: Jan {2}1 00:00:00 2050 GMT/);
  t.regex(r.out, /CRL Number:\s*\n\s*(0x400000000000000000|1180591620717411303424)/);
  t.regex(r.out, /Superseded/);
});

test('C4 createCrl rejects bad input, a key that does not match the CA, and a non-CA certificate', async (t) => {
  const root = t.context.roots['EC-P256'];
  const bad = (over: Record<string, unknown>, message: RegExp): void => {
    const err = t.throws(() =>
      createCrl({
        ca: root,
        revoked: [],
        crlNumber: 1,
        thisUpdate: NOW,
        nextUpdate: new Date(NOW.getTime() + WEEK),
        ...over,
      })
    );
    t.true(isCertFleetError(err));
    t.is((err as { code?: string }).code, 'CF_VALIDATION');
    t.regex(err!.message, message);
  };
  bad({ nextUpdate: NOW }, /nextUpdate must be after thisUpdate/);
  bad({ crlNumber: -1 }, /crlNumber/);
  bad({ revoked: [{ serial: 'xyz', revokedAt: NOW, reason: 'keyCompromise' }] }, /serial/);
  bad({ revoked: [{ serial: '01', revokedAt: NOW, reason: 'removeFromCRL' }] }, /reason/);
  const other = await generateKeyPair('EC-P256');
  bad({ ca: { certificatePem: root.certificatePem, privateKeyPem: other.privateKeyPem } }, /does not match/);
  const leafCert = await leaf(root, 'leaf.example');
  const leafKey = await generateKeyPair('EC-P256');
  bad({ ca: { certificatePem: leafCert.pem, privateKeyPem: leafKey.privateKeyPem } }, /CA:TRUE/);
  t.is(CRL_REASON_CODES.privilegeWithdrawn, 9);
});

testOpenssl(
  'C3 custom extensions: CRL distribution point and AIA caIssuers/OCSP on server and client certificates',
  async (t) => {
    assertCommands(['openssl']);
    const root = t.context.roots['EC-P384'];
    const extensions = {
      crlDistributionPoint: 'http://pki.example.com/pki/1234/crl',
      caIssuersUrl: 'http://pki.example.com/pki/1234/ca.crt',
      ocspUrl: 'http://ocsp.example.com/',
    };
    const server = await leaf(root, 'ext.example', extensions);
    const text = (await openssl('x509', '-in', await file(t, 's.pem', server.pem), '-noout', '-text')).out;
    t.regex(
      text,
      /X509v3 CRL Distribution Points:\s*\n\s*Full Name:\s*\n\s*URI:http:\/\/pki\.example\.com\/pki\/1234\/crl/
    );
    t.regex(
      text,
      /Authority Information Access:\s*\n\s*OCSP - URI:http:\/\/ocsp\.example\.com\/\s*\n\s*CA Issuers - URI:http:\/\/pki\.example\.com\/pki\/1234\/ca\.crt/
    );
    t.notRegex(text, /critical\s*\n\s*(Full Name|OCSP)/);

    // Only some of them: just the CDP.
    const cdpOnly = await leaf(root, 'cdp.example', {
      crlDistributionPoint: 'ldap://ldap.example.com/cn=CA?certificateRevocationList',
    });
    const text2 = (await openssl('x509', '-in', await file(t, 'c.pem', cdpOnly.pem), '-noout', '-text')).out;
    t.regex(text2, /URI:ldap:\/\/ldap\.example\.com/);
    t.notRegex(text2, /Authority Information Access/);

    // Client certificate (C5): clientAuth, CN = user, no SAN, the same custom extensions.
    const key = await generateKeyPair('EC-P256');
    const client = await issueClientCertificate({
      ca: root,
      subjectPublicKeyPem: key.publicKeyPem,
      username: 'alice',
      now: NOW,
      validityDays: 365,
      extensions,
    });
    const text3 = (await openssl('x509', '-in', await file(t, 'cl.pem', client.certificatePem), '-noout', '-text')).out;
    t.regex(text3, /Subject: CN = alice\s*\n/);
    t.regex(text3, /X509v3 Extended Key Usage:\s*\n\s*TLS Web Client Authentication\s*\n/);
    t.regex(text3, /X509v3 Key Usage: critical\s+Digital Signature\s*\n/);
    t.notRegex(text3, /Subject Alternative Name|Server Authentication/);
    t.regex(text3, /CRL Distribution Points/);
    const v = await openssl(
      'verify',
      '-attime',
      String(NOW.getTime() / 1000 + 60),
      '-purpose',
      'sslclient',
      '-CAfile',
      await file(t, 'ca.pem', root.certificatePem),
      await file(t, 'cl2.pem', client.certificatePem)
    );
    t.is(v.code, 0, v.out);
    t.is(new X509Certificate(client.certificatePem).serialNumber, client.serial);
  }
);

test('C3 extension URLs must be absolute http(s)/ldap printable ASCII', async (t) => {
  const root = t.context.roots['EC-P256'];
  for (const url of [
    'pki.example.com/crl',
    'http://exa mple.com/crl',
    'http://ëxample.com/crl',
    'javascript:alert(1)',
    'ftp://x/y',
  ]) {
    const err = await t.throwsAsync(leaf(root, 'x.example', { crlDistributionPoint: url }));
    t.is((err as { code?: string }).code, 'CF_VALIDATION', url);
  }
});

testOpenssl('C4 a CA certificate whose keyUsage lacks cRLSign cannot sign CRLs', async (t) => {
  assertCommands(['openssl']);
  const key = await generateKeyPair('EC-P256');
  const keyFile = await file(t, 'nocrl.key', key.privateKeyPem);
  const cert = await openssl(
    'req',
    '-x509',
    '-new',
    '-key',
    keyFile,
    '-subj',
    '/CN=No CRL Sign CA',
    '-days',
    '30',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign'
  );
  t.is(cert.code, 0, cert.out);
  const err = t.throws(() =>
    createCrl({
      ca: { certificatePem: cert.out, privateKeyPem: key.privateKeyPem },
      revoked: [],
      crlNumber: 1,
      thisUpdate: NOW,
      nextUpdate: new Date(NOW.getTime() + WEEK),
    })
  );
  t.is((err as { code?: string }).code, 'CF_VALIDATION');
  t.regex(err!.message, /cRLSign/);
});
