/**
 * Bulk import of discovery findings (SPEC S3): one definition per distinct certificate, in the chosen mode
 * (Monitored-Only or Lifecycle-Managed), with the served certificate stored as its current certificate (no private
 * key: discovery never sees one) and one monitored endpoint per host:port that served it, probed by the
 * controller (or by `agentId`, for findings of a scan an agent ran). Duplicates are detected by SHA-256 twice: among the findings (several endpoints serving one
 * certificate make one definition) and against the repository (a certificate already stored is skipped and
 * reported as a duplicate). Everything happens in one audited transaction: a failure leaves nothing behind.
 *
 * The findings come from a client, so nothing in them is trusted except what is re-derived here: the leaf is
 * decoded from its PEM and its fingerprint recomputed (a `sha256` field that disagrees is refused).
 */
import crypto from 'node:crypto';
import { z } from 'zod';
import {
  CertFleetError,
  type CertificateSummary,
  DecodeError,
  STARTTLS_PROTOCOLS,
  decodePem,
  summarizeCertificate,
} from '@certfleet/shared';
import { definitionProblems, type OperationMode } from '../../domain/definition';
import type { MonitoredEndpoint } from '../../domain/monitoring';
import type { Em } from '../../storage/database';
import { AgentEntity, CertificateEntity, DefinitionEntity, MonitoredEndpointEntity } from '../../storage/entities';
import { appendAudit } from '../audit-service';
import { certificateFromSummary, insertCertificate } from '../certificate-service';
import type { Actor, ServiceContext } from '../context';
import { insertDefinition } from '../definition-service';
import { definitionFromLeaf } from '../import-service';

/** Most findings one import accepts. */
export const MAX_IMPORT_FINDINGS = 10_000;

const pem = z.string().min(1).max(64_000);

/** What an import needs from a finding (as `scan` returns it; other fields are accepted and ignored). */
export const importFindingSchema = z
  .object({
    host: z.string().min(1).max(253),
    port: z.number().int().min(1).max(65535),
    serverName: z.string().min(1).max(253).nullable().optional(),
    starttls: z.enum(STARTTLS_PROTOCOLS).nullable().optional(),
    sha256: z
      .string()
      .regex(/^[0-9a-fA-F:]+$/)
      .max(100)
      .optional(),
    pem,
    chainPem: z.array(pem).max(16).optional(),
  })
  .loose();
export type ImportFinding = z.infer<typeof importFindingSchema>;

export const importFindingsOptionsSchema = z
  .object({
    mode: z.enum(['monitored', 'managed']),
    agentId: z
      .uuid()
      .optional()
      .describe('probe the new endpoints from this agent (findings of a scan run by an agent); default the controller'),
  })
  .strict();
export type ImportFindingsOptions = z.infer<typeof importFindingsOptionsSchema>;

/** One certificate imported: its new definition, certificate row and endpoints. */
export interface ImportedFinding {
  sha256: string;
  definitionId: string;
  definitionName: string;
  certificateId: string;
  endpoints: Array<{ id: string; host: string; port: number; starttls: string | null }>;
}

/** One certificate skipped because the repository already holds it. */
export interface DuplicateFinding {
  sha256: string;
  certificateId: string;
  definitionId: string;
  endpoints: Array<{ host: string; port: number }>;
}

/** One certificate that cannot become a definition (e.g. its CN is not among its DNS SANs). */
export interface RejectedFinding {
  sha256: string;
  endpoints: Array<{ host: string; port: number }>;
  problems: string[];
}

export interface ImportFindingsResult {
  mode: OperationMode;
  imported: ImportedFinding[];
  duplicates: DuplicateFinding[];
  rejected: RejectedFinding[];
}

interface Group {
  leaf: CertificateSummary;
  chainPem: string[];
  findings: ImportFinding[];
}

function leafOf(finding: ImportFinding, index: number): { leaf: CertificateSummary; chainPem: string[] } {
  const where = `findings[${index}] (${finding.host}:${finding.port})`;
  let leaf: CertificateSummary;
  let chainPem: string[];
  try {
    const blocks = decodePem(finding.pem).filter((b) => b.label === 'CERTIFICATE');
    if (blocks.length !== 1) throw new Error('pem must hold exactly one CERTIFICATE block');
    leaf = summarizeCertificate((blocks[0] as { der: Buffer }).der);
    chainPem = (finding.chainPem ?? []).map((text) => {
      const chainBlocks = decodePem(text).filter((b) => b.label === 'CERTIFICATE');
      if (chainBlocks.length !== 1) throw new Error('each chainPem entry must hold exactly one CERTIFICATE block');
      return summarizeCertificate((chainBlocks[0] as { der: Buffer }).der).pem;
    });
  } catch (err) {
    throw new CertFleetError(
      'CF_VALIDATION',
      `discovery import: ${where}: ${err instanceof DecodeError || err instanceof Error ? err.message : String(err)}`
    );
  }
  if (finding.sha256 !== undefined && finding.sha256.replace(/:/g, '').toLowerCase() !== leaf.sha256) {
    throw new CertFleetError(
      'CF_VALIDATION',
      `discovery import: ${where}: sha256 ${finding.sha256} is not the fingerprint of its pem (${leaf.sha256})`
    );
  }
  return { leaf, chainPem };
}

/** Groups findings by leaf SHA-256 (first occurrence order) and drops repeated host:port/STARTTLS endpoints. */
function groupFindings(findings: readonly ImportFinding[]): Group[] {
  const groups = new Map<string, Group>();
  findings.forEach((finding, index) => {
    const { leaf, chainPem } = leafOf(finding, index);
    const group = groups.get(leaf.sha256);
    if (!group) groups.set(leaf.sha256, { leaf, chainPem, findings: [finding] });
    else group.findings.push(finding);
  });
  for (const group of groups.values()) {
    const seen = new Set<string>();
    group.findings = group.findings.filter((f) => {
      const key = `${f.host.toLowerCase()}|${f.port}|${f.starttls ?? ''}|${f.serverName ?? ''}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  }
  return [...groups.values()];
}

async function uniqueName(em: Em, base: string, taken: Set<string>): Promise<string> {
  const root = base.trim() === '' ? 'discovered' : base.trim();
  let name = root.slice(0, 200);
  for (let i = 2; taken.has(name) || (await em.findOne(DefinitionEntity, { name })); i++) {
    if (i > 10_000) throw new CertFleetError('CF_CONFLICT', `discovery import: no free name like ${root}`);
    name = `${root.slice(0, 190)} (${i})`;
  }
  taken.add(name);
  return name;
}

/**
 * Imports findings (SPEC S3). Returns what was imported, what was already in the repository and what could not
 * become a definition; throws CF_VALIDATION for malformed input (then nothing is written).
 * @example await importFindings(ctx, (await scan(targets, DEFAULT_PORTS)).findings, { mode: 'monitored' }, 'cli:ops')
 */
export async function importFindings(
  ctx: ServiceContext,
  rawFindings: unknown,
  rawOptions: unknown,
  actor: Actor
): Promise<ImportFindingsResult> {
  const parsedOptions = importFindingsOptionsSchema.safeParse(rawOptions);
  if (!parsedOptions.success)
    throw new CertFleetError(
      'CF_VALIDATION',
      `discovery import: ${parsedOptions.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`
    );
  const parsedFindings = z.array(importFindingSchema).max(MAX_IMPORT_FINDINGS).safeParse(rawFindings);
  if (!parsedFindings.success)
    throw new CertFleetError(
      'CF_VALIDATION',
      `discovery import: ${parsedFindings.error.issues
        .slice(0, 10)
        .map((i) => `findings.${i.path.join('.')}: ${i.message}`)
        .join('; ')}`
    );
  const mode = parsedOptions.data.mode;
  const agentId = parsedOptions.data.agentId ?? null;
  const groups = groupFindings(parsedFindings.data);

  return ctx.db.em().transactional(async (em) => {
    const now = ctx.clock.now();
    if (agentId !== null) {
      const agent = await em.findOne(AgentEntity, { id: agentId });
      if (!agent || agent.status !== 'active')
        throw new CertFleetError('CF_NOT_FOUND', `discovery import: no active agent ${agentId}`);
    }
    const result: ImportFindingsResult = { mode, imported: [], duplicates: [], rejected: [] };
    const taken = new Set<string>();
    const existing = new Map<string, { id: string; definitionId: string }>();
    const shas = groups.map((g) => g.leaf.sha256);
    for (let i = 0; i < shas.length; i += 1_000) {
      const rows = await em.find(CertificateEntity, { sha256: { $in: shas.slice(i, i + 1_000) } });
      for (const row of rows) existing.set(row.sha256, { id: row.id, definitionId: row.definitionId });
    }
    for (const group of groups) {
      const { leaf } = group;
      const endpointsOf = group.findings.map((f) => ({ host: f.host, port: f.port }));
      const dup = existing.get(leaf.sha256);
      if (dup) {
        result.duplicates.push({
          sha256: leaf.sha256,
          certificateId: dup.id,
          definitionId: dup.definitionId,
          endpoints: endpointsOf,
        });
        continue;
      }
      const first = group.findings[0] as ImportFinding;
      const baseName = leaf.subject === '' ? `${first.host}:${first.port}` : undefined;
      const draft = definitionFromLeaf(leaf, mode, 'probe', leaf.keyAlgorithm);
      const problems = definitionProblems(draft);
      if (problems.length > 0) {
        result.rejected.push({ sha256: leaf.sha256, endpoints: endpointsOf, problems });
        continue;
      }
      const name = await uniqueName(em, baseName ?? draft.subject.commonName, taken);
      const definition = await insertDefinition(em, { ...draft, name }, now, actor);
      const certificate = await insertCertificate(
        em,
        certificateFromSummary(leaf, {
          id: crypto.randomUUID(),
          definitionId: definition.id,
          requestId: null,
          privateKeyId: null,
          chainPem: group.chainPem,
          source: 'discovery',
          createdAt: now,
        }),
        { makeCurrent: true, now }
      );
      const endpoints: ImportedFinding['endpoints'] = [];
      for (const f of group.findings) {
        const endpoint: MonitoredEndpoint = {
          id: crypto.randomUUID(),
          definitionId: definition.id,
          host: f.host,
          port: f.port,
          serverName: f.serverName ?? null,
          starttls: f.starttls ?? null,
          probeFrom: agentId === null ? 'controller' : 'agent',
          agentId,
          enabled: true,
          source: 'discovery',
          createdAt: now,
          updatedAt: now,
        };
        em.persist(em.create(MonitoredEndpointEntity, endpoint));
        endpoints.push({ id: endpoint.id, host: f.host, port: f.port, starttls: endpoint.starttls });
      }
      await appendAudit(
        em,
        {
          actor,
          action: 'certificate.discovered',
          targetType: 'certificate',
          targetId: certificate.id,
          details: {
            sha256: leaf.sha256,
            definitionId: definition.id,
            mode,
            probeFrom: agentId === null ? 'controller' : `agent:${agentId}`,
            endpoints: endpoints.map((e) => `${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`),
          },
        },
        now
      );
      result.imported.push({
        sha256: leaf.sha256,
        definitionId: definition.id,
        definitionName: definition.name,
        certificateId: certificate.id,
        endpoints,
      });
    }
    await appendAudit(
      em,
      {
        actor,
        action: 'discovery.imported',
        targetType: 'discovery',
        targetId: null,
        details: {
          mode,
          findings: parsedFindings.data.length,
          imported: result.imported.length,
          duplicates: result.duplicates.map((d) => d.sha256),
          rejected: result.rejected.map((r) => r.sha256),
        },
      },
      now
    );
    await em.flush();
    return result;
  });
}
