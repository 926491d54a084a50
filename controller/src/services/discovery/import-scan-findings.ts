/**
 * Import from a scan report (SPEC S3): some or all findings of a stored scan become definitions with monitored
 * endpoints, through the same import as findings posted by a client (import-findings.ts: one definition per
 * distinct certificate, duplicates by SHA-256 skipped, one audited transaction). Endpoints found by an agent's scan
 * are probed by that agent (the controller usually cannot reach them).
 */
import { z } from 'zod';
import { CertFleetError } from '@certfleet/shared';
import { DiscoveryFindingEntity } from '../../storage/entities';
import type { Actor, ServiceContext } from '../context';
import { type ImportFinding, type ImportFindingsResult, MAX_IMPORT_FINDINGS, importFindings } from './import-findings';
import { scanFindings } from './scan-report';
import { getScanRow } from './scan-service';

export const importScanFindingsSchema = z
  .object({
    findingIds: z
      .union([z.literal('all'), z.array(z.uuid()).min(1).max(MAX_IMPORT_FINDINGS)])
      .describe('"all", or ids of findings of this scan'),
    mode: z.enum(['monitored', 'managed']).describe('Monitored-Only or Lifecycle-Managed definitions'),
  })
  .strict();
export type ImportScanFindingsInput = z.infer<typeof importScanFindingsSchema>;

/**
 * Imports findings of scan `scanId`.
 * @throws CertFleetError CF_NOT_FOUND (scan, or a finding id not of this scan — nothing imported), CF_VALIDATION
 * (more than MAX_IMPORT_FINDINGS findings: import them in parts by id)
 */
export async function importScanFindings(
  ctx: ServiceContext,
  scanId: string,
  input: ImportScanFindingsInput,
  actor: Actor
): Promise<ImportFindingsResult & { scanId: string }> {
  const scan = await getScanRow(ctx, scanId);
  let rows;
  if (input.findingIds === 'all') {
    rows = await scanFindings(ctx, scanId);
  } else {
    const ids = [...new Set(input.findingIds)];
    rows = await ctx.db
      .em()
      .fork()
      .find(DiscoveryFindingEntity, { scanId, id: { $in: ids } }, { disableIdentityMap: true });
    const found = new Set(rows.map((r) => r.id));
    const missing = ids.filter((id) => !found.has(id));
    if (missing.length)
      throw new CertFleetError(
        'CF_NOT_FOUND',
        `discovery import: finding(s) ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''} not in scan ${scanId}`
      );
  }
  if (rows.length === 0) throw new CertFleetError('CF_VALIDATION', `discovery import: scan ${scanId} has no findings`);
  if (rows.length > MAX_IMPORT_FINDINGS)
    throw new CertFleetError(
      'CF_VALIDATION',
      `discovery import: scan ${scanId} has ${rows.length} findings; at most ${MAX_IMPORT_FINDINGS} per import (give findingIds)`
    );
  const findings: ImportFinding[] = rows.map((r) => ({
    host: r.host,
    port: r.port,
    serverName: r.serverName,
    starttls: r.starttls as ImportFinding['starttls'],
    sha256: r.sha256,
    pem: r.pem,
    chainPem: r.chainPem.slice(0, 16),
  }));
  const agentId = scan.runBy === 'agent' ? scan.agentId : null;
  const result = await importFindings(ctx, findings, { mode: input.mode, ...(agentId ? { agentId } : {}) }, actor);
  return { scanId, ...result };
}
