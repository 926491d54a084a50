/**
 * `certfleet access …`: the console's access settings on the local repository (embedded PostgreSQL under
 * CERTFLEET_HOME, or DATABASE_URL), working on the database directly. This is the way back in for an administrator
 * who locked themselves out through the API (SPEC U2, U4); running controllers pick a change up within a second.
 *
 *   access allow-list show [--json]            the IP allow-list (empty: every address is allowed)
 *   access allow-list set CIDR... [--json]     replace it (IPv4/IPv6 CIDR blocks or single addresses)
 *   access allow-list clear [--json]           allow every address again
 *   access client-cert-login show [--json]     whether client-certificate login is on, and the thumbprints
 *   access client-cert-login disable [--json]  turn it off (the thumbprints are kept)
 *
 * Changes are audited with the OS user as actor. Errors print `certfleet access <cmd>: CODE: message` (or the JSON
 * error shape with --json) and exit 2.
 */
import { Command } from 'commander';
import {
  getClientCertLogin,
  getIpAllowList,
  setClientCertLogin,
  setIpAllowList,
} from '../../services/access-settings-service';
import { cliActor, reportCliError, withLocalStore } from '../cli-store';

function print(json: boolean | undefined, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : text);
}

function listText(cidrs: string[]): string {
  return cidrs.length
    ? `IP allow-list:\n${cidrs.map((c) => `  ${c}\n`).join('')}`
    : 'IP allow-list: empty (all addresses allowed)\n';
}

export function accessCommand(): Command {
  const access = new Command('access').description(
    'console/API access settings: IP allow-list, client-certificate login'
  );
  const allow = access.command('allow-list').description('IP allow-list of the console and API (SPEC U2)');
  allow
    .command('show')
    .description('print the IP allow-list')
    .option('--json', 'print one JSON object')
    .action(async (opts: { json?: boolean }) => {
      try {
        const r = await withLocalStore((ctx) => getIpAllowList(ctx.db.em()));
        print(opts.json, r, listText(r.cidrs));
      } catch (err) {
        reportCliError(err, opts.json, 'access allow-list show');
      }
    });
  allow
    .command('set')
    .description('replace the IP allow-list (no lock-out check: this is the recovery path)')
    .argument('<cidr...>', 'CIDR blocks or single addresses, e.g. 192.0.2.0/24 2001:db8::/32 127.0.0.1')
    .option('--json', 'print one JSON object')
    .action(async (cidrs: string[], opts: { json?: boolean }) => {
      try {
        const r = await withLocalStore((ctx) => setIpAllowList(ctx, { cidrs }, null, cliActor()));
        print(opts.json, r, listText(r.cidrs));
      } catch (err) {
        reportCliError(err, opts.json, 'access allow-list set');
      }
    });
  allow
    .command('clear')
    .description('empty the IP allow-list: every address is allowed again')
    .option('--json', 'print one JSON object')
    .action(async (opts: { json?: boolean }) => {
      try {
        const r = await withLocalStore((ctx) => setIpAllowList(ctx, { cidrs: [] }, null, cliActor()));
        print(opts.json, r, listText(r.cidrs));
      } catch (err) {
        reportCliError(err, opts.json, 'access allow-list clear');
      }
    });

  const cc = access.command('client-cert-login').description('client-certificate login (SPEC U4)');
  cc.command('show')
    .description('print whether client-certificate login is on and the allowed thumbprints')
    .option('--json', 'print one JSON object')
    .action(async (opts: { json?: boolean }) => {
      try {
        const r = await withLocalStore((ctx) => getClientCertLogin(ctx.db.em()));
        print(
          opts.json,
          r,
          `client-certificate login: ${r.enabled ? 'on' : 'off'}\n${r.thumbprints.map((t) => `  ${t}\n`).join('')}`
        );
      } catch (err) {
        reportCliError(err, opts.json, 'access client-cert-login show');
      }
    });
  cc.command('disable')
    .description('turn client-certificate login off (keeps the thumbprints)')
    .option('--json', 'print one JSON object')
    .action(async (opts: { json?: boolean }) => {
      try {
        const r = await withLocalStore(async (ctx) => {
          const current = await getClientCertLogin(ctx.db.em());
          return setClientCertLogin(ctx, { enabled: false, thumbprints: current.thumbprints }, 'cli', cliActor());
        });
        print(opts.json, r, 'client-certificate login: off\n');
      } catch (err) {
        reportCliError(err, opts.json, 'access client-cert-login disable');
      }
    });
  return access;
}
