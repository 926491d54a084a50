/**
 * Storage of discovery findings (SPEC S2): one row per scan × host:port, written in batches (one multi-row
 * `INSERT … SELECT FROM unnest(…)` per batch, inside the caller's transaction). A host:port already stored for
 * the scan is skipped (`ON CONFLICT DO NOTHING`), so a replayed agent chunk or a retried batch writes nothing twice.
 */
import crypto from 'node:crypto';
import type { Knex } from '@mikro-orm/postgresql';
import type { ScanFinding } from '@certfleet/shared';
import type { DiscoveryFinding } from '../../domain/discovery';
import type { Em } from '../../storage/database';
import { pgJson, pgText } from '../../storage/pg-values';

/** Rows per INSERT statement. */
const BATCH = 500;

const INSERT_FINDINGS = `with ins as (
  insert into discovery_findings (id, scan_id, host, port, address, server_name, starttls, protocol, cipher, sha256,
    sha1, common_name, subject, issuer, not_before, not_after, serial, sans, validity, trusted, self_signed, days_to_expiry,
    weak_algorithms, status, reason, message, checks, pem, chain_pem, probed_by, found_at)
  select t.id, ?, t.host, t.port, t.address, t.server_name, t.starttls, t.protocol, t.cipher, t.sha256, t.sha1,
    t.common_name, t.subject, t.issuer, t.not_before, t.not_after, t.serial, t.sans::jsonb, t.validity, t.trusted, t.self_signed,
    t.days, t.weak::jsonb, t.status, t.reason, t.message, t.checks::jsonb, t.pem, t.chain::jsonb, t.probed_by, ?
  from unnest(?::uuid[], ?::text[], ?::int[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[],
    ?::text[], ?::text[], ?::text[], ?::text[], ?::timestamptz[], ?::timestamptz[], ?::text[], ?::text[], ?::text[], ?::bool[],
    ?::bool[], ?::int[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[])
    as t(id, host, port, address, server_name, starttls, protocol, cipher, sha256, sha1, common_name, subject, issuer,
      not_before, not_after, serial, sans, validity, trusted, self_signed, days, weak, status, reason, message,
      checks, pem, chain, probed_by)
  on conflict (scan_id, host, port) do nothing
  returning 1)
select count(*)::int as n from ins`;

function isoOrNull(text: string): string | null {
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}

/**
 * Inserts the findings of one scan; returns how many rows were new.
 * @param probedBy `controller` or `agent:<id>`
 */
export async function storeFindings(
  em: Em,
  scanId: string,
  findings: readonly ScanFinding[],
  probedBy: string,
  now: Date
): Promise<number> {
  let inserted = 0;
  for (let start = 0; start < findings.length; start += BATCH) {
    const chunk = findings.slice(start, start + BATCH);
    const col = <T>(f: (x: ScanFinding) => T): T[] => chunk.map(f);
    const bindings: unknown[] = [
      scanId,
      now,
      col(() => crypto.randomUUID()),
      col((f) => f.host.slice(0, 253)),
      col((f) => f.port),
      col((f) => f.address.slice(0, 64)),
      col((f) => f.serverName?.slice(0, 253) ?? null),
      col((f) => f.starttls),
      col((f) => f.protocol?.slice(0, 50) ?? null),
      col((f) => f.cipher?.slice(0, 200) ?? null),
      col((f) => f.sha256),
      col((f) => f.sha1),
      col((f) => (f.commonName === null ? null : pgText(f.commonName))),
      col((f) => pgText(f.subject)),
      col((f) => pgText(f.issuer)),
      col((f) => isoOrNull(f.notBefore)),
      col((f) => isoOrNull(f.notAfter)),
      col((f) => f.serial.slice(0, 100)),
      col((f) => pgJson(f.sans)),
      col((f) => f.validity),
      col((f) => f.trusted),
      col((f) => f.selfSigned),
      col((f) => f.daysToExpiry),
      col((f) => pgJson(f.weakAlgorithms)),
      col((f) => f.status),
      col((f) => f.reason.slice(0, 100)),
      col((f) => pgText(f.message.slice(0, 8000))),
      col((f) => pgJson(f.checks)),
      col((f) => f.pem),
      col((f) => JSON.stringify(f.chainPem)),
      col(() => probedBy.slice(0, 100)),
    ];
    // Through knex: real parameters (MikroORM's execute() would inline the arrays into the SQL text).
    const query = em.getKnex().raw(INSERT_FINDINGS, bindings as Knex.RawBinding[]);
    const trx = em.getTransactionContext<Knex.Transaction>();
    const result = (await (trx ? query.transacting(trx) : query)) as { rows: Array<{ n: number }> };
    inserted += Number(result.rows[0]?.n ?? 0);
  }
  return inserted;
}

/** A stored finding as the API and the reports show it (no PEM unless asked). */
export interface FindingView extends Omit<DiscoveryFinding, 'pem' | 'chainPem' | 'notBefore' | 'notAfter' | 'foundAt'> {
  notBefore: string | null;
  notAfter: string | null;
  foundAt: string;
  pem?: string;
  chainPem?: string[];
}

/** The API shape of a finding row. */
export function findingView(row: DiscoveryFinding, withPem = false): FindingView {
  const { pem, chainPem, notBefore, notAfter, foundAt, ...rest } = row;
  return {
    ...rest,
    notBefore: notBefore ? new Date(notBefore).toISOString() : null,
    notAfter: notAfter ? new Date(notAfter).toISOString() : null,
    foundAt: new Date(foundAt).toISOString(),
    ...(withPem ? { pem, chainPem } : {}),
  };
}
