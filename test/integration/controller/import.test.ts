import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestFn } from 'ava';
import pino from 'pino';
import { systemClock } from '@certfleet/shared';
import { loadConfig } from '../../../controller/src/config/config';
import { openStore, type ConnectedStore } from '../../../controller/src/controller';
import type { ServiceContext } from '../../../controller/src/services/context';
import { importCertificate } from '../../../controller/src/services/import-service';
import { exportPrivateKey } from '../../../controller/src/services/key-service';
import {
  AuditEventEntity,
  CertificateEntity,
  DefinitionEntity,
  PrivateKeyEntity,
} from '../../../controller/src/storage/entities';
import { ADMIN_PASSWORD, startTestController } from '../../_helpers/controller';
import { dropDatabase, freshDatabaseUrl } from '../../_helpers/db';
import { getFixtures, PASSWORDS, readFixture, type Fixtures } from '../../_helpers/fixtures';
import { assertCommands, testNeeding } from '../../_helpers/needs';

const run = promisify(execFile);
const CANARY_PASSWORD = 'Canary-Passw0rd-4f1e';
const root = path.resolve(__dirname, '../../..');
const test = testNeeding(['openssl', 'keytool']) as TestFn<{
  fx: Fixtures;
  store: ConnectedStore;
  ctx: ServiceContext;
  url: string;
  home: string;
}>;

test.before(async (t) => {
  assertCommands(['openssl', 'keytool']);
  const url = await freshDatabaseUrl();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-import-'));
  const log = pino({ level: 'silent' });
  const store = await openStore(loadConfig({ CERTFLEET_HOME: home, DATABASE_URL: url }), log);
  t.context = {
    fx: await getFixtures(),
    store,
    ctx: { db: store.db, masterKey: store.masterKey, clock: systemClock, log },
    url,
    home,
  };
});
test.after.always(async (t) => {
  await t.context.store?.close();
  if (t.context.url) await dropDatabase(t.context.url);
  if (t.context.home) fs.rmSync(t.context.home, { recursive: true, force: true });
});

async function counts(ctx: ServiceContext): Promise<Record<string, number>> {
  const em = ctx.db.em();
  return {
    definitions: await em.count(DefinitionEntity, {}),
    certificates: await em.count(CertificateEntity, {}),
    keys: await em.count(PrivateKeyEntity, {}),
    audit: await em.count(AuditEventEntity, {}),
  };
}

test.serial('I1 I2 every format imports for RSA and ECDSA: definition from DN/SANs, key → redeployable', async (t) => {
  const { fx, ctx } = t.context;
  for (const fam of [fx.rsa, fx.ec]) {
    const cases: Array<[string, { file: string; key?: string; chain?: string }, Record<string, string>, boolean]> = [
      ['pem bundle', { file: fam.bundle }, {}, true],
      ['pem + pkcs1/sec1 key + chain', { file: fam.leaf, key: fam.leafKeyTraditional, chain: fam.chain }, {}, true],
      ['pem + encrypted pkcs8', { file: fam.leaf, key: fam.leafKeyEncrypted }, { password: PASSWORDS.key }, true],
      [
        'pem + legacy encrypted',
        { file: fam.leaf, key: fam.leafKeyLegacyEncrypted },
        { password: PASSWORDS.key },
        true,
      ],
      ['der', { file: fam.leafDer }, {}, false],
      ['pkcs7 pem', { file: fam.p7bPem }, {}, false],
      ['pkcs7 der', { file: fam.p7bDer }, {}, false],
      ['pkcs12 openssl 3', { file: fam.p12 }, { password: PASSWORDS.p12 }, true],
      ['pkcs12 legacy', { file: fam.p12Legacy }, { password: PASSWORDS.p12 }, true],
      ['pkcs12 keytool', { file: fam.p12Keytool }, { password: PASSWORDS.p12 }, true],
      ['jks', { file: fam.jks }, { password: PASSWORDS.jksStore, keyPassword: PASSWORDS.jksKey }, true],
    ];
    for (const [label, files, pw, withKey] of cases) {
      // The same leaf each time: delete the previous import so duplicate detection does not interfere.
      await ctx.db.em().nativeDelete(CertificateEntity, {});
      const r = await importCertificate(
        ctx,
        {
          file: readFixture(files.file),
          key: files.key ? readFixture(files.key) : undefined,
          chain: files.chain ? readFixture(files.chain) : undefined,
        },
        { mode: withKey ? 'managed' : 'monitored', name: `${fam.family} ${label}`, ...pw },
        'test'
      );
      t.is(r.redeployable, withKey, `${fam.family} ${label}: redeployable`);
      t.is(r.definition.operationMode, withKey ? 'managed' : 'monitored');
      t.true(r.definition.sans.length > 0, `${fam.family} ${label}: SANs taken from the certificate`);
      t.is(r.certificate.isCurrent, true);
      if (/bundle|chain|pkcs7/.test(label))
        t.true(r.certificate.chainPem.length >= 1, `${fam.family} ${label}: chain kept`);
      const x = new crypto.X509Certificate(r.certificate.pem);
      t.is(x.fingerprint256.replace(/:/g, '').toLowerCase(), r.certificate.sha256);
      t.true(r.definition.subject.commonName.length > 0);
    }
  }
});

test.serial('I3 each bad input has its typed error and leaves no partial record', async (t) => {
  const { fx, ctx } = t.context;
  await ctx.db.em().nativeDelete(CertificateEntity, {});
  const before = await counts(ctx);
  const cases: Array<[string, { file: string; key?: string }, Record<string, string>]> = [
    ['CF_IMPORT_WRONG_PASSWORD', { file: fx.ec.p12 }, { password: CANARY_PASSWORD }],
    ['CF_IMPORT_PASSWORD_REQUIRED', { file: fx.rsa.leaf, key: fx.rsa.leafKeyEncrypted }, {}],
    ['CF_IMPORT_KEY_MISMATCH', { file: fx.ec.leaf, key: fx.ec.otherKey }, {}],
    ['CF_IMPORT_CORRUPT', { file: fx.truncatedDer }, {}],
    ['CF_IMPORT_CORRUPT', { file: fx.truncatedP12 }, { password: PASSWORDS.p12 }],
    ['CF_IMPORT_UNSUPPORTED_ALGORITHM', { file: fx.dsaCert }, {}],
    ['CF_IMPORT_TOO_LARGE', { file: fx.tooLarge }, {}],
    ['CF_IMPORT_ITERATIONS_TOO_HIGH', { file: fx.p12MacIterTooHigh }, { password: PASSWORDS.p12 }],
    ['CF_IMPORT_CHAIN_TOO_LONG', { file: fx.longChain }, {}],
    ['CF_IMPORT_NO_CERTIFICATE', { file: fx.p12KeyOnly }, { password: PASSWORDS.p12 }],
    ['CF_IMPORT_UNKNOWN_FORMAT', { file: fx.notCertificates }, {}],
  ];
  for (const [code, files, pw] of cases) {
    const err = await t.throwsAsync(
      importCertificate(
        ctx,
        { file: readFixture(files.file), key: files.key ? readFixture(files.key) : undefined },
        { mode: 'managed', ...pw },
        'test'
      )
    );
    t.is((err as { code?: string }).code, code, `${path.basename(files.file)} → ${code}: ${err?.message}`);
    t.false(
      `${err!.message} ${JSON.stringify((err as { details?: unknown }).details ?? {})}`.includes(CANARY_PASSWORD),
      'the password never appears in the error'
    );
  }
  t.deepEqual(await counts(ctx), before, 'no definition, certificate, key or audit row was written');
});

test.serial(
  'I3 a duplicate (same SHA-256) is refused naming the existing record; R3 one current per definition',
  async (t) => {
    const { fx, ctx } = t.context;
    await ctx.db.em().nativeDelete(CertificateEntity, {});
    const first = await importCertificate(
      ctx,
      { file: readFixture(fx.ec.bundle) },
      { mode: 'managed', name: 'dup-test' },
      'test'
    );
    const err = await t.throwsAsync(
      importCertificate(ctx, { file: readFixture(fx.ec.bundle) }, { mode: 'managed' }, 'test')
    );
    t.is((err as { code?: string }).code, 'CF_IMPORT_DUPLICATE');
    t.is((err as { details?: { certificateId?: string } }).details?.certificateId, first.certificate.id);
    // A second (different) certificate attached to the same definition: still exactly one current.
    const second = await importCertificate(
      ctx,
      { file: readFixture(fx.p384Leaf) },
      { mode: 'managed', definitionId: first.definition.id },
      'test'
    );
    const current = await ctx.db.em().find(CertificateEntity, { definitionId: first.definition.id, isCurrent: true });
    t.is(current.length, 1);
    t.true([first.certificate.id, second.certificate.id].includes(current[0]!.id));
  }
);

test.serial('R4 key export needs the permission and is audited; the exported key is the imported one', async (t) => {
  const { fx, ctx } = t.context;
  await ctx.db.em().nativeDelete(CertificateEntity, {});
  const r = await importCertificate(
    ctx,
    { file: readFixture(fx.rsa.leaf), key: readFixture(fx.rsa.leafKey) },
    { mode: 'managed', name: 'export-test' },
    'test'
  );
  const denied = await t.throwsAsync(
    exportPrivateKey(ctx, { keyId: r.privateKeyId!, role: 'user', actor: 'user:bob', format: 'pkcs8-pem', reason: 'x' })
  );
  t.is((denied as { code?: string }).code, 'CF_KEY_EXPORT_FORBIDDEN');
  const pem = await exportPrivateKey(ctx, {
    keyId: r.privateKeyId!,
    role: 'admin',
    actor: 'user:alice',
    format: 'pkcs8-pem',
    reason: 'migrate to HSM',
  });
  const original = crypto.createPrivateKey(readFixture(fx.rsa.leafKey)).export({ type: 'pkcs8', format: 'der' });
  t.true(crypto.createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' }).equals(original));
  const audit = await ctx.db.em().find(AuditEventEntity, { action: 'key.exported', targetId: r.privateKeyId! });
  t.is(audit.length, 1, 'one export, one audit record');
  t.is(audit[0]!.actor, 'user:alice');
  t.false(JSON.stringify(audit[0]).includes('PRIVATE KEY'));
});

test.serial('I1 R4 import over the REST API, then export with password re-entry', async (t) => {
  const { fx } = t.context;
  const tc = await startTestController();
  try {
    const token = await tc.adminToken();
    const b64 = (p: string): string => readFixture(p).toString('base64');
    const res = await tc.request(
      'POST',
      '/api/v1/imports',
      { file: b64(fx.ec.p12), password: PASSWORDS.p12, mode: 'managed' },
      token
    );
    t.is(res.status, 201, JSON.stringify(res.json));
    const body = res.json as { privateKeyId: string; redeployable: boolean; format: string };
    t.is(body.format, 'pkcs12');
    t.true(body.redeployable);
    const bad = await tc.request(
      'POST',
      '/api/v1/imports',
      { file: b64(fx.ec.p12), password: 'nope', mode: 'managed' },
      token
    );
    t.is(bad.status, 422);
    t.is((bad.json as { error: { code: string } }).error.code, 'CF_IMPORT_WRONG_PASSWORD');
    const wrongPw = await tc.request(
      'POST',
      `/api/v1/private-keys/${body.privateKeyId}/export`,
      { password: 'not my password', reason: 'test' },
      token
    );
    t.is(wrongPw.status, 401);
    const ok = await tc.request(
      'POST',
      `/api/v1/private-keys/${body.privateKeyId}/export`,
      { password: ADMIN_PASSWORD, reason: 'test' },
      token
    );
    t.is(ok.status, 200);
    t.regex((ok.json as { pem: string }).pem, /BEGIN PRIVATE KEY/);
  } finally {
    await tc.close();
  }
});

test.serial(
  'I1 I3 `certfleet import` CLI: JSON result, then a typed JSON error and exit code 2 for the duplicate',
  async (t) => {
    const { fx, url, home } = t.context;
    const env = { ...process.env, DATABASE_URL: url, CERTFLEET_HOME: home, CERTFLEET_LOG_LEVEL: 'silent' };
    await t.context.ctx.db.em().nativeDelete(CertificateEntity, {});
    const args = [
      'bin/certfleet.js',
      'import',
      fx.ec.leaf,
      '--key',
      fx.ec.leafKeyEncrypted,
      '--password',
      PASSWORDS.key,
      '--mode',
      'managed',
      '--name',
      'cli-import',
      '--json',
    ];
    const first = await run(process.execPath, args, { cwd: root, env });
    const out = JSON.parse(first.stdout) as { format: string; redeployable: boolean; definition: { name: string } };
    t.is(out.format, 'pem');
    t.true(out.redeployable);
    t.is(out.definition.name, 'cli-import');
    const again = await run(process.execPath, args, { cwd: root, env }).then(
      () => ({ code: 0, stdout: '' }),
      (e: { code: number; stdout: string }) => e
    );
    t.is(again.code, 2);
    t.is((JSON.parse(again.stdout) as { error: { code: string } }).error.code, 'CF_IMPORT_DUPLICATE');
  }
);
