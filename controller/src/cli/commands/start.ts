import { Command } from 'commander';
import { isCertFleetError } from '@certfleet/shared';
import { loadConfig } from '../../config/config';
import { startController } from '../../controller';

/**
 * `certfleet start` (what `npm start` runs): starts the controller on the embedded PostgreSQL under
 * CERTFLEET_HOME (or DATABASE_URL). Ctrl-C / SIGTERM stop the API, the job queue and the embedded PostgreSQL.
 */
export function startCommand(): Command {
  return new Command('start')
    .description('start the controller (HTTPS API on 8443; embedded PostgreSQL unless DATABASE_URL is set)')
    .option('--port <port>', 'HTTPS port (overrides CERTFLEET_HTTPS_PORT)')
    .option('--home <dir>', 'data directory (overrides CERTFLEET_HOME)')
    .action(async (opts: { port?: string; home?: string }) => {
      const env = { ...process.env };
      if (opts.port) env.CERTFLEET_HTTPS_PORT = opts.port;
      if (opts.home) env.CERTFLEET_HOME = opts.home;
      try {
        const config = loadConfig(env);
        const controller = await startController(config, {
          onInitialAdmin: (admin) => {
            process.stderr.write(
              [
                '',
                '==================================================================',
                ' CertFleet first start: an administrator account was created.',
                `   user:     ${admin.username}`,
                `   password: ${admin.password}`,
                ' This password is shown only once and must be changed at first login.',
                '==================================================================',
                '',
              ].join('\n')
            );
          },
        });
        process.stderr.write(`CertFleet controller ready at ${controller.url} (home ${config.home})\n`);
        let stopping = false;
        const stop = (signal: string): void => {
          if (stopping) return;
          stopping = true;
          process.stderr.write(`\n${signal}: stopping the controller…\n`);
          controller.stop().then(
            () => process.exit(0),
            (err: unknown) => {
              process.stderr.write(`stop failed: ${String(err)}\n`);
              process.exit(1);
            }
          );
        };
        process.on('SIGINT', () => stop('SIGINT'));
        process.on('SIGTERM', () => stop('SIGTERM'));
      } catch (err) {
        if (isCertFleetError(err)) {
          process.stderr.write(`certfleet start: ${err.code}: ${err.message}\n`);
          process.exitCode = 2;
          return;
        }
        throw err;
      }
    });
}
