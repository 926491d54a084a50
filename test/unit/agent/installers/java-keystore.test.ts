import test from 'ava';
import { parseMaterial } from '@certfleet/shared';
import { javaKeystore } from '../../../../agent/src/installers/java-keystore';
import { ctxFor, planFixture } from './_plan';

const PASSWORD = 'keystore-Secret-1';

test('D2 java-keystore: PKCS#12 (AES-256, PBKDF2-SHA256) with the key, leaf and chain under the alias', async (t) => {
  const { opened, material } = await planFixture('java-keystore');
  const ctx = ctxFor(opened, { keystorePassword: PASSWORD });
  ctx.target = { ...ctx.target, keystore: { format: 'pkcs12', alias: 'tomcat' } };
  const plan = javaKeystore.plan(opened, ctx);
  const p12 = plan.files.find((f) => f.name === 'keystore.p12');
  t.is(p12?.mode, 0o600);
  t.is(plan.prepare, undefined);
  const parsed = await parseMaterial(p12?.contents ?? Buffer.alloc(0), { password: PASSWORD });
  t.is(parsed.format, 'pkcs12');
  t.is(parsed.certificates[0]?.sha256, material.leafSha256);
  t.is(parsed.certificates.length, 2);
  t.true(parsed.privateKey?.matchesCertificate);
  // AES-256-CBC and HMAC-SHA256 OIDs are present; no legacy 3DES / RC2 PBE OIDs.
  const hex = p12?.contents.toString('hex') ?? '';
  t.true(hex.includes('60864801650304012a')); // aes256-CBC
  t.true(hex.includes('2a864886f70d0209')); // hmacWithSHA256
  t.false(hex.includes('2a864886f70d010c0103')); // pbeWithSHAAnd3-KeyTripleDES-CBC
  // A wrong password does not open it.
  await t.throwsAsync(parseMaterial(p12?.contents ?? Buffer.alloc(0), { password: 'wrong' }));
});

test('D2 java-keystore: jks adds a keytool -importkeystore step with the password file, never the password', async (t) => {
  const { opened } = await planFixture('java-keystore');
  const ctx = ctxFor(opened, {
    keystorePassword: PASSWORD,
    keystorePasswordFile: '/etc/certfleet-agent/keystore.pass',
  });
  ctx.target = { ...ctx.target, keystore: { format: 'jks', alias: 'tomcat' } };
  const plan = javaKeystore.plan(opened, ctx);
  const step = plan.prepare?.[0];
  t.is(step?.command[0], 'keytool');
  t.true(step?.command.includes('-importkeystore'));
  t.true(step?.command.includes('-srcstorepass:file'));
  t.true(step?.command.includes('/etc/certfleet-agent/keystore.pass'));
  t.false(step?.command.some((a) => a.includes(PASSWORD)));
  t.deepEqual(step?.produces, [{ name: 'keystore.jks', mode: 0o600 }]);
});

test('D2 java-keystore: no validate preset, reload only when configured; hook restart-tomcat', async (t) => {
  const { opened } = await planFixture('java-keystore');
  const plain = javaKeystore.plan(opened, ctxFor(opened, { keystorePassword: PASSWORD }));
  t.is(plain.validate, undefined);
  t.is(plain.reload, undefined);
  const configured = javaKeystore.plan(
    opened,
    ctxFor(opened, { keystorePassword: PASSWORD, commands: { reload: ['systemctl', 'restart', 'tomcat10'] } })
  );
  t.deepEqual(configured.reload, ['systemctl', 'restart', 'tomcat10']);
  t.deepEqual(javaKeystore.hooks, ['restart-tomcat']);
});

test('D2 java-keystore: without a keystore password the plan is refused (CF_VALIDATION)', async (t) => {
  const { opened } = await planFixture('java-keystore');
  const err = t.throws(() => javaKeystore.plan(opened, ctxFor(opened)));
  t.is((err as { code?: string }).code, 'CF_VALIDATION');
  t.regex(err?.message ?? '', /keystorePasswordFile/);
});
