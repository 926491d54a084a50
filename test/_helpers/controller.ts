import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { fixedClock, type Clock } from '@certfleet/shared';
import { loadConfig } from '../../controller/src/config/config';
import { startController, type RunningController, type StartOptions } from '../../controller/src/controller';
import type { AcquisitionDeps } from '../../controller/src/services/acquisition/acquisition-service';
import type { ServiceContext } from '../../controller/src/services/context';
import { dropDatabase, freshDatabaseUrl } from './db';

export interface TestController {
  controller: RunningController;
  home: string;
  databaseUrl: string;
  /** Logs in as admin, changes the generated password, returns a bearer token. */
  adminToken(): Promise<string>;
  /** HTTPS request to the live controller, trusting only its built-in CA. */
  request(
    method: string,
    url: string,
    body?: unknown,
    token?: string
  ): Promise<{ status: number; json: unknown; headers: Record<string, unknown> }>;
  close(): Promise<void>;
}

export const ADMIN_PASSWORD = 'correct horse battery staple';

/** Starts a real controller (HTTPS on a free port) on a fresh database and a temporary CERTFLEET_HOME. */
export async function startTestController(
  options: {
    clock?: Clock;
    log?: pino.Logger;
    acquisition?: (ctx: ServiceContext) => AcquisitionDeps;
    agentServer?: StartOptions['agentServer'];
    /** Requested monitoring runs and run recovery (poll periods, bounds). */
    monitorRuns?: StartOptions['monitorRuns'];
    /** pg-boss clock settings (e.g. check cron schedules every second). */
    scheduler?: StartOptions['scheduler'];
    /** Address the agents' mutual-TLS listener binds (e.g. a test veth address). @default '127.0.0.1' */
    agentHost?: string;
    /**
     * Start a second replica of this running test controller: the same database and CERTFLEET_HOME (master key),
     * its own HTTPS listener. Its `close()` stops only this process; the first controller's `close()` drops the DB.
     * Not a first start: use the first controller's `adminToken()` (sessions live in the shared database).
     */
    replicaOf?: TestController;
  } = {}
): Promise<TestController> {
  const replica = options.replicaOf;
  const home = replica ? replica.home : fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-home-'));
  const databaseUrl = replica ? replica.databaseUrl : await freshDatabaseUrl();
  const config = loadConfig({
    CERTFLEET_HOME: home,
    DATABASE_URL: databaseUrl,
    CERTFLEET_HTTPS_PORT: '0',
    CERTFLEET_HTTPS_HOST: '127.0.0.1',
    CERTFLEET_AGENT_PORT: '0',
    CERTFLEET_AGENT_HOST: options.agentHost ?? '127.0.0.1',
    CERTFLEET_LOG_LEVEL: 'silent',
  });
  const controller = await startController(config, {
    clock: options.clock,
    log: options.log ?? pino({ level: 'silent' }),
    ...(options.acquisition ? { acquisition: options.acquisition } : {}),
    ...(options.agentServer ? { agentServer: options.agentServer } : {}),
    ...(options.monitorRuns ? { monitorRuns: options.monitorRuns } : {}),
    ...(options.scheduler ? { scheduler: options.scheduler } : {}),
  });
  const ca = controller.caCertificatePem;
  const request: TestController['request'] = (method, url, body, token) =>
    new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = https.request(
        `${controller.url}${url}`,
        {
          method,
          ca,
          servername: 'localhost',
          headers: {
            ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}),
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            let json: unknown = text;
            try {
              json = text ? JSON.parse(text) : null;
            } catch {
              /* not JSON */
            }
            resolve({ status: res.statusCode ?? 0, json, headers: res.headers });
          });
        }
      );
      req.on('error', reject);
      if (data) req.write(data);
      req.end();
    });
  const loginAdmin = async (): Promise<string> => {
    const initial = controller.initialAdmin;
    if (!initial) throw new Error('no initial admin password (not a first start)');
    const first = await request('POST', '/api/v1/auth/login', { username: 'admin', password: initial.password });
    const t1 = (first.json as { token: string }).token;
    await request(
      'POST',
      '/api/v1/auth/password',
      { currentPassword: initial.password, newPassword: ADMIN_PASSWORD },
      t1
    );
    const second = await request('POST', '/api/v1/auth/login', { username: 'admin', password: ADMIN_PASSWORD });
    return (second.json as { token: string }).token;
  };
  // One login shared by concurrent callers: racing logins with the replaced generated password would fail, and
  // repeated failures for one account from one address are throttled (SPEC U1).
  let token: Promise<string> | undefined;
  return {
    controller,
    home,
    databaseUrl,
    request,
    adminToken: () =>
      (token ??= loginAdmin().catch((err: unknown) => {
        token = undefined;
        throw err;
      })),
    close: async () => {
      await controller.stop();
      if (replica) return;
      await dropDatabase(databaseUrl).catch(() => undefined);
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}

export { fixedClock };

/**
 * Points the in-process controller at a stand-in for the agent single executable (a tiny shell script in `dir`):
 * enough for offline bundles whose archive the test never opens. The controller reads the variable per call.
 */
export function useStandInAgentExecutable(dir: string): void {
  const exe = path.join(dir, 'certfleet-agent');
  fs.writeFileSync(exe, '#!/bin/sh\necho "stand-in agent executable"\n', { mode: 0o755 });
  process.env.CERTFLEET_AGENT_EXECUTABLE = exe;
}
