import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { Client } from 'pg';
import pino from 'pino';
import * as tar from 'tar';
import { systemClock } from '@certfleet/shared';
import { manifestSchema, type BackupManifest } from '../../../controller/src/backup/archive-format';
import { loadOrder } from '../../../controller/src/backup/table-order';
import { loadConfig, type ControllerConfig } from '../../../controller/src/config/config';
import { openStore, type ConnectedStore } from '../../../controller/src/controller';
import { storePrivateKey } from '../../../controller/src/secrets/key-vault';
import { loadOrCreateMasterKey, type MasterKey } from '../../../controller/src/secrets/master-key';
import { verifyAuditChain } from '../../../controller/src/services/audit-service';
import { createBackup, restoreBackup, type BackupResult } from '../../../controller/src/services/backup-service';
import { bootstrap } from '../../../controller/src/services/bootstrap-service';
import type { ServiceContext } from '../../../controller/src/services/context';
import { cloneDefinition, createDefinition } from '../../../controller/src/services/definition-service';
import { addDocument, readDocument } from '../../../controller/src/services/document-service';
import { exportPrivateKey } from '../../../controller/src/services/key-service';
import {
  createProviderAccount,
  revealProviderPassword,
} from '../../../controller/src/services/provider-account-service';
import { openDatabase, type Database } from '../../../controller/src/storage/database';
import { dropDatabase, freshDatabaseUrl } from '../../_helpers/db';
import { migrationsList } from '../../../controller/src/storage/migrations';
import { PG15_BIN, startDebianPostgres, type DebianCluster } from '../../_helpers/debian-postgres';
import { assertCommands, testNeeding } from '../../_helpers/needs';

/** What the source repository holds, to compare after a restore. */
interface Fixture {
  keyId: string;
  keyPem: string;
  rsaKeyId: string;
  rsaKeyPem: string;
  definitionId: string;
  documentId: string;
  documentBytes: Buffer;
  providerAccountId: string;
  providerPassword: string;
}

interface Ctx {
  root: string;
  srcUrl: string;
  srcHome: string;
  src: ServiceContext;
  fx: Fixture;
  /** Archive without the master key, and one with it. */
  archive: string;
  archiveWithKey: string;
  backupResult: BackupResult;
  urls: string[];
}

const test = anyTest as TestFn<Ctx>;
const silent = pino({ level: 'silent' });
const ROOT_ROLE = 'admin' as const;
const repoRoot = path.resolve(__dirname, '..', '..', '..');

function ctxFor(db: Database, masterKey: MasterKey): ServiceContext {
  return { db, masterKey, clock: systemClock, log: silent };
}

function tmpDir(t: { context: Ctx }, name: string, mode = 0o700): string {
  const d = fs.mkdtempSync(path.join(t.context.root, `${name}-`));
  fs.chmodSync(d, mode);
  return d;
}

async function freshUrl(t: { context: Ctx }): Promise<string> {
  const url = await freshDatabaseUrl('cfbk');
  t.context.urls.push(url);
  return url;
}

async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Row count and an order-independent digest of every repository table (UTC, ISO dates: same text on PG 15 and 18). */
async function tableDigests(url: string): Promise<Record<string, string>> {
  return withClient(url, async (c) => {
    await c.query(
      `set timezone = 'UTC'; set datestyle = 'ISO, YMD'; set extra_float_digits = 3; set bytea_output = 'hex'`
    );
    const tables = (
      await c.query<{ t: string }>(
        `select tablename as t from pg_tables where schemaname = 'public' and tablename <> 'mikro_orm_migrations' order by 1`
      )
    ).rows.map((r) => r.t);
    const out: Record<string, string> = {};
    for (const t of tables) {
      const r = await c.query<{ n: string; d: string }>(
        `select count(*) as n, md5(coalesce(string_agg(x::text, E'\\n' order by x::text), '')) as d from "${t}" x`
      );
      out[t] = `${r.rows[0]?.n}:${r.rows[0]?.d}`;
    }
    return out;
  });
}

/** Public tables holding at least one row (the target of a failed restore must have none). */
async function tablesWithRows(url: string): Promise<string[]> {
  return withClient(url, async (c) => {
    const tables = (
      await c.query<{ t: string }>(
        `select tablename as t from pg_tables where schemaname = 'public' and tablename <> 'mikro_orm_migrations'`
      )
    ).rows.map((r) => r.t);
    const busy: string[] = [];
    for (const t of tables) if ((await c.query(`select 1 from "${t}" limit 1`)).rowCount) busy.push(t);
    return busy;
  });
}

async function publicTableCount(url: string): Promise<number> {
  return withClient(url, async (c) =>
    Number((await c.query<{ n: string }>(`select count(*) as n from pg_tables where schemaname = 'public'`)).rows[0]?.n)
  );
}

function targetConfig(home: string, url?: string): ControllerConfig {
  return loadConfig(url ? { CERTFLEET_HOME: home, DATABASE_URL: url } : { CERTFLEET_HOME: home });
}

/** Extracts an archive, lets `mutate` change the files, packs it again (manifest first, as the writer does). */
async function rewriteArchive(src: string, out: string, mutate: (dir: string) => void): Promise<void> {
  const dir = fs.mkdtempSync(path.join(path.dirname(out), 'rewrite-'));
  try {
    await tar.x({ file: src, cwd: dir });
    mutate(dir);
    const tables = fs.existsSync(path.join(dir, 'tables'))
      ? fs.readdirSync(path.join(dir, 'tables')).map((f) => `tables/${f}`)
      : [];
    const entries = [
      'manifest.json',
      ...tables,
      ...(fs.existsSync(path.join(dir, 'master.key')) ? ['master.key'] : []),
    ];
    await tar.c({ gzip: true, cwd: dir, file: out, portable: true }, entries);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function editManifest(dir: string, edit: (m: Record<string, unknown>) => void): void {
  const p = path.join(dir, 'manifest.json');
  const m = JSON.parse(fs.readFileSync(p, 'utf8')) as Record<string, unknown>;
  edit(m);
  fs.writeFileSync(p, JSON.stringify(m));
}

async function archiveEntries(file: string): Promise<string[]> {
  const names: string[] = [];
  await tar.t({ file, onReadEntry: (e) => void names.push(e.path) });
  return names;
}

async function readManifest(file: string): Promise<BackupManifest> {
  let text = '';
  await tar.t({
    file,
    onReadEntry: (e) => {
      if (e.path === 'manifest.json') e.on('data', (d: Buffer) => (text += d.toString('utf8')));
      else e.resume();
    },
  });
  return manifestSchema.parse(JSON.parse(text));
}

/** Parses a table file of the archive (COPY text format) into objects keyed by the manifest's column names. */
function parseCopyText(text: string, columns: string[]): Array<Record<string, string | null>> {
  const unescape = (f: string): string | null =>
    f === '\\N'
      ? null
      : f.replace(/\\(.)/g, (_m, c: string) => ({ n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', v: '\v' })[c] ?? c);
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((line) => Object.fromEntries(line.split('\t').map((f, i) => [columns[i] ?? `c${i}`, unescape(f)])));
}

async function readArchiveTables(
  file: string,
  tables: string[]
): Promise<Record<string, Array<Record<string, string | null>>>> {
  const manifest = await readManifest(file);
  const texts: Record<string, string> = {};
  await tar.t({
    file,
    onReadEntry: (e) => {
      const m = /^tables\/(.+)\.copy$/.exec(e.path);
      if (m && tables.includes(m[1]!)) {
        const chunks: Buffer[] = [];
        e.on('data', (d: Buffer) => chunks.push(d));
        e.on('end', () => (texts[m[1]!] = Buffer.concat(chunks).toString('utf8')));
      } else e.resume();
    },
  });
  const out: Record<string, Array<Record<string, string | null>>> = {};
  for (const t of tables) {
    const cols = manifest.tables.find((x) => x.name === t)?.columns ?? [];
    out[t] = parseCopyText(texts[t] ?? '', cols);
  }
  return out;
}

/** Fills a repository through the real services: CA + console cert + admin, definitions (one cloned), keys, a document, a vendor account. */
async function populate(ctx: ServiceContext): Promise<Fixture> {
  await bootstrap(ctx, ['backup.example.test']);
  const def = await createDefinition(
    ctx,
    {
      name: 'shop — Läden',
      subject: { commonName: 'shop.example.test', organization: 'Ex "quoted"\\ Org' },
      sans: [{ type: 'dns', value: 'shop.example.test' }],
    },
    'test'
  );
  await cloneDefinition(ctx, def.id, 'shop-clone', 'test'); // a self-referencing row (cloned_from_id)
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const em = ctx.db.em();
  const ecRec = await storePrivateKey(em, ctx.masterKey, ec, {
    algorithm: 'EC-P256',
    label: 'tab\there\nnewline',
    now: new Date(),
  });
  const rsaRec = await storePrivateKey(em, ctx.masterKey, rsa, { algorithm: 'RSA-2048', now: new Date() });
  await em.flush();
  // Every byte value, including the ones COPY text must escape (\t \n \r \\), plus random bytes.
  const documentBytes = Buffer.concat([
    Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
    crypto.randomBytes(200_000),
  ]);
  const doc = await addDocument(
    ctx,
    {
      definitionId: def.id,
      fileName: 'order\tconfirmation.pdf',
      contentType: 'application/pdf',
      content: documentBytes,
    },
    'test'
  );
  const providerPassword = 'pässwörd\twith\nnewline\\and "quotes" ✓';
  const account = await createProviderAccount(
    ctx,
    {
      name: 'Vendor A',
      vendor: 'Example CA Inc.',
      username: 'buyer',
      password: providerPassword,
      notes: 'line1\nline2',
    },
    'test'
  );
  return {
    keyId: ecRec.id,
    keyPem: ec.export({ type: 'pkcs8', format: 'pem' }).toString(),
    rsaKeyId: rsaRec.id,
    rsaKeyPem: rsa.export({ type: 'pkcs8', format: 'pem' }).toString(),
    definitionId: def.id,
    documentId: doc.id,
    documentBytes,
    providerAccountId: account.id,
    providerPassword,
  };
}

/** Opens a restored repository the way the controller does (no new master key) and checks the fixture through the services. */
/**
 * openStore, retried while a just-started embedded PostgreSQL still answers "the database system is starting up"
 * (57P03): startEmbeddedPostgres resolves on TCP connect, before the server accepts sessions.
 */
async function openStoreWhenReady(config: ControllerConfig): Promise<ConnectedStore> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await openStore(config, silent, { createMasterKey: false });
    } catch (err) {
      const starting =
        (err as { code?: string }).code === '57P03' || /starting up/.test(String((err as Error).message));
      if (!starting || attempt >= 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function assertRestoredRepository(t: ExecutionContext<Ctx>, config: ControllerConfig): Promise<void> {
  const { fx } = t.context;
  const store = await openStoreWhenReady(config);
  try {
    const ctx = ctxFor(store.db, store.masterKey);
    t.is(store.masterKey.id, t.context.src.masterKey.id, 'the restored home has the source master key');
    const pem = await exportPrivateKey(ctx, {
      keyId: fx.keyId,
      role: ROOT_ROLE,
      actor: 'test',
      format: 'pkcs8-pem',
      reason: 'R9 restore check',
    });
    t.is(pem, fx.keyPem, 'exported EC key is the original PKCS#8');
    const rsaPem = await exportPrivateKey(ctx, {
      keyId: fx.rsaKeyId,
      role: ROOT_ROLE,
      actor: 'test',
      format: 'pkcs8-pem',
      reason: 'R9 restore check',
    });
    t.is(rsaPem, fx.rsaKeyPem, 'exported RSA key is the original PKCS#8');
    const doc = await readDocument(ctx.db.em(), fx.definitionId, fx.documentId);
    t.true(doc.content.equals(fx.documentBytes), 'document bytes are identical');
    t.is(doc.record.sha256, crypto.createHash('sha256').update(fx.documentBytes).digest('hex'));
    t.is(
      await revealProviderPassword(ctx.db.em(), ctx, fx.providerAccountId),
      fx.providerPassword,
      'vendor password opens'
    );
    const chain = await verifyAuditChain(ctx.db.em());
    t.true(chain.ok, `audit chain intact: ${JSON.stringify(chain)}`);
  } finally {
    await store.close();
  }
}

test.before(async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-backup-test-'));
  fs.chmodSync(root, 0o755); // embedded PostgreSQL (as the postgres user) must reach homes made below
  t.context = { root, urls: [] } as unknown as Ctx;
  const srcHome = tmpDir(t, 'src-home');
  const srcUrl = await freshUrl(t);
  const db = await openDatabase(srcUrl);
  const { masterKey } = loadOrCreateMasterKey(path.join(srcHome, 'master.key'));
  const src = ctxFor(db, masterKey);
  const fx = await populate(src);
  Object.assign(t.context, { srcUrl, srcHome, src, fx });

  const archive = path.join(root, 'repo.cfbak');
  const progress: string[] = [];
  const backupResult = await createBackup(db, masterKey, archive, {
    onProgress: (p) => void progress.push(`${p.index}/${p.total} ${p.table} ${p.rows}`),
  });
  t.log(
    `R9 backup: ${backupResult.rows} rows in ${backupResult.tables.length} tables, ${backupResult.bytes} bytes compressed, ${backupResult.ms} ms`
  );
  t.is(progress.length, backupResult.tables.length);
  const archiveWithKey = path.join(root, 'repo-with-key.cfbak');
  await createBackup(db.url, masterKey, archiveWithKey, { includeMasterKey: true });
  Object.assign(t.context, { archive, archiveWithKey, backupResult });
});

test.after.always(async (t) => {
  await t.context.src?.db.close().catch(() => undefined);
  for (const url of t.context.urls ?? []) await dropDatabase(url).catch(() => undefined);
  if (t.context.root) fs.rmSync(t.context.root, { recursive: true, force: true });
});

test('R9 load order: parents before children, self-references ignored, cycles refused', (t) => {
  const edges = [
    { child: 'certificates', parent: 'certificate_definitions' },
    { child: 'certificates', parent: 'private_keys' },
    { child: 'certificate_definitions', parent: 'certificate_definitions' },
    { child: 'certificate_definitions', parent: 'provider_accounts' },
    { child: 'deployment_history', parent: 'certificates' },
  ];
  t.deepEqual(
    loadOrder(
      [
        'deployment_history',
        'certificates',
        'certificate_definitions',
        'private_keys',
        'provider_accounts',
        'settings',
      ],
      edges
    ),
    ['private_keys', 'provider_accounts', 'settings', 'certificate_definitions', 'certificates', 'deployment_history']
  );
  const err = t.throws(() =>
    loadOrder(
      ['a', 'b'],
      [
        { child: 'a', parent: 'b' },
        { child: 'b', parent: 'a' },
      ]
    )
  );
  t.regex(err.message, /cycle between tables a, b/);
});

test('R9 archive: gzip tar with manifest, one COPY file per table, no migrations table, no pg-boss, no key by default, mode 0600', async (t) => {
  const { archive, archiveWithKey, src } = t.context;
  t.is(fs.statSync(archive).mode & 0o777, 0o600);
  t.false(fs.existsSync(`${archive}.tmp`));
  const gz = fs.readFileSync(archive).subarray(0, 2);
  t.deepEqual([...gz], [0x1f, 0x8b], 'gzip');
  const entries = await archiveEntries(archive);
  t.is(entries[0], 'manifest.json', 'manifest first');
  t.false(entries.includes('master.key'));
  t.false(entries.some((e) => /mikro_orm_migrations|pgboss/.test(e)));
  const m = await readManifest(archive);
  t.is(m.formatVersion, 1);
  t.is(m.kek.id, src.masterKey.id);
  t.false(m.kek.included);
  t.deepEqual(
    m.migrations,
    migrationsList.map((x) => x.name),
    'the archive records every applied migration'
  );
  const names = m.tables.map((x) => x.name);
  for (const tbl of [
    'private_keys',
    'certificate_authorities',
    'documents',
    'provider_accounts',
    'certificate_definitions',
    'certificates',
    'audit_log',
    'settings',
    'users',
  ]) {
    t.true(names.includes(tbl), `${tbl} is in the archive`);
  }
  t.true(names.indexOf('private_keys') < names.indexOf('certificate_authorities'), 'parents before children');
  t.true(names.indexOf('certificate_definitions') < names.indexOf('documents'));
  t.deepEqual(entries.slice(1).sort(), m.tables.map((x) => x.file).sort());
  const digests = await tableDigests(t.context.srcUrl);
  for (const tbl of m.tables) t.is(Number(digests[tbl.name]?.split(':')[0]), tbl.rows, `row count of ${tbl.name}`);
  // The archive never holds a private key in clear: no PEM and no PKCS#8 DER of the fixture key.
  const all = (await readArchiveTables(archive, names)).private_keys ?? [];
  t.is(all.length, m.tables.find((x) => x.name === 'private_keys')?.rows ?? -1);
  const d = Buffer.from(
    crypto.createPrivateKey(t.context.fx.keyPem).export({ format: 'jwk' }).d ?? '',
    'base64url'
  ).toString('hex');
  t.is(d.length, 64);
  t.false(JSON.stringify(all).toLowerCase().includes(d), 'the private scalar is not in the archive in clear');
  t.false(JSON.stringify(all).includes('PRIVATE KEY'));
  const withKey = await archiveEntries(archiveWithKey);
  t.true(withKey.includes('master.key'));
  t.true((await readManifest(archiveWithKey)).kek.included);
});

test('R9 backup → empty home → restore --master-key → export of a key gives the original key; documents and vendor password match (R4)', async (t) => {
  const home = tmpDir(t, 'restore-a');
  const url = await freshUrl(t);
  const config = targetConfig(home, url);
  const phases: string[] = [];
  const r = await restoreBackup(config, t.context.archive, {
    masterKeyFile: path.join(t.context.srcHome, 'master.key'),
    onProgress: (p) => void phases.push(p.phase),
  });
  t.log(`R9 restore: ${r.rows} rows in ${r.tables.length} tables, ${r.ms} ms`);
  t.is(r.kekSource, 'file');
  t.true(r.masterKeyWritten);
  t.is(phases[0], 'checked');
  t.is(phases.at(-1), 'verified');
  t.is(phases.filter((p) => p === 'table').length, r.tables.length);
  const keyFile = path.join(home, 'master.key');
  t.is(fs.statSync(keyFile).mode & 0o777, 0o600);
  t.is(fs.readFileSync(keyFile, 'utf8'), fs.readFileSync(path.join(t.context.srcHome, 'master.key'), 'utf8'));
  t.deepEqual(await tableDigests(url), await tableDigests(t.context.srcUrl), 'every table identical to the source');
  await assertRestoredRepository(t, config);
});

test('R9 --include-master-key round trip: restore needs no separate key', async (t) => {
  const home = tmpDir(t, 'restore-b');
  const url = await freshUrl(t);
  const config = targetConfig(home, url);
  const r = await restoreBackup(config, t.context.archiveWithKey);
  t.is(r.kekSource, 'archive');
  t.true(r.masterKeyWritten);
  t.is(fs.statSync(path.join(home, 'master.key')).mode & 0o777, 0o600);
  t.deepEqual(await tableDigests(url), await tableDigests(t.context.srcUrl));
  await assertRestoredRepository(t, config);
});

test('R9 restore with a home that already holds the same master key uses it and does not rewrite it', async (t) => {
  const home = tmpDir(t, 'restore-home-key');
  fs.copyFileSync(path.join(t.context.srcHome, 'master.key'), path.join(home, 'master.key'));
  const url = await freshUrl(t);
  const r = await restoreBackup(targetConfig(home, url), t.context.archive);
  t.is(r.kekSource, 'home');
  t.false(r.masterKeyWritten);
  t.is((await tablesWithRows(url)).length > 0, true);
});

test('R9 R4 restore with the wrong master key → CF_KEK_MISSING naming both ids; the target stays empty', async (t) => {
  const home = tmpDir(t, 'restore-c');
  const url = await freshUrl(t);
  const wrongFile = path.join(tmpDir(t, 'wrong-key'), 'master.key');
  const wrong = loadOrCreateMasterKey(wrongFile).masterKey;
  const err = await t.throwsAsync(
    restoreBackup(targetConfig(home, url), t.context.archive, { masterKeyFile: wrongFile })
  );
  t.is((err as { code?: string }).code, 'CF_KEK_MISSING');
  t.regex(err!.message, new RegExp(wrong.id));
  t.regex(err!.message, new RegExp(t.context.src.masterKey.id));
  t.is(await publicTableCount(url), 0, 'database untouched');
  t.false(fs.existsSync(path.join(home, 'master.key')));

  // No key at all (archive without one, empty home) → CF_KEK_MISSING naming the needed id.
  const none = await t.throwsAsync(restoreBackup(targetConfig(tmpDir(t, 'restore-c2'), url), t.context.archive));
  t.is((none as { code?: string }).code, 'CF_KEK_MISSING');
  t.regex(none!.message, /--master-key/);

  // A forged manifest claiming the wrong key's id passes the id check, but the data does not open: the load is
  // verified inside its transaction and rolled back (CF_BACKUP_CORRUPT), leaving the schema but no rows.
  const forged = path.join(t.context.root, 'forged-kek.cfbak');
  await rewriteArchive(t.context.archive, forged, (dir) =>
    editManifest(dir, (m) => ((m.kek as { id: string }).id = wrong.id))
  );
  const rolled = await t.throwsAsync(restoreBackup(targetConfig(home, url), forged, { masterKeyFile: wrongFile }));
  t.is((rolled as { code?: string }).code, 'CF_BACKUP_CORRUPT');
  t.regex(rolled!.message, /do not open with master key/);
  t.true((await publicTableCount(url)) > 0, 'schema was migrated');
  t.deepEqual(await tablesWithRows(url), [], 'but no row was kept');
  t.false(fs.existsSync(path.join(home, 'master.key')), 'no master key written');
});

test('R9 restore into a non-empty target → CF_RESTORE_TARGET_NOT_EMPTY and nothing changes', async (t) => {
  const before = await tableDigests(t.context.srcUrl);
  const err = await t.throwsAsync(
    restoreBackup(targetConfig(t.context.srcHome, t.context.srcUrl), t.context.archiveWithKey)
  );
  t.is((err as { code?: string }).code, 'CF_RESTORE_TARGET_NOT_EMPTY');
  t.deepEqual(await tableDigests(t.context.srcUrl), before);

  // One row anywhere is enough to refuse.
  const url = await freshUrl(t);
  const db = await openDatabase(url);
  await db.close();
  await withClient(url, (c) => c.query(`insert into settings (key, value, updated_at) values ('x', '1', now())`));
  const err2 = await t.throwsAsync(restoreBackup(targetConfig(tmpDir(t, 'restore-d'), url), t.context.archiveWithKey));
  t.is((err2 as { code?: string }).code, 'CF_RESTORE_TARGET_NOT_EMPTY');
  t.regex(err2!.message, /settings/);
  t.deepEqual(await tablesWithRows(url), ['settings']);

  // A home holding a different master key is not an empty target either.
  const home = tmpDir(t, 'restore-d3');
  loadOrCreateMasterKey(path.join(home, 'master.key'));
  const url3 = await freshUrl(t);
  const err3 = await t.throwsAsync(restoreBackup(targetConfig(home, url3), t.context.archiveWithKey));
  t.is((err3 as { code?: string }).code, 'CF_RESTORE_TARGET_NOT_EMPTY');
  t.is(await publicTableCount(url3), 0);
});

test('R9 a damaged archive → CF_BACKUP_CORRUPT before anything is written (hash, truncation, newer schema, bad manifest)', async (t) => {
  const { root, archive, archiveWithKey } = t.context;
  const cases: Array<{ name: string; make: (out: string) => Promise<void>; message: RegExp }> = [
    {
      name: 'byte flipped inside a table file',
      make: (out) =>
        rewriteArchive(archive, out, (dir) => {
          const f = path.join(dir, 'tables', 'documents.copy');
          const b = fs.readFileSync(f);
          const i = Math.floor(b.length / 2);
          b[i] = (b[i] ?? 0) ^ 0x01;
          fs.writeFileSync(f, b);
        }),
      message: /documents\.copy does not match its SHA-256/,
    },
    {
      name: 'truncated file',
      make: async (out) =>
        fs.writeFileSync(out, fs.readFileSync(archive).subarray(0, Math.floor(fs.statSync(archive).size * 0.6))),
      message: /truncated or damaged/,
    },
    {
      name: 'truncated by 10 bytes',
      make: async (out) =>
        fs.writeFileSync(out, fs.readFileSync(archiveWithKey).subarray(0, fs.statSync(archiveWithKey).size - 10)),
      message: /truncated or damaged/,
    },
    {
      name: 'not an archive',
      make: async (out) => fs.writeFileSync(out, 'hello'),
      message: /not a readable backup archive/,
    },
    {
      name: 'table file missing',
      make: (out) => rewriteArchive(archive, out, (dir) => fs.rmSync(path.join(dir, 'tables', 'users.copy'))),
      message: /users\.copy is missing/,
    },
    {
      name: 'rows in the manifest disagree',
      make: (out) =>
        rewriteArchive(archive, out, (dir) =>
          editManifest(
            dir,
            (m) => ((m.tables as Array<{ name: string; rows: number }>).find((x) => x.name === 'users')!.rows += 1)
          )
        ),
      message: /users\.copy holds \d+ rows, the manifest says/,
    },
    {
      name: 'archive from a newer schema',
      make: (out) =>
        rewriteArchive(archive, out, (dir) =>
          editManifest(dir, (m) => (m.migrations as string[]).push('Migration20991231000000_future'))
        ),
      message: /newer database schema .*Migration20991231000000_future/,
    },
    {
      name: 'newer archive format',
      make: (out) => rewriteArchive(archive, out, (dir) => editManifest(dir, (m) => (m.formatVersion = 2))),
      message: /format version 2 is newer/,
    },
    {
      name: 'manifest schema',
      make: (out) => rewriteArchive(archive, out, (dir) => editManifest(dir, (m) => delete m.kek)),
      message: /invalid manifest\.json: kek/,
    },
    {
      name: 'master key altered',
      make: (out) =>
        rewriteArchive(archiveWithKey, out, (dir) =>
          fs.writeFileSync(path.join(dir, 'master.key'), crypto.randomBytes(32).toString('base64') + '\n')
        ),
      message: /master\.key does not match/,
    },
    {
      name: 'unexpected entry',
      make: (out) => rewriteArchive(archive, out, (dir) => fs.writeFileSync(path.join(dir, 'tables', 'evil.copy'), '')),
      message: /tables\/evil\.copy is not listed/,
    },
  ];
  const url = await freshUrl(t);
  for (const c of cases) {
    const bad = path.join(root, `bad-${crypto.randomBytes(4).toString('hex')}.cfbak`);
    await c.make(bad);
    const home = path.join(root, `never-${crypto.randomBytes(4).toString('hex')}`);
    const err = await t.throwsAsync(
      restoreBackup(targetConfig(home, url), bad, { masterKeyFile: path.join(t.context.srcHome, 'master.key') }),
      undefined,
      c.name
    );
    t.is((err as { code?: string }).code, 'CF_BACKUP_CORRUPT', `${c.name}: ${err?.message}`);
    t.regex(err!.message, c.message, c.name);
    t.false(fs.existsSync(home), `${c.name}: home not created`);
  }
  t.is(await publicTableCount(url), 0, 'the database was never touched');
});

test('R9 the backup is one consistent snapshot while another connection writes (200 definitions + audit events)', async (t) => {
  // Its own source, since this test writes while it runs.
  const url = await freshUrl(t);
  const db = await openDatabase(url);
  const home = tmpDir(t, 'consistency-src');
  const kek = loadOrCreateMasterKey(path.join(home, 'master.key')).masterKey;
  const ctx = ctxFor(db, kek);
  try {
    await bootstrap(ctx, ['consistency.example.test']);
    let written = 0;
    let stop = false;
    const writer = (async () => {
      for (let i = 0; i < 200 && !stop; i++) {
        await createDefinition(
          ctx,
          {
            name: `load-${i}`,
            subject: { commonName: `load-${i}.example.test` },
            sans: [{ type: 'dns', value: `load-${i}.example.test` }],
          },
          'writer'
        );
        written++;
      }
    })();
    while (written < 10) await new Promise((r) => setTimeout(r, 5));
    const startedAt = written;
    const out = path.join(t.context.root, 'consistency.cfbak');
    // Slow the backup down between tables (progress is awaited) so that many writes land while it runs.
    const r = await createBackup(db, kek, out, { onProgress: () => new Promise((res) => setTimeout(res, 40)) });
    const endedAt = written;
    stop = true;
    await writer;
    t.log(`writes during the backup: ${endedAt - startedAt} (of ${written})`);
    t.true(endedAt - startedAt >= 5, 'the writer was busy while the backup ran');

    const tables = await readArchiveTables(out, ['audit_log', 'settings', 'certificate_definitions']);
    const defs = tables.certificate_definitions ?? [];
    const audit = tables.audit_log ?? [];
    const created = new Set(audit.filter((a) => a.action === 'definition.created').map((a) => a.target_id));
    t.true(defs.length >= startedAt, 'definitions written before the backup are in it');
    t.true(defs.length < written, 'definitions written after the snapshot are not');
    t.deepEqual(
      new Set(defs.map((d) => d.id)),
      created,
      'each definition in the archive has exactly its audit event and vice versa'
    );
    // The audit chain in the archive runs from the genesis to the head recorded in settings.
    const head = JSON.parse(tables.settings?.find((s) => s.key === 'audit.head')?.value ?? 'null') as string;
    const byPrev = new Map(audit.map((a) => [a.prev_hash, a]));
    let prev = '0'.repeat(64);
    let n = 0;
    for (let e = byPrev.get(prev); e; e = byPrev.get(prev)) {
      prev = e.hash!;
      n++;
    }
    t.is(n, audit.length, 'every audit event is on one chain');
    t.is(prev, head, 'the chain ends at the recorded head');
    t.is(r.tables.find((x) => x.name === 'audit_log')?.rows, audit.length);

    // And it restores to a repository whose audit chain verifies.
    const tgtUrl = await freshUrl(t);
    await restoreBackup(targetConfig(tmpDir(t, 'consistency-tgt'), tgtUrl), out, {
      masterKeyFile: path.join(home, 'master.key'),
    });
    const tgt = await openDatabase(tgtUrl);
    try {
      const v = await verifyAuditChain(tgt.em());
      t.true(v.ok, JSON.stringify(v));
      t.is(v.events, audit.length);
    } finally {
      await tgt.close();
    }
  } finally {
    await db.close();
  }
});

/** How to run the CLI: `bin/certfleet.js` once main.ts has the commands, else the command factories directly. */
function cliRunner(): { argv: (args: string[]) => string[]; via: string } {
  const bin = path.join(repoRoot, 'bin', 'certfleet.js');
  const help = fs.existsSync(bin)
    ? spawnSync(process.execPath, [bin, 'restore', '--help'], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 })
    : null;
  if (help && help.status === 0 && /--master-key/.test(help.stdout))
    return { argv: (args) => [bin, ...args], via: 'bin/certfleet.js' };
  const script =
    `const [cmd, ...rest] = process.argv.slice(1);` +
    `const f = cmd === 'backup' ? require('./controller/src/cli/commands/backup').backupCommand : require('./controller/src/cli/commands/restore').restoreCommand;` +
    `f().parseAsync(rest, { from: 'user' }).catch((e) => { console.error(e); process.exitCode = 70; });`;
  return {
    argv: (args) => ['--import', 'tsx', '-e', script, ...args],
    via: 'backupCommand()/restoreCommand() (bin/certfleet.js has no backup/restore yet)',
  };
}

function runCli(
  argv: string[],
  env: NodeJS.ProcessEnv
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, argv, {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('R9 CLI end to end: certfleet backup / restore (DATABASE_URL, then an empty embedded-PostgreSQL home), errors exit 2 with JSON', async (t) => {
  const cli = cliRunner();
  t.log(`CLI via ${cli.via}`);
  const { srcHome, srcUrl, root } = t.context;
  const srcEnv = { CERTFLEET_HOME: srcHome, DATABASE_URL: srcUrl, CERTFLEET_LOG_LEVEL: 'warn' };
  const file = path.join(root, 'cli.cfbak');
  const b = await runCli(cli.argv(['backup', file, '--json']), srcEnv);
  t.is(b.code, 0, b.stderr);
  const summary = JSON.parse(b.stdout) as {
    file: string;
    tables: unknown[];
    masterKeyIncluded: boolean;
    kekId: string;
  };
  t.is(summary.file, file);
  t.false(summary.masterKeyIncluded);
  t.regex(b.stderr, /backup: \[1\/\d+\] /, 'progress on stderr');
  t.is(fs.statSync(file).mode & 0o777, 0o600);

  const again = await runCli(cli.argv(['backup', file, '--json']), srcEnv);
  t.is(again.code, 2);
  t.is(
    (JSON.parse(again.stdout) as { error: { code: string } }).error.code,
    'CF_VALIDATION',
    'an existing file is not overwritten'
  );

  const withKey = path.join(root, 'cli-key.cfbak');
  const bk = await runCli(cli.argv(['backup', withKey, '--include-master-key']), srcEnv);
  t.is(bk.code, 0, bk.stderr);
  t.regex(bk.stderr, /WARNING: --include-master-key/);
  t.regex(bk.stdout, /INCLUDED/);

  // Restore into an external empty database with --master-key.
  const tgtUrl = await freshUrl(t);
  const tgtHome = tmpDir(t, 'cli-tgt');
  const r = await runCli(cli.argv(['restore', file, '--master-key', path.join(srcHome, 'master.key'), '--json']), {
    CERTFLEET_HOME: tgtHome,
    DATABASE_URL: tgtUrl,
  });
  t.is(r.code, 0, r.stderr);
  t.is((JSON.parse(r.stdout) as { kekSource: string }).kekSource, 'file');
  t.regex(r.stderr, /restore: verified: 4 private keys and 1 other sealed values/);
  t.deepEqual(await tableDigests(tgtUrl), await tableDigests(srcUrl));

  // Again into the same (now full) target: refused, exit 2, JSON error; plain form on stderr.
  const full = await runCli(cli.argv(['restore', file, '--master-key', path.join(srcHome, 'master.key'), '--json']), {
    CERTFLEET_HOME: tgtHome,
    DATABASE_URL: tgtUrl,
  });
  t.is(full.code, 2);
  t.is((JSON.parse(full.stdout) as { error: { code: string } }).error.code, 'CF_RESTORE_TARGET_NOT_EMPTY');
  const plain = await runCli(cli.argv(['restore', file]), {
    CERTFLEET_HOME: tmpDir(t, 'cli-nokey'),
    DATABASE_URL: await freshUrl(t),
  });
  t.is(plain.code, 2);
  t.regex(plain.stderr, /certfleet restore: CF_KEK_MISSING: /);

  // The real first-use case: a brand-new CERTFLEET_HOME with the embedded PostgreSQL and no master.key yet.
  const emptyHome = tmpDir(t, 'cli-embedded', 0o755);
  const t0 = Date.now();
  const e = await runCli(cli.argv(['restore', withKey]), { CERTFLEET_HOME: emptyHome });
  t.is(e.code, 0, e.stderr);
  t.log(`restore into a new embedded-PostgreSQL home (initdb included): ${Date.now() - t0} ms`);
  t.regex(e.stdout, /master key [0-9a-f]{16} from archive, written to/);
  t.is(fs.statSync(path.join(emptyHome, 'master.key')).mode & 0o777, 0o600);
  await assertRestoredRepository(t, targetConfig(emptyHome));
});

const test15 = testNeeding<Ctx>(['runuser', `${PG15_BIN}/initdb`, `${PG15_BIN}/pg_ctl`]);
let cluster: DebianCluster | undefined;
test.after.always(() => cluster?.stop());

test15(
  'R9 X1 cross-version: an archive from the embedded PostgreSQL 18 restores into Debian PostgreSQL 15, and back',
  async (t) => {
    assertCommands(['runuser', `${PG15_BIN}/initdb`, `${PG15_BIN}/pg_ctl`]);
    cluster = await startDebianPostgres();
    const { archive, srcUrl, srcHome, root } = t.context;
    const m = await readManifest(archive);
    t.log(`source PostgreSQL ${m.postgresVersion}`);
    const url15 = cluster.url.replace(/\/postgres$/, '/cfrestore');
    await withClient(cluster.url, (c) => c.query('create database cfrestore'));
    const v15 = await withClient(
      url15,
      async (c) => (await c.query<{ v: string }>(`select current_setting('server_version') as v`)).rows[0]?.v ?? ''
    );
    t.regex(v15, /^15\./);
    const home15 = tmpDir(t, 'pg15');
    const config15 = targetConfig(home15, url15);
    const r = await restoreBackup(config15, archive, { masterKeyFile: path.join(srcHome, 'master.key') });
    t.log(`restore PG ${m.postgresVersion} → PG ${v15}: ${r.rows} rows, ${r.ms} ms`);
    t.deepEqual(await tableDigests(url15), await tableDigests(srcUrl), 'identical on PostgreSQL 15');
    await assertRestoredRepository(t, config15);

    // And back: a backup taken on PG 15 restores into the embedded PG 18.
    const store15 = await openStore(config15, silent, { createMasterKey: false });
    const back = path.join(root, 'from-pg15.cfbak');
    try {
      await createBackup(store15.db, store15.masterKey, back);
    } finally {
      await store15.close();
    }
    t.regex((await readManifest(back)).postgresVersion, /^15\./);
    const url18 = await freshUrl(t);
    await restoreBackup(targetConfig(tmpDir(t, 'pg18-again'), url18), back, {
      masterKeyFile: path.join(home15, 'master.key'),
    });
    t.deepEqual(await tableDigests(url18), await tableDigests(url15), 'PG 15 → PG 18 identical');
  }
);
