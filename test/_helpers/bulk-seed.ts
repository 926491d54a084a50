/**
 * Bulk seeding for the list-scaling test and benchmark (issue 6): N certificates with their definitions, private keys,
 * deployments and sent mail, written with one set-based `INSERT … SELECT FROM generate_series` per table straight into
 * the tables the entities map to (controller/src/storage/entities) — 100,000 certificates in seconds, not 100,000 API
 * calls. Every value is a pure function of the row number `i` (1..N), so a test can compute expected counts itself;
 * {@link bulkFacts} says which rows get what.
 */
import { Client } from 'pg';
import { testCert } from './test-pki';

export interface BulkSeedOptions {
  /** Certificates (= definitions). */
  count: number;
  /** Name prefix: definitions are `<prefix>-000001`…, common names `svc-000001.<prefix>.test`. @default 'bulk' */
  prefix?: string;
  /** Reference time for validity, creation and mail times. @default now */
  now?: Date;
  /** Sent-mail rows. @default count */
  sentMail?: number;
}

export interface BulkSeedResult {
  count: number;
  sentMail: number;
  prefix: string;
  /** Wall time of the inserts and the VACUUM ANALYZE. */
  ms: number;
}

/**
 * The shape of the seeded data, as predicates on the row number (the SQL below uses the same expressions):
 * - definition i is `monitored` when i % 10 = 0 (no private key), else `managed` with a key;
 *   `interactive` when i % 4 = 0, else `unattended`;
 * - certificate i is current unless i % 50 = 0 (those definitions have no current certificate);
 *   notAfter = now + ((i × 37) mod 400 − 30) days (about 7.5 % expired);
 * - one deployment per current certificate with a key; sent mail j is `failed` when j % 20 = 0.
 */
export const bulkFacts = {
  monitored: (i: number): boolean => i % 10 === 0,
  interactive: (i: number): boolean => i % 4 === 0,
  current: (i: number): boolean => i % 50 !== 0,
  daysLeft: (i: number): number => ((i * 37) % 400) - 30,
  mailFailed: (j: number): boolean => j % 20 === 0,
  name: (prefix: string, i: number): string => `${prefix}-${String(i).padStart(6, '0')}`,
  commonName: (prefix: string, i: number): string => `svc-${String(i).padStart(6, '0')}.${prefix}.test`,
};

let pemCache: Promise<string> | undefined;
/** One real certificate PEM shared by every seeded row (the lists do not parse it). */
function samplePem(): Promise<string> {
  pemCache ??= testCert({ subject: 'CN=svc.bulk.test', dns: ['svc.bulk.test'] }).then((c) => c.pem);
  return pemCache;
}

/** Seeds `count` certificates and what belongs to them into the (migrated) database at `url`. */
export async function bulkSeed(url: string, options: BulkSeedOptions): Promise<BulkSeedResult> {
  const count = options.count;
  const prefix = options.prefix ?? 'bulk';
  const sentMail = options.sentMail ?? count;
  if (!/^[a-z][a-z0-9]{0,19}$/.test(prefix)) throw new Error(`bulkSeed: bad prefix ${prefix}`);
  if (!Number.isInteger(count) || count < 1 || count > 1_000_000) throw new Error('bulkSeed: count 1..1,000,000');
  const now = (options.now ?? new Date()).toISOString();
  const pem = await samplePem();
  const started = Date.now();
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    // Row i's ids: md5 of a per-table tag, the prefix and i, read as a UUID (deterministic, unique per prefix).
    const id = (tag: string, expr = 'i') => `md5('${tag}:${prefix}:' || ${expr})::uuid`;
    const lp = `lpad(i::text, 6, '0')`;
    const cn = `'svc-' || ${lp} || '.${prefix}.test'`;
    const notAfter = `($2::timestamptz + make_interval(days => ((i * 37) % 400) - 30))`;
    await client.query('begin');
    await client.query(
      `insert into certificate_definitions (id, name, subject, sans, key_spec, issuer_type, issuer_config,
         deploy_targets, operation_mode, process_mode, renewal_lead_days, created_at, updated_at)
       select ${id('def')}, '${prefix}-' || ${lp},
              jsonb_build_object('commonName', ${cn}, 'organization', 'Bulk Seed'),
              jsonb_build_array(${cn}), 'EC-P256', 'internal-ca', '{}',
              case when i % 10 = 0 then '[]'::jsonb
                   else jsonb_build_array(jsonb_build_object('serverName', 'web-' || ${lp}, 'method', 'manual')) end,
              case when i % 10 = 0 then 'monitored' else 'managed' end,
              case when i % 4 = 0 then 'interactive' else 'unattended' end,
              30, $2::timestamptz - make_interval(secs => i), $2::timestamptz - make_interval(secs => i)
         from generate_series(1, $1::int) i`,
      [count, now]
    );
    await client.query(
      `insert into private_keys (id, algorithm, public_key_sha256, public_key_pem, sealed, exportable, label, created_at)
       select ${id('key')}, 'EC-P256', encode(sha256(('${prefix}:' || i)::bytea), 'hex'),
              -- the sizes of a real P-256 key: SPKI PEM (91 octets) and its sealed PKCS#8 envelope (≈ 250 octets)
              '-----BEGIN PUBLIC KEY-----\n' || encode(substr(sha512(('${prefix}:pub:' || i)::bytea)
                || sha512(('${prefix}:pub2:' || i)::bytea), 1, 91), 'base64') || '\n-----END PUBLIC KEY-----\n',
              sha512(('${prefix}:s1:' || i)::bytea) || sha512(('${prefix}:s2:' || i)::bytea)
                || sha512(('${prefix}:s3:' || i)::bytea) || sha512(('${prefix}:s4:' || i)::bytea),
              i % 3 <> 0, 'bulk key ' || ${lp}, $2::timestamptz - make_interval(secs => i)
         from generate_series(1, $1::int) i where i % 10 <> 0`,
      [count, now]
    );
    await client.query(
      `insert into certificates (id, definition_id, private_key_id, pem, chain_pem, sha1, sha256, serial, subject,
         issuer, not_before, not_after, key_algorithm, sans, is_current, source, created_at)
       select ${id('cert')}, ${id('def')}, case when i % 10 = 0 then null else ${id('key')} end,
              $3, '[]', substr(md5('${prefix}:s1:' || i) || md5('${prefix}:s1b:' || i), 1, 40),
              md5('${prefix}:s256:' || i) || md5('${prefix}:s256b:' || i), to_hex(i),
              'CN=' || ${cn} || ', O=Bulk Seed', 'CN=Bulk Issuing CA, O=Bulk Seed',
              ${notAfter} - interval '90 days', ${notAfter}, 'EC-P256', jsonb_build_array(${cn}),
              i % 50 <> 0, case when i % 10 = 0 then 'monitored' else 'issued' end,
              $2::timestamptz - make_interval(secs => i)
         from generate_series(1, $1::int) i`,
      [count, now, pem]
    );
    await client.query(
      `insert into deployments (id, certificate_id, definition_id, slot, version, target, method, bundle_id, status,
         created_by, created_at, updated_at)
       select ${id('dep')}, ${id('cert')}, ${id('def')}, md5('${prefix}:slot:' || i), 1,
              jsonb_build_object('serverName', 'web-' || ${lp}, 'method', 'manual'), 'manual', ${id('bundle')},
              case when i % 7 = 0 then 'pending' else 'verified' end, 'bulk-seed',
              $2::timestamptz - make_interval(secs => i), $2::timestamptz - make_interval(secs => i)
         from generate_series(1, $1::int) i where i % 10 <> 0 and i % 50 <> 0`,
      [count, now]
    );
    await client.query(
      `insert into sent_mail (id, at, template, "to", subject, body, status, error, message_id)
       select ${id('mail')}, $2::timestamptz - make_interval(secs => i * 60),
              (array['expiry-warning', 'renewal-completed', 'deployment-failed'])[1 + i % 3],
              jsonb_build_array('ops-' || (i % 17) || '@${prefix}.test'),
              -- a body of the size the notification templates render (≈ 1 KB)
              'Bulk seed mail ' || ${lp}, repeat('Body of bulk seed mail ' || ${lp} || '. ', 36),
              case when i % 20 = 0 then 'failed' else 'sent' end,
              case when i % 20 = 0 then 'connection refused' else null end,
              case when i % 20 = 0 then null else '<' || ${lp} || '@${prefix}.test>' end
         from generate_series(1, $1::int) i`,
      [sentMail, now]
    );
    await client.query('commit');
    // Statistics and the visibility map, as autovacuum would leave them on a database of this size.
    await client.query(
      'vacuum analyze certificate_definitions, private_keys, certificates, deployments, sent_mail, audit_log'
    );
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    await client.end();
  }
  return { count, sentMail, prefix, ms: Date.now() - started };
}
