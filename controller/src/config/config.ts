import path from 'node:path';
import { z } from 'zod';
import { CertFleetError } from '@certfleet/shared';

/**
 * Controller configuration, read once from the environment at start-up and validated (fail fast).
 *
 * - `CERTFLEET_HOME` — data directory (master key, embedded PostgreSQL, backups). @default `./.certfleet`
 * - `DATABASE_URL` — external PostgreSQL; when absent an embedded PostgreSQL runs under `CERTFLEET_HOME/pgdata`.
 * - `CERTFLEET_HTTPS_PORT` — console/API port. @default 8443
 * - `CERTFLEET_HTTPS_HOST` — bind address. @default `0.0.0.0`
 * - `CERTFLEET_PUBLIC_HOSTNAMES` — comma-separated names for the console certificate. @default host name + localhost
 * - `CERTFLEET_LOG_LEVEL` — pino level. @default `info`
 * - `CERTFLEET_AGENT_PORT` / `CERTFLEET_AGENT_HOST` — mutual-TLS gRPC listener for agents. @default 8444 / `0.0.0.0`
 * - `CERTFLEET_AGENT_HANDSHAKE_RATE` — new agent connections admitted per second (reconnect storms queue). @default 200
 * - `CERTFLEET_ACME_HTTP01_PORT` / `CERTFLEET_ACME_HTTP01_HOST` — run the ACME HTTP-01 responder there (usually 80).
 *   @default no responder (http-01 orders then fail with a clear error)
 */
export const configSchema = z.object({
  home: z.string().min(1),
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'DATABASE_URL must be a postgres:// URL')
    .optional(),
  httpsPort: z.coerce.number().int().min(0).max(65535).default(8443),
  httpsHost: z.string().min(1).default('0.0.0.0'),
  publicHostnames: z.array(z.string().min(1)).default([]),
  agentPort: z.coerce.number().int().min(0).max(65535).default(8444),
  agentHost: z.string().min(1).default('0.0.0.0'),
  agentHandshakeRate: z.coerce.number().int().min(1).max(100_000).default(200),
  acmeHttp01Port: z.coerce.number().int().min(1).max(65535).optional(),
  acmeHttp01Host: z.string().min(1).default('0.0.0.0'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type ControllerConfig = z.infer<typeof configSchema>;

/** Parses controller configuration from `env`; throws CF_CONFIG_INVALID naming each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): ControllerConfig {
  const raw = {
    home: path.resolve(cwd, env.CERTFLEET_HOME ?? '.certfleet'),
    databaseUrl: env.DATABASE_URL || undefined,
    httpsPort: env.CERTFLEET_HTTPS_PORT ?? undefined,
    httpsHost: env.CERTFLEET_HTTPS_HOST ?? undefined,
    publicHostnames: env.CERTFLEET_PUBLIC_HOSTNAMES
      ? env.CERTFLEET_PUBLIC_HOSTNAMES.split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : undefined,
    logLevel: env.CERTFLEET_LOG_LEVEL ?? undefined,
    agentPort: env.CERTFLEET_AGENT_PORT ?? undefined,
    agentHost: env.CERTFLEET_AGENT_HOST || undefined,
    agentHandshakeRate: env.CERTFLEET_AGENT_HANDSHAKE_RATE || undefined,
    acmeHttp01Port: env.CERTFLEET_ACME_HTTP01_PORT || undefined,
    acmeHttp01Host: env.CERTFLEET_ACME_HTTP01_HOST || undefined,
  };
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new CertFleetError('CF_CONFIG_INVALID', `config: ${problems.join('; ')}`, { details: { problems } });
  }
  return parsed.data;
}
