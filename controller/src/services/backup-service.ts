import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Client, type ClientBase } from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import pino, { type Logger } from 'pino';
import * as tar from 'tar';
import { CertFleetError, atomicWriteFileSync, isCertFleetError, systemClock, type Clock } from '@certfleet/shared';
import {
  BACKUP_FORMAT,
  BACKUP_FORMAT_VERSION,
  COPY_SESSION_SETTINGS,
  MANIFEST_FILE,
  MASTER_KEY_FILE,
  MAX_MANIFEST_BYTES,
  MIGRATIONS_TABLE,
  TABLES_DIR,
  manifestHeaderSchema,
  manifestSchema,
  tableFileName,
  type BackupManifest,
  type ManifestTable,
} from '../backup/archive-format';
import { listForeignKeys, listTables, loadOrder, type TableInfo } from '../backup/table-order';
import type { ControllerConfig } from '../config/config';
import { ensureHome, homeLayout } from '../config/home';
import { connectDatabase } from '../controller';
import { unseal, type SealContext } from '../secrets/envelope';
import { SEALED_COLUMNS } from '../secrets/sealed-columns';
import { masterKeyFromBytes, readMasterKey, type MasterKey } from '../secrets/master-key';
import { openDatabase, type Database } from '../storage/database';
import { migrationsList } from '../storage/migrations';
import { VERSION } from '../version';

/*
 * Backup and restore (SPEC R9, manual §4.8). The archive format is described in backup/archive-format.ts.
 *
 * Backup: one REPEATABLE READ READ ONLY transaction on one connection gives one consistent snapshot of every table;
 * each table is streamed with COPY … TO STDOUT (text format, portable across PostgreSQL majors) into a private
 * staging directory, then packed into `FILE.tmp` (gzip'd tar, mode 0600) and renamed to FILE.
 *
 * Restore: the archive is extracted into a private staging directory and checked completely (manifest schema, every
 * file's size, SHA-256 and row count, migrations known to this build, master key id) before the target database is
 * touched. The target must be empty. All tables are loaded with COPY … FROM STDIN in one transaction, parents before
 * children, and checked (row counts, every sealed value opens with the KEK) before COMMIT; any failure rolls back, so
 * the target stays empty. The master key is written to the target home only after the data is in.
 */

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;
const silentLogger = (): Logger => pino({ level: 'silent' });

/** Progress of {@link createBackup}: one event per table, after it is written. */
export interface BackupProgress {
  phase: 'table';
  table: string;
  /** 1-based position of the table. */
  index: number;
  total: number;
  rows: number;
  /** Bytes of COPY text written for this table (before compression). */
  bytes: number;
}

export interface CreateBackupOptions {
  /**
   * Put the master key (KEK) into the archive. The archive alone then decrypts every stored private key; without it,
   * a restore needs the `master.key` file as well. @default false
   */
  includeMasterKey?: boolean;
  /** Called after each table; awaited, so it may apply back-pressure. */
  onProgress?: (p: BackupProgress) => void | Promise<void>;
  /** Replace an existing FILE. @default false (an existing FILE is refused with CF_VALIDATION) */
  overwrite?: boolean;
  /** Where the uncompressed tables are staged (a private 0700 directory is made inside). @default os.tmpdir() */
  workDir?: string;
  log?: Logger;
  clock?: Clock;
}

export interface BackupTableSummary {
  name: string;
  rows: number;
  bytes: number;
}

export interface BackupResult {
  file: string;
  /** Size of the compressed archive. */
  bytes: number;
  createdAt: string;
  kekId: string;
  masterKeyIncluded: boolean;
  migrations: string[];
  tables: BackupTableSummary[];
  rows: number;
  /** Sealed values that did not open with the KEK (damaged before the backup); normally empty. */
  warnings: string[];
  ms: number;
}

/** Counts bytes and rows (newlines: COPY text escapes newlines inside values) and hashes what passes through. */
class CopyMeter extends Transform {
  readonly hash = crypto.createHash('sha256');
  bytes = 0;
  newlines = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) this.newlines++;
    done(null, chunk);
  }
}

async function connectClient(client: Client, origin: string): Promise<void> {
  try {
    await client.connect();
  } catch (err) {
    throw new CertFleetError(
      'CF_DB_UNAVAILABLE',
      `${origin}: cannot connect to the database: ${(err as Error).message}`,
      {
        cause: err,
        retryable: true,
      }
    );
  }
}

async function applySessionSettings(client: ClientBase): Promise<void> {
  for (const [name, value] of COPY_SESSION_SETTINGS)
    await client.query('select set_config($1, $2, false)', [name, value]);
}

function fsyncPath(p: string): void {
  const fd = fs.openSync(p, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function makeStagingDir(workDir: string | undefined, prefix: string): string {
  const base = workDir ?? os.tmpdir();
  const dir = fs.mkdtempSync(path.join(base, prefix)); // mkdtemp creates mode 0700
  fs.chmodSync(dir, 0o700);
  return dir;
}

/**
 * Opens every sealed value of the known sealed columns with `kek`, inside the caller's transaction (so it sees that
 * transaction's snapshot or uncommitted load). Returns one line per value that does not open, never the value itself;
 * stops at the first value sealed under another KEK (code CF_KEK_MISSING in the line), since the rest would fail too.
 */
async function checkSealedValues(
  client: ClientBase,
  kek: MasterKey,
  tables: ReadonlySet<string>
): Promise<{ checked: number; privateKeys: number; problems: string[]; wrongKek: string | null }> {
  const problems: string[] = [];
  let checked = 0;
  let privateKeys = 0;
  for (const sc of Object.values(SEALED_COLUMNS)) {
    if (!tables.has(sc.table)) continue;
    const { rows } = await client.query<{ id: string; value: Buffer | null }>(
      `select id::text as id, ${quoteIdent(sc.column)} as value from public.${quoteIdent(sc.table)} where ${quoteIdent(sc.column)} is not null order by id`
    );
    for (const row of rows) {
      if (!row.value) continue;
      const ctx: SealContext = { table: sc.table, column: sc.column, rowId: row.id };
      let plain: Buffer | undefined;
      try {
        plain = unseal(kek, ctx, row.value);
        if (sc.isPrivateKey) {
          crypto.createPrivateKey({ key: plain, format: 'der', type: 'pkcs8' });
          privateKeys++;
        }
        checked++;
      } catch (err) {
        const code = isCertFleetError(err) ? err.code : 'CF_CRYPTO_INTEGRITY';
        problems.push(
          `${sc.table}.${sc.column} of row ${row.id}: ${code}: ${isCertFleetError(err) ? err.message : 'not a PKCS#8 private key'}`
        );
        if (code === 'CF_KEK_MISSING') {
          // The master key is wrong for this database; checking more rows tells nothing new.
          return { checked, privateKeys, problems, wrongKek: problems.at(-1) ?? null };
        }
      } finally {
        plain?.fill(0);
      }
    }
  }
  return { checked, privateKeys, problems, wrongKek: null };
}

/**
 * Writes a consistent backup archive of the repository (SPEC R9) to `outFile`: every table of the `public` schema
 * except MikroORM's migrations table (whose applied names go into the manifest instead), from one snapshot, plus the
 * master key when `includeMasterKey`. pg-boss's queue schema is not included (transient state).
 *
 * The archive appears atomically (written to `outFile.tmp`, fsynced, renamed) with mode 0600.
 * Throws CF_VALIDATION when `outFile` exists (unless `overwrite`) or its folder does not; CF_KEK_MISSING when the
 * database's sealed values were written under another master key than `masterKey`.
 */
export async function createBackup(
  source: Database | string,
  masterKey: MasterKey,
  outFile: string,
  options: CreateBackupOptions = {}
): Promise<BackupResult> {
  const t0 = Date.now();
  const log = options.log ?? silentLogger();
  const clock = options.clock ?? systemClock;
  const url = typeof source === 'string' ? source : source.url;
  const file = path.resolve(outFile);
  const tmpFile = `${file}.tmp`;
  if (!fs.existsSync(path.dirname(file)) || !fs.statSync(path.dirname(file)).isDirectory()) {
    throw new CertFleetError('CF_VALIDATION', `backup: folder ${path.dirname(file)} does not exist`);
  }
  if (fs.existsSync(file) && !options.overwrite) {
    throw new CertFleetError('CF_VALIDATION', `backup: ${file} already exists; choose another file name`);
  }
  if (options.includeMasterKey) {
    log.warn(
      { file },
      'backup: the archive will contain the master key; the archive alone decrypts every stored private key'
    );
  }

  const staging = makeStagingDir(options.workDir, 'certfleet-backup-');
  const client = new Client({ connectionString: url });
  let connected = false;
  let renamed = false;
  try {
    fs.mkdirSync(path.join(staging, TABLES_DIR), { mode: 0o700 });
    await connectClient(client, 'backup');
    connected = true;
    await applySessionSettings(client);
    await client.query(
      `select set_config('statement_timeout', '0', false), set_config('idle_in_transaction_session_timeout', '0', false)`
    );
    await client.query('begin isolation level repeatable read read only');
    // The first statement takes the snapshot every later COPY reads.
    const createdAt = clock.now().toISOString();
    const pgVersion =
      (await client.query<{ v: string }>(`select current_setting('server_version') as v`)).rows[0]?.v ?? 'unknown';
    const hasMigrations = (
      await client.query<{ t: string | null }>(`select to_regclass($1)::text as t`, [`public.${MIGRATIONS_TABLE}`])
    ).rows[0]?.t;
    if (!hasMigrations) {
      throw new CertFleetError('CF_VALIDATION', 'backup: the database has no CertFleet schema (no migrations applied)');
    }
    const migrations = (
      await client.query<{ name: string }>(`select name from ${quoteIdent(MIGRATIONS_TABLE)} order by id`)
    ).rows.map((r) => r.name);
    const tables = await listTables(client);
    for (const t of tables) {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(t.name) || t.columns.some((c) => !/^[a-z_][a-z0-9_]{0,62}$/.test(c))) {
        throw new CertFleetError(
          'CF_INTERNAL',
          `backup: table ${JSON.stringify(t.name)} has a name the archive format cannot hold`
        );
      }
    }
    const byName = new Map(tables.map((t) => [t.name, t]));
    const order = loadOrder([...byName.keys()], await listForeignKeys(client));

    const sealed = await checkSealedValues(client, masterKey, new Set(byName.keys()));
    const kekMismatch = sealed.wrongKek;
    if (kekMismatch) {
      throw new CertFleetError(
        'CF_KEK_MISSING',
        `backup: the database was sealed under another master key than ${masterKey.id} (${kekMismatch})`
      );
    }
    for (const p of sealed.problems)
      log.warn({ problem: p }, 'backup: a sealed value does not open with the master key');

    const manifestTables: ManifestTable[] = [];
    for (const [i, name] of order.entries()) {
      const info = byName.get(name) as TableInfo;
      const rel = tableFileName(name);
      const meter = new CopyMeter();
      const cols = info.columns.map(quoteIdent).join(', ');
      const copy = client.query(copyTo(`COPY (SELECT ${cols} FROM public.${quoteIdent(name)}) TO STDOUT`));
      await pipeline(copy, meter, fs.createWriteStream(path.join(staging, rel), { mode: 0o600 }));
      const rows = copy.rowCount;
      if (rows !== meter.newlines) {
        throw new CertFleetError(
          'CF_INTERNAL',
          `backup: table ${name}: COPY reported ${rows} rows but wrote ${meter.newlines} lines`
        );
      }
      manifestTables.push({
        name,
        file: rel,
        columns: info.columns,
        rows,
        bytes: meter.bytes,
        sha256: meter.hash.digest('hex'),
      });
      await options.onProgress?.({
        phase: 'table',
        table: name,
        index: i + 1,
        total: order.length,
        rows,
        bytes: meter.bytes,
      });
    }
    await client.query('commit');

    let keySha256: string | undefined;
    if (options.includeMasterKey) {
      const text = Buffer.from(masterKey.key.toString('base64') + '\n', 'utf8');
      try {
        fs.writeFileSync(path.join(staging, MASTER_KEY_FILE), text, { mode: 0o600 });
        keySha256 = crypto.createHash('sha256').update(text).digest('hex');
      } finally {
        text.fill(0);
      }
    }
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      formatVersion: BACKUP_FORMAT_VERSION,
      createdAt,
      certfleetVersion: VERSION,
      postgresVersion: pgVersion,
      migrations,
      copy: { format: 'text', encoding: 'UTF8' },
      kek: {
        id: masterKey.id,
        included: Boolean(options.includeMasterKey),
        ...(keySha256 ? { sha256: keySha256 } : {}),
      },
      tables: manifestTables,
    };
    manifestSchema.parse(manifest); // our own output must pass the reader's check
    fs.writeFileSync(path.join(staging, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });

    const entries = [
      MANIFEST_FILE,
      ...manifestTables.map((t) => t.file),
      ...(options.includeMasterKey ? [MASTER_KEY_FILE] : []),
    ];
    fs.rmSync(tmpFile, { force: true });
    await pipeline(
      tar.c({ gzip: true, cwd: staging, portable: true }, entries),
      fs.createWriteStream(tmpFile, { mode: 0o600, flags: 'wx' })
    );
    fs.chmodSync(tmpFile, 0o600);
    fsyncPath(tmpFile);
    fs.renameSync(tmpFile, file);
    renamed = true;
    fsyncPath(path.dirname(file));

    const result: BackupResult = {
      file,
      bytes: fs.statSync(file).size,
      createdAt,
      kekId: masterKey.id,
      masterKeyIncluded: Boolean(options.includeMasterKey),
      migrations,
      tables: manifestTables.map((t) => ({ name: t.name, rows: t.rows, bytes: t.bytes })),
      rows: manifestTables.reduce((n, t) => n + t.rows, 0),
      warnings: sealed.problems,
      ms: Date.now() - t0,
    };
    log.info(
      {
        file,
        bytes: result.bytes,
        tables: result.tables.length,
        rows: result.rows,
        ms: result.ms,
        kekId: masterKey.id,
        masterKeyIncluded: result.masterKeyIncluded,
      },
      'backup written'
    );
    return result;
  } catch (err) {
    if (connected) await client.query('rollback').catch(() => undefined);
    if (!renamed) fs.rmSync(tmpFile, { force: true });
    throw err;
  } finally {
    if (connected) await client.end().catch(() => undefined);
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

/** An archive checked by {@link readBackupArchive}: its manifest and where its files were extracted. */
export interface CheckedArchive {
  manifest: BackupManifest;
  /** The master key carried by the archive, when it has one (already checked against the manifest's KEK id). */
  masterKey: MasterKey | null;
  /** Extracted files (private staging directory); `tables/<name>.copy` inside. */
  dir: string;
}

function corrupt(archive: string, what: string, cause?: unknown): CertFleetError {
  return new CertFleetError(
    'CF_BACKUP_CORRUPT',
    `restore: ${path.basename(archive)}: ${what}`,
    cause === undefined ? {} : { cause }
  );
}

async function hashFile(file: string): Promise<{ sha256: string; bytes: number; newlines: number }> {
  const meter = new CopyMeter();
  const discard = new Writable({ write: (_chunk: Buffer, _enc: BufferEncoding, done: () => void) => done() });
  await pipeline(fs.createReadStream(file), meter, discard);
  return { sha256: meter.hash.digest('hex'), bytes: meter.bytes, newlines: meter.newlines };
}

/**
 * Extracts `archiveFile` into `dir` and checks it completely: gzip/tar integrity, only the expected entries, the
 * manifest schema and format version, every table file's size, SHA-256 and row count, and the included master key.
 * Touches no database. Throws CF_BACKUP_CORRUPT naming the first problem.
 */
export async function readBackupArchive(archiveFile: string, dir: string): Promise<CheckedArchive> {
  const archive = path.resolve(archiveFile);
  let st: fs.Stats;
  try {
    st = fs.statSync(archive);
  } catch {
    throw new CertFleetError('CF_VALIDATION', `restore: cannot read ${archive}`);
  }
  if (!st.isFile()) throw new CertFleetError('CF_VALIDATION', `restore: ${archive} is not a file`);

  const seen = new Set<string>();
  const problems: string[] = [];
  const tableFile = /^tables\/([a-z_][a-z0-9_]{0,62})\.copy$/;
  try {
    await tar.x({
      file: archive,
      cwd: dir,
      strict: true,
      preservePaths: false,
      preserveOwner: false,
      noMtime: true,
      filter: (p, entry) => {
        const name = p.replace(/^\.\//, '');
        const type = 'type' in entry ? entry.type : entry.isDirectory() ? 'Directory' : 'File';
        if (type === 'Directory' && (name === TABLES_DIR || name === `${TABLES_DIR}/`)) return true;
        const isFile = type === 'File' || type === 'OldFile' || type === 'ContiguousFile';
        if (!isFile || !(name === MANIFEST_FILE || name === MASTER_KEY_FILE || tableFile.test(name))) {
          problems.push(`unexpected entry ${JSON.stringify(name)} (${type})`);
          return false;
        }
        if (seen.has(name)) {
          problems.push(`entry ${name} appears twice`);
          return false;
        }
        seen.add(name);
        return true;
      },
    });
  } catch (err) {
    throw corrupt(archive, `not a readable backup archive (truncated or damaged): ${(err as Error).message}`, err);
  }
  if (problems.length) throw corrupt(archive, problems.join('; '));
  if (!seen.has(MANIFEST_FILE)) throw corrupt(archive, `${MANIFEST_FILE} is missing (not a CertFleet backup?)`);

  const manifestPath = path.join(dir, MANIFEST_FILE);
  if (fs.statSync(manifestPath).size > MAX_MANIFEST_BYTES)
    throw corrupt(archive, `${MANIFEST_FILE} is larger than ${MAX_MANIFEST_BYTES} bytes`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  } catch (err) {
    throw corrupt(archive, `${MANIFEST_FILE} is not JSON`, err);
  }
  const header = manifestHeaderSchema.safeParse(raw);
  if (!header.success) throw corrupt(archive, `${MANIFEST_FILE} is not a CertFleet backup manifest`);
  if (header.data.formatVersion > BACKUP_FORMAT_VERSION) {
    throw corrupt(
      archive,
      `archive format version ${header.data.formatVersion} is newer than this CertFleet ${VERSION} reads (${BACKUP_FORMAT_VERSION}); restore with a newer CertFleet`
    );
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(manifest)'}: ${i.message}`);
    throw corrupt(archive, `invalid ${MANIFEST_FILE}: ${issues.slice(0, 5).join('; ')}`);
  }
  const manifest = parsed.data;

  const listed = new Set(manifest.tables.map((t) => t.file));
  for (const name of seen) {
    if (tableFile.test(name) && !listed.has(name)) throw corrupt(archive, `${name} is not listed in the manifest`);
  }
  for (const t of manifest.tables) {
    if (!seen.has(t.file)) throw corrupt(archive, `${t.file} is missing`);
    const h = await hashFile(path.join(dir, t.file));
    if (h.bytes !== t.bytes) throw corrupt(archive, `${t.file} has ${h.bytes} bytes, the manifest says ${t.bytes}`);
    if (h.sha256 !== t.sha256) throw corrupt(archive, `${t.file} does not match its SHA-256 in the manifest (damaged)`);
    if (h.newlines !== t.rows)
      throw corrupt(archive, `${t.file} holds ${h.newlines} rows, the manifest says ${t.rows}`);
  }

  let masterKey: MasterKey | null = null;
  if (manifest.kek.included !== seen.has(MASTER_KEY_FILE)) {
    throw corrupt(
      archive,
      manifest.kek.included
        ? `${MASTER_KEY_FILE} is missing`
        : `${MASTER_KEY_FILE} is present but not declared in the manifest`
    );
  }
  if (manifest.kek.included) {
    const keyPath = path.join(dir, MASTER_KEY_FILE);
    const text = fs.readFileSync(keyPath);
    try {
      if (crypto.createHash('sha256').update(text).digest('hex') !== manifest.kek.sha256)
        throw corrupt(archive, `${MASTER_KEY_FILE} does not match its SHA-256 in the manifest`);
      try {
        masterKey = masterKeyFromBytes(Buffer.from(text.toString('utf8').trim(), 'base64'));
      } catch (err) {
        throw corrupt(archive, `${MASTER_KEY_FILE} is not a master key`, err);
      }
    } finally {
      text.fill(0);
      fs.rmSync(keyPath, { force: true });
    }
    if (masterKey.id !== manifest.kek.id)
      throw corrupt(archive, `${MASTER_KEY_FILE} has id ${masterKey.id}, the manifest says ${manifest.kek.id}`);
  }
  return { manifest, masterKey, dir };
}

/**
 * Checks the archive's migrations against this build: they must be the first N migrations this build knows, in
 * order. An archive from a newer schema (a migration this build does not have) is refused with CF_BACKUP_CORRUPT.
 */
export function checkArchiveMigrations(
  archive: string,
  manifest: BackupManifest,
  known: readonly string[] = migrationsList.map((m) => m.name)
): void {
  const unknown = manifest.migrations.filter((m) => !known.includes(m));
  if (unknown.length) {
    throw corrupt(
      archive,
      `the archive comes from a newer database schema than this CertFleet ${VERSION} knows (unknown migration(s) ${unknown.join(', ')}; ` +
        `written by CertFleet ${manifest.certfleetVersion}); restore it with CertFleet ${manifest.certfleetVersion} or later`
    );
  }
  manifest.migrations.forEach((m, i) => {
    if (known[i] !== m)
      throw corrupt(archive, `the archive's migrations are out of order at ${m} (expected ${known[i] ?? 'none'})`);
  });
}

/** Progress of {@link restoreBackup}. */
export type RestoreProgress =
  | { phase: 'checked'; tables: number; rows: number; kekId: string; kekSource: KekSource }
  | { phase: 'table'; table: string; index: number; total: number; rows: number; bytes: number }
  | { phase: 'verified'; sealedValues: number; privateKeys: number };

/** Where the restore took the master key from. */
export type KekSource = 'archive' | 'file' | 'home';

export interface RestoreOptions {
  /** A `master.key` file to use when the archive does not carry one (`--master-key FILE`). */
  masterKeyFile?: string;
  onProgress?: (p: RestoreProgress) => void | Promise<void>;
  /** Where the archive is extracted (a private 0700 directory is made inside). @default os.tmpdir() */
  workDir?: string;
  log?: Logger;
}

export interface RestoreResult {
  archive: string;
  createdAt: string;
  certfleetVersion: string;
  kekId: string;
  kekSource: KekSource;
  /** True when the master key file was written into CERTFLEET_HOME (false when an identical one was already there). */
  masterKeyWritten: boolean;
  tables: BackupTableSummary[];
  rows: number;
  /** Migrations this build applied after loading an archive from an older schema. */
  migrationsAppliedAfter: string[];
  ms: number;
}

async function nonEmptyTables(client: ClientBase, tables: readonly TableInfo[]): Promise<string[]> {
  const out: string[] = [];
  for (const t of tables) {
    const { rows } = await client.query<{ x: boolean }>(
      `select exists (select 1 from public.${quoteIdent(t.name)}) as x`
    );
    if (rows[0]?.x) out.push(t.name);
  }
  return out;
}

function notEmpty(tables: string[]): CertFleetError {
  return new CertFleetError(
    'CF_RESTORE_TARGET_NOT_EMPTY',
    `restore: the target repository is not empty (rows in ${tables.slice(0, 5).join(', ')}${tables.length > 5 ? ', …' : ''}); restore only into a new, empty CERTFLEET_HOME / database`,
    { details: { tables } }
  );
}

function resolveKek(
  archive: string,
  checked: CheckedArchive,
  masterKeyFile: string | undefined,
  homeKeyFile: string
): { kek: MasterKey; source: KekSource; homeHasKey: boolean } {
  const want = checked.manifest.kek.id;
  const homeKey = fs.existsSync(homeKeyFile) ? readMasterKey(homeKeyFile) : null;
  const fileKey = masterKeyFile ? readMasterKey(path.resolve(masterKeyFile)) : null;
  const mismatch = (from: string, got: MasterKey): CertFleetError =>
    new CertFleetError(
      'CF_KEK_MISSING',
      `restore: the master key from ${from} has id ${got.id}, but the archive's data is sealed under master key ${want}`,
      {
        details: { archiveKekId: want, givenKekId: got.id },
      }
    );
  if (fileKey && fileKey.id !== want) throw mismatch(masterKeyFile as string, fileKey);
  let kek: MasterKey;
  let source: KekSource;
  if (checked.masterKey) {
    kek = checked.masterKey;
    source = 'archive';
  } else if (fileKey) {
    kek = fileKey;
    source = 'file';
  } else if (homeKey) {
    if (homeKey.id !== want) throw mismatch(homeKeyFile, homeKey);
    kek = homeKey;
    source = 'home';
  } else {
    throw new CertFleetError(
      'CF_KEK_MISSING',
      `restore: ${path.basename(archive)} does not include the master key and none was given; pass --master-key FILE (the archive needs master key ${want})`,
      { details: { archiveKekId: want } }
    );
  }
  if (homeKey && homeKey.id !== want) {
    throw new CertFleetError(
      'CF_RESTORE_TARGET_NOT_EMPTY',
      `restore: ${homeKeyFile} holds another master key (${homeKey.id}) than the archive's (${want}); restore into a new CERTFLEET_HOME or move that file away`,
      { details: { archiveKekId: want, homeKekId: homeKey.id } }
    );
  }
  return { kek, source, homeHasKey: homeKey !== null };
}

/**
 * Restores an archive written by {@link createBackup} into the repository of `config` (embedded PostgreSQL under
 * CERTFLEET_HOME, or DATABASE_URL), which must be empty (CF_RESTORE_TARGET_NOT_EMPTY otherwise; the schema may exist).
 *
 * The archive is checked completely before the database is touched (CF_BACKUP_CORRUPT). The master key comes from
 * the archive, else `masterKeyFile`, else an existing `master.key` in the home; its id must be the manifest's
 * (CF_KEK_MISSING naming both ids). Data is loaded in one transaction and verified (row counts, every sealed value
 * opens) before COMMIT, so a failure leaves the target empty. The master key is written (0600) after the data is in.
 */
export async function restoreBackup(
  config: ControllerConfig,
  archiveFile: string,
  options: RestoreOptions = {}
): Promise<RestoreResult> {
  const t0 = Date.now();
  const log = options.log ?? silentLogger();
  const archive = path.resolve(archiveFile);
  const layout = homeLayout(config.home);
  const staging = makeStagingDir(options.workDir, 'certfleet-restore-');
  try {
    const checked = await readBackupArchive(archive, staging);
    const { manifest } = checked;
    checkArchiveMigrations(archive, manifest);
    ensureHome(layout);
    const { kek, source, homeHasKey } = resolveKek(archive, checked, options.masterKeyFile, layout.masterKeyFile);
    const totalRows = manifest.tables.reduce((n, t) => n + t.rows, 0);
    log.info(
      {
        archive,
        createdAt: manifest.createdAt,
        tables: manifest.tables.length,
        rows: totalRows,
        kekId: kek.id,
        kekSource: source,
      },
      'restore: archive checked'
    );
    await options.onProgress?.({
      phase: 'checked',
      tables: manifest.tables.length,
      rows: totalRows,
      kekId: kek.id,
      kekSource: source,
    });

    const { url, pg } = await connectDatabase(config, log);
    let db: Database | undefined;
    const client = new Client({ connectionString: url });
    let connected = false;
    try {
      await connectClient(client, 'restore');
      connected = true;
      await applySessionSettings(client);
      const busy = await nonEmptyTables(client, await listTables(client));
      if (busy.length) throw notEmpty(busy);

      // Bring the schema to the archive's migration level (an archive from an older build is loaded into the schema it
      // was written from, and migrated forward afterwards, like any upgrade).
      db = await openDatabase(url, { migrate: false });
      const migrator = db.orm.getMigrator();
      const executed = (await migrator.getExecutedMigrations()).map((r) => r.name);
      const isPrefix =
        executed.length <= manifest.migrations.length && executed.every((m, i) => manifest.migrations[i] === m);
      if (!isPrefix) {
        throw new CertFleetError(
          'CF_RESTORE_TARGET_NOT_EMPTY',
          `restore: the target database schema (migrations ${executed.join(', ')}) is ahead of or different from the archive's (${manifest.migrations.join(', ')}); restore into a new database`
        );
      }
      const toArchiveLevel = manifest.migrations.slice(executed.length);
      if (toArchiveLevel.length) await migrator.up({ migrations: toArchiveLevel });

      const loaded = await loadTables(client, archive, checked, kek, options.onProgress);
      log.info({ tables: loaded.length, rows: totalRows }, 'restore: data committed');

      let masterKeyWritten = false;
      if (!homeHasKey) {
        atomicWriteFileSync(layout.masterKeyFile, kek.key.toString('base64') + '\n', 0o600);
        masterKeyWritten = true;
        log.info({ file: layout.masterKeyFile, kekId: kek.id }, 'restore: master key written (mode 0600)');
      }
      const after = (await migrator.up()).map((m) => m.name);
      if (after.length) log.info({ migrations: after }, 'restore: migrated the restored data to this build');

      const result: RestoreResult = {
        archive,
        createdAt: manifest.createdAt,
        certfleetVersion: manifest.certfleetVersion,
        kekId: kek.id,
        kekSource: source,
        masterKeyWritten,
        tables: loaded,
        rows: totalRows,
        migrationsAppliedAfter: after,
        ms: Date.now() - t0,
      };
      return result;
    } finally {
      if (connected) await client.end().catch(() => undefined);
      await db?.close().catch(() => undefined);
      await pg?.stop();
    }
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

/** Loads every table in one transaction, verifies, commits. Any failure rolls back (target stays empty). */
async function loadTables(
  client: ClientBase,
  archive: string,
  checked: CheckedArchive,
  kek: MasterKey,
  onProgress: RestoreOptions['onProgress']
): Promise<BackupTableSummary[]> {
  const { manifest, dir } = checked;
  await client.query('begin');
  try {
    await client.query(`select set_config('lock_timeout', '15s', true)`);
    const target = await listTables(client);
    const targetByName = new Map(target.map((t) => [t.name, t]));
    const inArchive = new Map(manifest.tables.map((t) => [t.name, t]));
    const missingInTarget = manifest.tables.filter((t) => !targetByName.has(t.name)).map((t) => t.name);
    const missingInArchive = target.filter((t) => !inArchive.has(t.name)).map((t) => t.name);
    if (missingInTarget.length)
      throw corrupt(
        archive,
        `table(s) ${missingInTarget.join(', ')} do not exist in the schema of migration ${manifest.migrations.at(-1)}`
      );
    if (missingInArchive.length)
      throw corrupt(archive, `the archive lacks table(s) ${missingInArchive.join(', ')} of its own schema`);
    for (const t of manifest.tables) {
      const have = new Set(targetByName.get(t.name)?.columns);
      const extra = t.columns.filter((c) => !have.has(c));
      if (extra.length)
        throw corrupt(archive, `table ${t.name}: column(s) ${extra.join(', ')} do not exist in the target schema`);
    }
    // Keep the controller (or anyone) from writing while we load; then check emptiness again under the lock.
    await client.query(`lock table ${target.map((t) => `public.${quoteIdent(t.name)}`).join(', ')} in exclusive mode`);
    const busy = await nonEmptyTables(client, target);
    if (busy.length) throw notEmpty(busy);

    const order = loadOrder(
      target.map((t) => t.name),
      await listForeignKeys(client)
    );
    const loaded: BackupTableSummary[] = [];
    for (const [i, name] of order.entries()) {
      const t = inArchive.get(name) as ManifestTable;
      const cols = t.columns.map(quoteIdent).join(', ');
      const copy = client.query(copyFrom(`COPY public.${quoteIdent(name)} (${cols}) FROM STDIN`));
      try {
        await pipeline(fs.createReadStream(path.join(dir, t.file)), copy);
      } catch (err) {
        throw corrupt(archive, `loading table ${name} failed: ${(err as Error).message}`, err);
      }
      if (copy.rowCount !== t.rows)
        throw corrupt(archive, `table ${name}: loaded ${copy.rowCount} rows, the manifest says ${t.rows}`);
      loaded.push({ name, rows: t.rows, bytes: t.bytes });
      await onProgress?.({
        phase: 'table',
        table: name,
        index: i + 1,
        total: order.length,
        rows: t.rows,
        bytes: t.bytes,
      });
    }

    for (const t of manifest.tables) {
      const n = Number(
        (await client.query<{ n: string }>(`select count(*) as n from public.${quoteIdent(t.name)}`)).rows[0]?.n
      );
      if (n !== t.rows)
        throw corrupt(archive, `table ${t.name} has ${n} rows after loading, the manifest says ${t.rows}`);
    }
    const sealed = await checkSealedValues(client, kek, new Set(inArchive.keys()));
    if (sealed.problems.length) {
      throw corrupt(
        archive,
        `${sealed.problems.length} sealed value(s) do not open with master key ${kek.id}: ${sealed.problems.slice(0, 3).join('; ')}`
      );
    }
    await resetSequences(client, order);
    await onProgress?.({ phase: 'verified', sealedValues: sealed.checked, privateKeys: sealed.privateKeys });
    await client.query('commit');
    return loaded;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    if (isCertFleetError(err)) throw err;
    throw corrupt(archive, `loading failed: ${(err as Error).message}`, err);
  }
}

/** Moves sequences owned by loaded columns (serial / identity) past the restored values. */
async function resetSequences(client: ClientBase, tables: readonly string[]): Promise<void> {
  const { rows } = await client.query<{ seq: string; tbl: string; col: string }>(
    `select format('%I.%I', sn.nspname, s.relname) as seq, t.relname as tbl, a.attname as col
       from pg_depend d
       join pg_class s on s.oid = d.objid and s.relkind = 'S'
       join pg_namespace sn on sn.oid = s.relnamespace
       join pg_class t on t.oid = d.refobjid
       join pg_namespace tn on tn.oid = t.relnamespace
       join pg_attribute a on a.attrelid = t.oid and a.attnum = d.refobjsubid
      where d.classid = 'pg_class'::regclass and d.deptype in ('a', 'i') and tn.nspname = 'public' and t.relname = any($1::text[])`,
    [tables]
  );
  for (const r of rows) {
    await client.query(
      `select setval($1::regclass, coalesce(max(${quoteIdent(r.col)}), 1), max(${quoteIdent(r.col)}) is not null) from public.${quoteIdent(r.tbl)}`,
      [r.seq]
    );
  }
}
