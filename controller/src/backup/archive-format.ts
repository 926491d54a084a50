import { z } from 'zod';

/**
 * The CertFleet backup archive (SPEC R9, manual §4.8), format version 1.
 *
 * A gzip-compressed tar file holding:
 * - `manifest.json` — {@link BackupManifest}, always the first entry;
 * - `tables/<table>.copy` — one file per table of the `public` schema (except `mikro_orm_migrations`), in
 *   PostgreSQL's COPY *text* format, which loads into any later PostgreSQL major (PG 18 ↔ PG 15 tested);
 * - `master.key` — the key-encryption key, base64 text exactly as in CERTFLEET_HOME, only when the operator asked for
 *   it (`--include-master-key`). Such an archive alone decrypts every stored private key.
 *
 * Every file's size and SHA-256 are in the manifest, so a restore can check the whole archive before it touches the
 * target database.
 */
export const BACKUP_FORMAT = 'certfleet-backup';
export const BACKUP_FORMAT_VERSION = 1;

export const MANIFEST_FILE = 'manifest.json';
export const MASTER_KEY_FILE = 'master.key';
export const TABLES_DIR = 'tables';
/** The largest manifest a restore reads (a manifest is a few kilobytes). */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

/** MikroORM's bookkeeping table: not copied; the manifest lists the applied migration names instead. */
export const MIGRATIONS_TABLE = 'mikro_orm_migrations';

/**
 * Session settings used on both ends of COPY so that the text form of dates, times and floats does not depend on the
 * server's or the client's defaults (what pg_dump does too).
 */
export const COPY_SESSION_SETTINGS: ReadonlyArray<readonly [string, string]> = [
  ['client_encoding', 'UTF8'],
  ['DateStyle', 'ISO, YMD'],
  ['IntervalStyle', 'postgres'],
  ['TimeZone', 'UTC'],
  ['extra_float_digits', '3'],
  ['bytea_output', 'hex'],
];

/** A plain lower-case SQL identifier: safe as a file name and (quoted) in SQL. */
const identifier = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a plain lower-case SQL identifier');
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be a SHA-256 hex digest');

export const tableFileName = (table: string): string => `${TABLES_DIR}/${table}.copy`;

export const manifestTableSchema = z
  .object({
    name: identifier,
    /** Path inside the archive: always `tables/<name>.copy`. */
    file: z.string(),
    /** Column names in the order of the COPY data. */
    columns: z.array(identifier).min(1),
    rows: z.number().int().nonnegative(),
    bytes: z.number().int().nonnegative(),
    sha256: sha256Hex,
  })
  .strict()
  .refine((t) => t.file === tableFileName(t.name), { message: 'file must be tables/<name>.copy', path: ['file'] });
export type ManifestTable = z.infer<typeof manifestTableSchema>;

/** Only the format marker and version, read first so that a newer format gets a clear message. */
export const manifestHeaderSchema = z.object({
  format: z.literal(BACKUP_FORMAT),
  formatVersion: z.number().int().positive(),
});

export const manifestSchema = z
  .object({
    format: z.literal(BACKUP_FORMAT),
    formatVersion: z.literal(BACKUP_FORMAT_VERSION),
    createdAt: z.iso.datetime(),
    certfleetVersion: z.string().min(1).max(100),
    /** `server_version` of the source PostgreSQL (informational). */
    postgresVersion: z.string().max(200),
    /** MikroORM migrations applied to the source database, in order. */
    migrations: z.array(z.string().min(1).max(200)).min(1),
    copy: z.object({ format: z.literal('text'), encoding: z.literal('UTF8') }).strict(),
    kek: z
      .object({
        /** {@link MasterKey.id} of the key the database's sealed values were written under. */
        id: z.string().regex(/^[0-9a-f]{16}$/),
        included: z.boolean(),
        /** SHA-256 of the `master.key` file; present exactly when `included`. */
        sha256: sha256Hex.optional(),
      })
      .strict()
      .refine((k) => k.included === (k.sha256 !== undefined), {
        message: 'sha256 must be present exactly when the key is included',
      }),
    /** Tables in a foreign-key-safe load order (parents first). */
    tables: z.array(manifestTableSchema).min(1),
  })
  .strict()
  .refine((m) => new Set(m.tables.map((t) => t.name)).size === m.tables.length, {
    message: 'a table is listed twice',
    path: ['tables'],
  })
  .refine((m) => new Set(m.migrations).size === m.migrations.length, {
    message: 'a migration is listed twice',
    path: ['migrations'],
  })
  .refine((m) => !m.tables.some((t) => t.name === MIGRATIONS_TABLE), {
    message: `${MIGRATIONS_TABLE} must not be copied`,
    path: ['tables'],
  });
export type BackupManifest = z.infer<typeof manifestSchema>;
