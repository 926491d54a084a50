/**
 * `certfleet agents …`: agent enrollment and bans from the command line (SPEC G1, G3), on the local repository
 * (embedded PostgreSQL under CERTFLEET_HOME, or DATABASE_URL), like the other repository commands.
 *
 *   agents token [--label L] [--site S] [--ttl-minutes N] [--json]   a one-time join token (shown once), the agent
 *                                                          CA SHA-256 and the `certfleet-agent enroll` command line;
 *                                                          `--site` labels the agent that enrolls with it (SPEC M4)
 *   agents list [--json]                                   enrolled agents, newest first (with their site)
 *   agents set-site AGENT_ID SITE|--clear [--json]         set or clear an agent's site label
 *   agents ban AGENT_ID [--json]                           ban an agent (idempotent)
 *
 * Errors print `certfleet agents <cmd>: CODE: message` (or the JSON error shape with --json) and exit 2.
 */
import { Command } from 'commander';
import { CertFleetError } from '@certfleet/shared';
import { loadConfig } from '../../config/config';
import { loadOrCreateAgentPki } from '../../services/agents/agent-pki';
import { updateAgent } from '../../services/agents/agent-sites';
import { banAgent } from '../../services/agents/enrollment';
import { createJoinToken } from '../../services/agents/join-tokens';
import { AgentEntity } from '../../storage/entities';
import { cliActor, reportCliError, withLocalStore } from '../cli-store';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** A whole number from a command-line option, or CF_VALIDATION. */
export function parseWholeNumber(value: string, option: string): number {
  if (!/^\d{1,6}$/.test(value)) throw new CertFleetError('CF_VALIDATION', `${option} must be a whole number`);
  return Number.parseInt(value, 10);
}

/** Throws CF_VALIDATION unless `value` is a UUID (ids are UUIDs; the database would reject anything else). */
export function requireUuid(value: string, what: string): string {
  if (!UUID.test(value))
    throw new CertFleetError('CF_VALIDATION', `${what} must be a UUID, got ${JSON.stringify(value)}`);
  return value.toLowerCase();
}

/** The `agents` command group for the `certfleet` program. */
export function agentsCommand(): Command {
  const agents = new Command('agents').description('deployment agents: join tokens, list, ban');

  agents
    .command('token')
    .description(
      'create a one-time join token for enrolling an agent; the token is printed once (only its hash is stored)'
    )
    .option('--label <label>', 'what the token is for, e.g. the host name')
    .option('--site <site>', 'site label of the agent that enrolls with it (endpoints probed by "any agent of a site")')
    .option('--ttl-minutes <n>', 'minutes until the token expires (1..1440, default 60)')
    .option('--json', 'print one JSON object')
    .action(async (opts: { label?: string; site?: string; ttlMinutes?: string; json?: boolean }) => {
      try {
        const ttlMinutes =
          opts.ttlMinutes === undefined ? undefined : parseWholeNumber(opts.ttlMinutes, '--ttl-minutes');
        const config = loadConfig(process.env);
        const { created, caSha256 } = await withLocalStore(async (ctx) => {
          const pki = await loadOrCreateAgentPki(ctx);
          const token = await createJoinToken(
            ctx,
            {
              ...(ttlMinutes !== undefined ? { ttlMinutes } : {}),
              ...(opts.label !== undefined ? { label: opts.label } : {}),
              ...(opts.site !== undefined ? { site: opts.site } : {}),
            },
            cliActor()
          );
          return { created: token, caSha256: pki.caSha256 };
        });
        const controller = `${config.publicHostnames[0] ?? 'HOST'}:${config.agentPort}`;
        const enrollCommand = `certfleet-agent enroll --controller ${controller} --token ${created.token} --ca-sha256 ${caSha256}`;
        if (opts.json) {
          printJson({
            id: created.id,
            token: created.token,
            label: created.label,
            site: created.site,
            expiresAt: created.expiresAt.toISOString(),
            controllerCaSha256: caSha256,
            enrollCommand,
          });
          return;
        }
        process.stdout.write(
          [
            `join token ${created.id}${created.label ? ` (${created.label})` : ''}${
              created.site ? ` for site ${created.site}` : ''
            }, valid until ${created.expiresAt.toISOString()}, single use`,
            `  token:      ${created.token}`,
            `  CA SHA-256: ${caSha256}`,
            '  the token is shown only now. On the server, as root:',
            `    ${enrollCommand}`,
            '',
          ].join('\n')
        );
      } catch (err) {
        reportCliError(err, opts.json, 'agents token');
      }
    });

  agents
    .command('list')
    .description('list enrolled agents, newest first')
    .option('--json', 'print one JSON object')
    .action(async (opts: { json?: boolean }) => {
      try {
        const rows = await withLocalStore((ctx) =>
          ctx.db.em().find(AgentEntity, {}, { orderBy: { enrolledAt: 'desc' }, limit: 1000 })
        );
        if (opts.json) {
          printJson({ items: rows.map((a) => ({ ...a })) });
          return;
        }
        if (!rows.length) {
          process.stdout.write('no agents enrolled: create a join token with `certfleet agents token`\n');
          return;
        }
        const table = [
          ['ID', 'STATUS', 'NAME', 'SITE', 'VERSION', 'ENROLLED', 'LAST SEEN', 'CERT UNTIL'],
          ...rows.map((a) => [
            a.id,
            a.status,
            a.name,
            a.site ?? '-',
            a.agentVersion,
            a.enrolledAt.toISOString(),
            a.lastSeenAt?.toISOString() ?? '-',
            a.certNotAfter.toISOString(),
          ]),
        ];
        const widths = (table[0] as string[]).map((_, i) => Math.max(...table.map((r) => (r[i] as string).length)));
        for (const row of table)
          process.stdout.write(
            `${row
              .map((c, i) => c.padEnd(widths[i] as number))
              .join('  ')
              .trimEnd()}\n`
          );
      } catch (err) {
        reportCliError(err, opts.json, 'agents list');
      }
    });

  agents
    .command('set-site')
    .description('set (or with --clear remove) the site label of an agent (SPEC M4: "any agent of a site")')
    .argument('<agentId>', 'the agent id (see `certfleet agents list`)')
    .argument('[site]', 'the site label (letters, digits, . _ -; at most 63)')
    .option('--clear', 'remove the site label')
    .option('--json', 'print one JSON object')
    .action(async (agentId: string, site: string | undefined, opts: { clear?: boolean; json?: boolean }) => {
      try {
        const id = requireUuid(agentId, 'agents set-site: the agent id');
        if (opts.clear === (site !== undefined)) {
          throw new CertFleetError('CF_VALIDATION', 'agents set-site: give a site label or --clear (not both)');
        }
        const agent = await withLocalStore((ctx) => updateAgent(ctx, id, { site: site ?? null }, cliActor()));
        if (opts.json) printJson(agent);
        else process.stdout.write(`agent ${agent.id} (${agent.name}): site ${agent.site ?? '(none)'}\n`);
      } catch (err) {
        reportCliError(err, opts.json, 'agents set-site');
      }
    });

  agents
    .command('ban')
    .description(
      'ban (revoke) an agent: every later call is refused; a running controller closes its live stream within ' +
        '2 s (its periodic ban check), nothing needs to be restarted'
    )
    .argument('<agentId>', 'the agent id (see `certfleet agents list`)')
    .option('--json', 'print one JSON object')
    .action(async (agentId: string, opts: { json?: boolean }) => {
      try {
        const id = requireUuid(agentId, 'agents ban: the agent id');
        const agent = await withLocalStore((ctx) => banAgent(ctx, id, cliActor()));
        if (opts.json) printJson(agent);
        else
          process.stdout.write(
            `agent ${agent.id} (${agent.name}) is banned since ${agent.bannedAt?.toISOString() ?? '?'}; ` +
              'a running controller closes its stream within 2 s\n'
          );
      } catch (err) {
        reportCliError(err, opts.json, 'agents ban');
      }
    });

  return agents;
}
