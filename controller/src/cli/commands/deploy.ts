/**
 * `certfleet deploy …`: deployments from the command line (SPEC D2, D3), on the local repository (embedded
 * PostgreSQL under CERTFLEET_HOME, or DATABASE_URL), like the other repository commands.
 *
 *   deploy now CERT_ID [--target N] [--json]               open deployments for the certificate's deploy targets;
 *                                                          the running controller seals and pushes them to the agents
 *   deploy list [--certificate ID] [--agent ID] [--json]   deployments, newest first
 *   deploy offline CERT_ID [--target N] --out F [--json]   an offline installer archive (tar.gz, mode 0600); the
 *                                                          passphrase is printed once
 *   deploy receipt DEPLOYMENT_ID RECEIPT.json [--json]     accept an offline install receipt (the deploy check)
 *
 * Errors print `certfleet deploy <cmd>: CODE: message` (or the JSON error shape with --json) and exit 2.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { CertFleetError, atomicWriteFileSync } from '@certfleet/shared';
import type { Deployment } from '../../domain/agent';
import type { DeployTarget } from '../../domain/definition';
import { mailNotifier } from '../../notifications';
import { loadOrCreateAgentPki } from '../../services/agents/agent-pki';
import { appendAudit } from '../../services/audit-service';
import { getCertificate } from '../../services/certificate-service';
import { listDeployments, openDeployments } from '../../services/deployment/deployment-service';
import {
  acceptReceipt,
  agentExecutablePath,
  createOfflineBundle,
  offlineArchive,
} from '../../services/deployment/offline-bundle';
import { DefinitionEntity } from '../../storage/entities';
import { cliActor, reportCliError, withLocalStore } from '../cli-store';
import { parseWholeNumber, requireUuid } from './agents';

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function targetLabel(d: Pick<Deployment, 'target'>): string {
  const t = d.target as Partial<DeployTarget>;
  return `${t.serverType ?? '?'}:${t.serverName ?? '?'}`;
}

/** The fields the CLI shows of a deployment (never the receipt key). */
function deploymentSummary(d: Deployment) {
  return {
    id: d.id,
    certificateId: d.certificateId,
    definitionId: d.definitionId,
    slot: d.slot,
    version: d.version,
    method: d.method,
    agentId: d.agentId,
    target: targetLabel(d),
    status: d.status,
    reason: d.reason,
    message: d.message,
    servedSha256: d.servedSha256,
    receiptAt: d.receiptAt?.toISOString() ?? null,
    createdBy: d.createdBy,
    createdAt: d.createdAt.toISOString(),
    updatedAt: d.updatedAt.toISOString(),
  };
}

function printTable(rows: string[][]): void {
  const widths = (rows[0] as string[]).map((_, i) => Math.max(...rows.map((r) => (r[i] as string).length)));
  for (const row of rows)
    process.stdout.write(
      `${row
        .map((c, i) => c.padEnd(widths[i] as number))
        .join('  ')
        .trimEnd()}\n`
    );
}

function readReceipt(file: string): unknown {
  let text: string;
  try {
    const st = fs.statSync(file);
    if (st.size > 64 * 1024)
      throw new CertFleetError('CF_RECEIPT_INVALID', `deploy receipt: ${file} is larger than 64 KiB`);
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof CertFleetError) throw err;
    throw new CertFleetError(
      'CF_VALIDATION',
      `deploy receipt: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new CertFleetError('CF_RECEIPT_INVALID', `deploy receipt: ${file} is not JSON`);
  }
}

/** The `deploy` command group for the `certfleet` program. */
export function deployCommand(): Command {
  const deploy = new Command('deploy').description(
    'deployments: deploy now, list, offline installer bundles, offline receipts'
  );

  deploy
    .command('now')
    .description(
      "open deployments for a certificate's agent deploy targets (all, or one with --target); the running " +
        'controller seals each bundle and pushes it to its agent within seconds (nothing is sealed here)'
    )
    .argument('<certificateId>', 'the certificate to deploy (it needs its private key in the repository)')
    .option('--target <n>', 'only this deploy target (index in the definition, from 0)')
    .option('--json', 'print one JSON object')
    .action(async (certificateId: string, opts: { target?: string; json?: boolean }) => {
      try {
        const targetIndex = opts.target === undefined ? undefined : parseWholeNumber(opts.target, '--target');
        const actor = cliActor();
        const opened = await withLocalStore((ctx) => {
          const now = ctx.clock.now();
          return ctx.db.em().transactional(async (em) => {
            const cert = await getCertificate(em, certificateId);
            if (!cert.privateKeyId) {
              throw new CertFleetError(
                'CF_DEPLOYMENT_TARGET_INVALID',
                'deployment: this certificate has no private key in the repository, so it cannot be deployed'
              );
            }
            const def = await em.findOneOrFail(DefinitionEntity, { id: cert.definitionId });
            if (targetIndex !== undefined && !def.deployTargets[targetIndex]) {
              throw new CertFleetError(
                'CF_NOT_FOUND',
                `deployment: the definition has no deploy target #${targetIndex}`
              );
            }
            const rows = await openDeployments(em, cert.id, cert.definitionId, now, actor, targetIndex);
            await appendAudit(
              em,
              {
                actor,
                action: 'deployment.requested',
                targetType: 'certificate',
                targetId: cert.id,
                details: { deployments: rows.map((r) => r.id) },
              },
              now
            );
            return rows;
          });
        });
        if (opts.json) {
          printJson({ items: opened.map(deploymentSummary) });
          return;
        }
        if (!opened.length) {
          process.stdout.write(
            'no agent deployment opened: the definition has no agent deploy target (history records were written)\n'
          );
          return;
        }
        for (const d of opened)
          process.stdout.write(
            `deployment ${d.id}  ${targetLabel(d)}  slot ${d.slot} version ${d.version}  agent ${d.agentId ?? '-'}  ${d.status}\n`
          );
        process.stdout.write('the running controller seals and pushes them to their agents within seconds\n');
      } catch (err) {
        reportCliError(err, opts.json, 'deploy now');
      }
    });

  deploy
    .command('list')
    .description('list deployments, newest first')
    .option('--certificate <id>', 'only the deployments of this certificate')
    .option('--agent <id>', 'only the deployments of this agent')
    .option('--json', 'print one JSON object')
    .action(async (opts: { certificate?: string; agent?: string; json?: boolean }) => {
      try {
        const filter = {
          ...(opts.certificate ? { certificateId: requireUuid(opts.certificate, '--certificate') } : {}),
          ...(opts.agent ? { agentId: requireUuid(opts.agent, '--agent') } : {}),
        };
        const rows = await withLocalStore((ctx) => listDeployments(ctx, filter));
        if (opts.json) {
          printJson({ items: rows.map(deploymentSummary) });
          return;
        }
        if (!rows.length) {
          process.stdout.write('no deployments\n');
          return;
        }
        printTable([
          ['ID', 'STATUS', 'METHOD', 'TARGET', 'VERSION', 'CERTIFICATE', 'UPDATED', 'REASON'],
          ...rows.map((d) => [
            d.id,
            d.status,
            d.method,
            targetLabel(d),
            String(d.version),
            d.certificateId,
            d.updatedAt.toISOString(),
            d.reason ?? '',
          ]),
        ]);
      } catch (err) {
        reportCliError(err, opts.json, 'deploy list');
      }
    });

  deploy
    .command('offline')
    .description(
      'make an offline installer archive (tar.gz with the agent executable and a passphrase-sealed bundle) for a ' +
        'host without a network path; the passphrase is printed once. Needs the agent executable ' +
        '(`npm run build:agent`, or CERTFLEET_AGENT_EXECUTABLE)'
    )
    .argument('<certificateId>', 'the certificate to deploy (it needs its private key in the repository)')
    .option('--target <n>', 'the deploy target (index in the definition, from 0)', '0')
    .requiredOption('--out <file>', 'the archive to write (mode 0600)')
    .option('--json', 'print one JSON object')
    .action(async (certificateId: string, opts: { target: string; out: string; json?: boolean }) => {
      try {
        const targetIndex = parseWholeNumber(opts.target, '--target');
        const executable = agentExecutablePath();
        if (!fs.existsSync(executable)) {
          // Checked before anything is recorded, so a missing executable leaves no dangling deployment behind.
          throw new CertFleetError(
            'CF_CONFIG_INVALID',
            `deployment: the agent executable ${executable} is missing; build it with \`npm run build:agent\` or set CERTFLEET_AGENT_EXECUTABLE`
          );
        }
        const outDir = path.dirname(path.resolve(opts.out));
        if (!fs.existsSync(outDir))
          throw new CertFleetError('CF_VALIDATION', `deploy offline: the directory ${outDir} does not exist`);
        const { bundle, archive } = await withLocalStore(async (ctx) => {
          const pki = await loadOrCreateAgentPki(ctx);
          const created = await createOfflineBundle(ctx, pki, { certificateId, targetIndex }, cliActor());
          return { bundle: created, archive: await offlineArchive(created, executable) };
        });
        try {
          atomicWriteFileSync(opts.out, archive, 0o600);
        } catch (err) {
          throw new CertFleetError(
            'CF_VALIDATION',
            `deploy offline: cannot write ${opts.out}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
            { cause: err }
          );
        }
        const info = {
          file: opts.out,
          deploymentId: bundle.deploymentId,
          bundleId: bundle.bundleId,
          signingKeySha256: bundle.signingKeySha256,
          passphrase: bundle.passphrase,
        };
        if (opts.json) printJson(info);
        else
          process.stdout.write(
            [
              `wrote ${opts.out} (${archive.length} bytes, mode 0600)`,
              `  deployment:          ${info.deploymentId}`,
              `  signing key SHA-256: ${info.signingKeySha256}`,
              `  passphrase:          ${info.passphrase}`,
              '  the passphrase is shown only now; hand it over separately from the archive.',
              `  upload the receipt with: certfleet deploy receipt ${info.deploymentId} receipt.json`,
              '',
            ].join('\n')
          );
      } catch (err) {
        reportCliError(err, opts.json, 'deploy offline');
      }
    });

  deploy
    .command('receipt')
    .description('accept the signed receipt of an offline install as the deploy check')
    .argument('<deploymentId>', 'the offline deployment (printed by `certfleet deploy offline`)')
    .argument('<receipt>', 'the receipt.json the offline installer wrote')
    .option('--json', 'print one JSON object')
    .action(async (deploymentId: string, receiptFile: string, opts: { json?: boolean }) => {
      try {
        const id = requireUuid(deploymentId, 'deploy receipt: the deployment id');
        const raw = readReceipt(receiptFile);
        const d = await withLocalStore((ctx) => acceptReceipt(ctx, id, raw, cliActor(), mailNotifier(ctx)));
        if (opts.json) printJson(deploymentSummary(d));
        else
          process.stdout.write(
            `deployment ${d.id} (${targetLabel(d)}): ${d.status}${d.reason ? ` — ${d.reason}` : ''}\n`
          );
      } catch (err) {
        reportCliError(err, opts.json, 'deploy receipt');
      }
    });

  return deploy;
}
