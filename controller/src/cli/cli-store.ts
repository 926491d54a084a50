import os from 'node:os';
import pino from 'pino';
import { isCertFleetError, systemClock } from '@certfleet/shared';
import { loadConfig } from '../config/config';
import { openStore } from '../controller';
import { createLogger } from '../logger';
import type { ServiceContext } from '../services/context';

/** Runs `fn` with a service context on the local repository (embedded PostgreSQL or DATABASE_URL), then closes it. */
export async function withLocalStore<T>(fn: (ctx: ServiceContext) => Promise<T>): Promise<T> {
  const config = loadConfig(process.env);
  const log = createLogger(process.env.CERTFLEET_LOG_LEVEL ?? 'warn', pino.destination(2));
  const store = await openStore(config, log);
  try {
    return await fn({ db: store.db, masterKey: store.masterKey, clock: systemClock, log });
  } finally {
    await store.close();
  }
}

/** The audit actor for CLI actions: the OS user running the command. */
export function cliActor(): string {
  return `cli:${os.userInfo().username}`;
}

/** Prints a CertFleetError as the JSON error shape (with --json) or a one-line message; sets exit code 2. */
export function reportCliError(err: unknown, json: boolean | undefined, command: string): void {
  if (!isCertFleetError(err)) throw err;
  if (json) process.stdout.write(JSON.stringify(err.toJSON()) + '\n');
  else process.stderr.write(`certfleet ${command}: ${err.code}: ${err.message}\n`);
  process.exitCode = 2;
}
