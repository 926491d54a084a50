import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Client } from 'pg';
import { generateKeyPair, systemClock } from '@certfleet/shared';
import { loadConfig } from '../../../controller/src/config/config';
import { openStore, startController, type ConnectedStore } from '../../../controller/src/controller';
import { createRootCa, issueServerCertificate, loadCa } from '../../../controller/src/issuers/internal-ca';
import { openPrivateKey } from '../../../controller/src/secrets/key-vault';
import type { ServiceContext } from '../../../controller/src/services/context';
import { importCertificate } from '../../../controller/src/services/import-service';
import { exportPrivateKey } from '../../../controller/src/services/key-service';
import { startDebianPostgres, PG15_BIN, type DebianCluster } from '../../_helpers/debian-postgres';
import { assertCommands, testNeeding } from '../../_helpers/needs';

const test = testNeeding<{
  cluster: DebianCluster;
  store: ConnectedStore;
  ctx: ServiceContext;
  home: string;
  keys: Array<{ id: string; d: string }>;
}>(['pg_dump', `${PG15_BIN}/pg_ctl`]);
const KEYS = Number(process.env.CERTFLEET_SECRETS_TEST_KEYS ?? 1000);

test.before(async (t) => {
  assertCommands(['pg_dump', `${PG15_BIN}/pg_ctl`]);
  const cluster = await startDebianPostgres();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-secrets-'));
  const config = loadConfig({
    CERTFLEET_HOME: home,
    DATABASE_URL: cluster.url.replace(/\/postgres$/, '/postgres'),
    CERTFLEET_LOG_LEVEL: 'silent',
  });
  const log = pino({ level: 'silent' });
  const store = await openStore(config, log);
  const ctx: ServiceContext = { db: store.db, masterKey: store.masterKey, clock: systemClock, log };
  t.context = { cluster, store, ctx, home, keys: [] };

  // R4/I1: import KEYS certificates with their keys through the real import path (PEM cert + PKCS#8 key).
  const root = await createRootCa({ now: new Date() });
  const ca = await loadCa(root);
  const t0 = Date.now();
  let issueMs = 0;
  for (let i = 0; i < KEYS; i++) {
    const ti = Date.now();
    const pair = await generateKeyPair('EC-P256');
    const leaf = await issueServerCertificate({
      ca,
      subjectPublicKeyPem: pair.publicKeyPem,
      subject: { commonName: `h${i}.secrets.test` },
      sans: [{ type: 'dns', value: `h${i}.secrets.test` }],
      now: new Date(),
      validityDays: 90,
    });
    issueMs += Date.now() - ti;
    const r = await importCertificate(
      ctx,
      { file: Buffer.from(leaf.certificatePem + root.certificatePem), key: Buffer.from(pair.privateKeyPem) },
      { mode: 'managed' },
      'test'
    );
    const jwk = crypto.createPrivateKey(pair.privateKeyPem).export({ format: 'jwk' });
    t.context.keys.push({ id: r.privateKeyId!, d: Buffer.from(jwk.d!, 'base64url').toString('hex') });
  }
  const importMs = Date.now() - t0 - issueMs;
  t.log(
    `imported ${KEYS} certificates with keys in ${importMs} ms (${((KEYS * 1000) / importMs).toFixed(0)} imports/s, excluding fixture issuance ${issueMs} ms)`
  );
});

test.after.always((t) => {
  return (async () => {
    await t.context.store?.close();
    t.context.cluster?.stop();
    if (t.context.home) fs.rmSync(t.context.home, { recursive: true, force: true });
  })();
});

test('R4 a pg_dump of the repository holds no private key in any readable form', (t) => {
  const dump = execFileSync('pg_dump', ['--no-owner', '--data-only', t.context.cluster.url], {
    maxBuffer: 1024 * 1024 * 1024,
  })
    .toString('latin1')
    .toLowerCase();
  t.true(dump.includes('private_keys'), 'the dump covers the private_keys table');
  t.false(dump.includes('private key'), 'no PEM "PRIVATE KEY" text');
  // PKCS#8 EC P-256 and SEC1 DER prefixes, as they would appear hex-encoded in a bytea dump or in base64 PEM.
  const prefixes = [
    '308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420', // PKCS#8 P-256, hex (bytea)
    '30770201010420', // SEC1 P-256, hex
    'mighageambmgbyqgsm49agegccqgsm49aweh', // PKCS#8 P-256, base64 (lower-cased like the dump)
    'mhccaqeei', // SEC1 P-256, base64
  ];
  for (const prefix of prefixes) {
    t.false(dump.includes(prefix), `no key DER prefix ${prefix}`);
  }
  let hits = 0;
  for (const k of t.context.keys) if (dump.includes(k.d)) hits++;
  t.is(hits, 0, `none of the ${t.context.keys.length} private scalars (canary bytes) appears in the dump`);
  t.true(t.context.keys.length >= Math.min(KEYS, 1000));
});

test("R4 swapping two rows' encrypted key columns gives an integrity error, not a key", async (t) => {
  const [a, b] = t.context.keys;
  const c = new Client({ connectionString: t.context.cluster.url });
  await c.connect();
  try {
    await c.query(
      `update private_keys set sealed = case id when $1::uuid then (select sealed from private_keys where id = $2::uuid) else (select sealed from private_keys where id = $1::uuid) end where id in ($1::uuid, $2::uuid)`,
      [a!.id, b!.id]
    );
  } finally {
    await c.end();
  }
  const err = await t.throwsAsync(openPrivateKey(t.context.ctx.db.em(), t.context.ctx.masterKey, a!.id));
  t.is((err as { code?: string }).code, 'CF_CRYPTO_INTEGRITY');
  const exportErr = await t.throwsAsync(
    exportPrivateKey(t.context.ctx, { keyId: b!.id, role: 'admin', actor: 'test', format: 'pkcs8-pem', reason: 'test' })
  );
  t.is((exportErr as { code?: string }).code, 'CF_CRYPTO_INTEGRITY');
  // An untouched key still opens and matches its scalar.
  const k = t.context.keys[2]!;
  const key = await openPrivateKey(t.context.ctx.db.em(), t.context.ctx.masterKey, k.id);
  t.is(Buffer.from(key.export({ format: 'jwk' }).d!, 'base64url').toString('hex'), k.d);
});

test('X1 the controller starts on Debian PostgreSQL 15 through DATABASE_URL and answers /healthz over HTTPS', async (t) => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-pg15-home-'));
  const url = t.context.cluster.url.replace(/\/postgres$/, '/certfleet_pg15');
  const admin = new Client({ connectionString: t.context.cluster.url });
  await admin.connect();
  await admin.query('create database certfleet_pg15');
  await admin.end();
  const controller = await startController(
    loadConfig({
      CERTFLEET_HOME: home,
      DATABASE_URL: url,
      CERTFLEET_HTTPS_PORT: '0',
      CERTFLEET_HTTPS_HOST: '127.0.0.1',
      CERTFLEET_AGENT_PORT: '0',
      CERTFLEET_AGENT_HOST: '127.0.0.1',
    }),
    { log: pino({ level: 'silent' }) }
  );
  try {
    const status = await new Promise<number>((resolve, reject) => {
      https
        .get(`${controller.url}/healthz`, { ca: controller.caCertificatePem, servername: 'localhost' }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject);
    });
    t.is(status, 200);
    t.truthy(controller.initialAdmin, 'first start on an empty external database creates the admin');
  } finally {
    await controller.stop();
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('X1 DATABASE_URL selects an external PostgreSQL (Debian 15): migrations applied, data readable', async (t) => {
  const c = new Client({ connectionString: t.context.cluster.url });
  await c.connect();
  try {
    const v = await c.query<{ server_version: string }>('show server_version');
    t.regex(v.rows[0]!.server_version, /^15\./);
    const m = await c.query('select name from mikro_orm_migrations');
    t.true(m.rowCount! >= 1);
    const n = await c.query<{ n: string }>('select count(*) as n from certificates');
    t.is(Number(n.rows[0]!.n), t.context.keys.length);
  } finally {
    await c.end();
  }
});
