/**
 * Deploy check (SPEC D6): after a certificate is installed, probe the deploy target (from the controller, from
 * the deployment's agent when the controller cannot reach the host, or from any connected agent of a site — by
 * default the site of the deployment's agent) and move the deployment to `verified` when the
 * served leaf is the deployed certificate and its intermediates are served, else to `failed`. An operator may
 * complete it by hand with a note, or continue without a check. The result goes to the server administrator as an
 * `install-notification` mail when a notifier is given. The check is recorded as a one-endpoint monitoring run
 * (trigger `deploy-check`), so it has the same history row and report as scheduled runs.
 */
import { z } from 'zod';
import { CertFleetError } from '@certfleet/shared';
import type { Deployment } from '../../domain/agent';
import type { DeployTarget } from '../../domain/definition';
import { checkEndpointOf } from '../../domain/deployment';
import { pgText } from '../../storage/pg-values';
import { deriveOptionsOf } from './deploy-target-endpoints';
import { SITE_PATTERN } from '../../domain/monitoring';
import { AgentEntity, CertificateEntity, DefinitionEntity, DeploymentEntity } from '../../storage/entities';
import type { Notifier } from '../acquisition/notifier';
import { appendAudit } from '../audit-service';
import type { Actor, ServiceContext } from '../context';
import { parseInput } from '../definition-service';
import { appendDeploymentHistory, installNoticeFor } from '../deployment/deployment-service';
import { executeRun, type MonitorOptions, type RunReportEntry } from './monitor-service';

export const deployCheckInputSchema = z
  .object({
    from: z
      .enum(['controller', 'agent', 'site'])
      .optional()
      .describe("who probes; default the deployment's agent when it has one, else the controller"),
    site: z
      .string()
      .regex(SITE_PATTERN, 'a site label')
      .optional()
      .describe("with from 'site': the site whose connected agents may probe; default the deployment agent's site"),
  })
  .strict();

export const manualCheckInputSchema = z
  .object({
    note: z.string().min(1).max(4000).describe('what was checked, by whom'),
    withoutCheck: z.boolean().default(false).describe('"continue without check": mark installed, not verified'),
  })
  .strict();

/** The checks that decide a deploy check (D6); hostname or expiry findings are the monitor's business. */
const DECIDING = ['Reachable', 'ServedCertMatchesCurrent', 'IntermediatesServed'] as const;

export interface DeployCheckResult {
  deployment: Deployment;
  runId: string;
  result: RunReportEntry;
}

function noticeFor(
  d: Deployment,
  cert: Parameters<typeof installNoticeFor>[1],
  definitionName: string,
  note: string
): Record<string, unknown> {
  return {
    ...installNoticeFor(d, cert, definitionName, 'agent'),
    method: d.method === 'offline' ? 'offline-installer' : d.method,
    note: note.slice(0, 4000),
  };
}

async function loadDeployment(ctx: ServiceContext, id: string) {
  const em = ctx.db.em().fork();
  const d = z.uuid().safeParse(id).success ? await em.findOne(DeploymentEntity, { id }) : null;
  if (!d) throw new CertFleetError('CF_NOT_FOUND', `deployment: ${id} not found`);
  if (d.status === 'superseded') {
    throw new CertFleetError('CF_CONFLICT', 'deployment: superseded by a newer deployment; check that one');
  }
  const cert = await em.findOneOrFail(CertificateEntity, { id: d.certificateId });
  const def = await em.findOneOrFail(DefinitionEntity, { id: d.definitionId });
  return { d, cert, def };
}

/**
 * Runs the deploy check of a deployment and records the outcome (deployment status, deployment history, audit,
 * monitoring history). CF_VALIDATION when `from: 'agent'` is asked for a deployment without an agent, or
 * `from: 'site'` without a site (given, or the deployment agent's). A site check goes to a connected agent of the
 * site (re-assigned once when it does not answer); with none connected it fails with `NoSiteAgentConnected`.
 */
export async function deployCheck(
  ctx: ServiceContext,
  deploymentId: string,
  options: {
    from?: 'controller' | 'agent' | 'site';
    site?: string;
    actor?: Actor;
    notifier?: Notifier;
    monitor?: MonitorOptions;
  } = {}
): Promise<DeployCheckResult> {
  const { d, cert, def } = await loadDeployment(ctx, deploymentId);
  const target = d.target as Partial<DeployTarget>;
  const endpoint = checkEndpointOf(target as DeployTarget, def.subject.commonName, deriveOptionsOf(ctx));
  const agentId = d.agentId ?? target.agentId ?? null;
  if (options.from === 'agent' && !agentId) {
    throw new CertFleetError('CF_VALIDATION', 'deployment: this deployment has no agent to run the check');
  }
  let site: string | null = null;
  if (options.from === 'site') {
    site =
      options.site ??
      (agentId ? ((await ctx.db.em().fork().findOne(AgentEntity, { id: agentId }))?.site ?? null) : null);
    if (!site) {
      throw new CertFleetError(
        'CF_VALIDATION',
        "deployment: from 'site' needs a site (give one, or deploy through an agent that has a site label)"
      );
    }
  }
  const viaSite = site !== null; // probe jobs carry STARTTLS (the agent runs the dialogue)
  // Agent probe jobs carry no STARTTLS dialogue: mail servers are checked from the controller.
  const viaAgent = !viaSite && options.from !== 'controller' && agentId !== null && !endpoint.starttls;
  const { run, results } = await executeRun(
    ctx,
    'deploy-check',
    [
      {
        endpointId: null,
        definition: { ...def, operationMode: 'managed' },
        expected: cert,
        target: {
          host: endpoint.host,
          port: endpoint.port,
          serverName: endpoint.serverName ?? null,
          starttls: endpoint.starttls,
          probeFrom: viaSite ? 'site' : viaAgent ? 'agent' : 'controller',
          agentId: viaAgent ? agentId : null,
          site: viaSite ? site : null,
        },
      },
    ],
    options.monitor
  );
  const r = results[0];
  if (!r) throw new CertFleetError('CF_INTERNAL', 'deployment: the deploy check produced no result');
  const deciding = DECIDING.map((code) => r.outcome.checks.find((c) => c.code === code));
  const verified = deciding[1]?.status === 'ok' && deciding[2]?.status !== 'failing' && deciding[0]?.status === 'ok';
  const firstFailure = deciding.find((c) => c && c.status === 'failing');
  const reason = verified ? 'DeployCheckPassed' : (firstFailure?.reason ?? r.outcome.reason);
  // the failure message may quote the server's own strings (pgText: no NUL reaches PostgreSQL)
  const message = pgText(
    verified
      ? `deploy check by ${r.probedBy}: ${r.entry.endpoint} serves the deployed certificate (SHA-256 ${cert.sha256})`
      : `deploy check by ${r.probedBy}: ${firstFailure?.message ?? r.outcome.message}`
  );
  const now = ctx.clock.now();
  const actor = options.actor ?? 'system:deploy-check';
  const updated = await ctx.db.em().transactional(async (em) => {
    const row = await em.findOneOrFail(DeploymentEntity, { id: d.id });
    row.status = verified ? 'verified' : 'failed';
    row.reason = reason.slice(0, 100);
    row.message = message.slice(0, 8000);
    row.servedSha256 = r.outcome.leaf?.sha256 ?? null;
    row.updatedAt = now;
    appendDeploymentHistory(em, row, row.status as 'verified' | 'failed', `${reason}: ${message}`.slice(0, 2000), now);
    await appendAudit(
      em,
      {
        actor,
        action: 'deployment.checked',
        targetType: 'deployment',
        targetId: row.id,
        details: { status: row.status, reason, probedBy: r.probedBy, runId: run.id },
      },
      now
    );
    return row;
  });
  if (options.notifier) {
    await options.notifier.notify('install-notification', noticeFor(updated, cert, def.name, message));
  }
  return { deployment: updated, runId: run.id, result: r.entry };
}

/**
 * Completes a deploy check by hand (D6): `verified` with the operator's note, or with `withoutCheck` ("continue
 * without check") `installed`, so nothing claims a verification that did not happen.
 */
export async function completeDeployCheckManually(
  ctx: ServiceContext,
  deploymentId: string,
  note: string,
  actor: Actor,
  options: { withoutCheck?: boolean; notifier?: Notifier } = {}
): Promise<Deployment> {
  const input = parseInput(
    manualCheckInputSchema,
    { note, withoutCheck: options.withoutCheck ?? false },
    'deployment.check'
  );
  const { d, cert, def } = await loadDeployment(ctx, deploymentId);
  const now = ctx.clock.now();
  const status = input.withoutCheck ? 'installed' : 'verified';
  const reason = input.withoutCheck ? 'CheckSkipped' : 'ManuallyConfirmed';
  const updated = await ctx.db.em().transactional(async (em) => {
    const row = await em.findOneOrFail(DeploymentEntity, { id: d.id });
    row.status = status;
    row.reason = reason;
    row.message =
      `${input.withoutCheck ? 'continued without check' : 'checked by hand'} by ${actor}: ${input.note}`.slice(0, 8000);
    row.updatedAt = now;
    appendDeploymentHistory(em, row, status, `${reason}: ${input.note}`.slice(0, 2000), now);
    await appendAudit(
      em,
      {
        actor,
        action: input.withoutCheck ? 'deployment.check-skipped' : 'deployment.check-completed',
        targetType: 'deployment',
        targetId: row.id,
        details: { status, note: input.note.slice(0, 500) },
      },
      now
    );
    return row;
  });
  if (options.notifier) {
    await options.notifier.notify('install-notification', noticeFor(updated, cert, def.name, updated.message ?? ''));
  }
  return updated;
}
