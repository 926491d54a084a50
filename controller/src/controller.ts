import type { Server as HttpsServer } from 'node:https';
import { type ConsoleCertificateWatcher, watchConsoleCertificate } from './http/console-certificate-watcher';
import { leafSha256OfPem } from './services/console-certificate-service';
import fs from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { CertFleetError, systemClock, type Clock } from '@certfleet/shared';
import type { ControllerConfig } from './config/config';
import { ensureHome, homeLayout } from './config/home';
import { startAgentServer, type AgentServer, type AgentServerOptions } from './grpc/agent-server';
import { buildApp } from './http/app';
import { startHttp01Responder, type ChallengeResponder, type Http01Responder } from './issuers/acme/http01-responder';
import { createLogger, redactUrl } from './logger';
import { closeMailTransports } from './notifications';
import { startScheduler, type Scheduler, type SchedulerOptions } from './scheduler/scheduler';
import { loadOrCreateMasterKey, readMasterKey, type MasterKey } from './secrets/master-key';
import type { AcquisitionDeps } from './services/acquisition/acquisition-service';
import { defaultAcquisitionDeps } from './services/acquisition/defaults';
import { issueGrpcServerIdentity, loadOrCreateAgentPki } from './services/agents/agent-pki';
import { bootstrap } from './services/bootstrap-service';
import { startDiscoveryRunner, type DiscoveryScanRunner } from './services/discovery/scan-runner';
import { backfillDeployTargetEndpoints } from './services/monitoring/deploy-target-endpoints';
import { startRunExecutor, type RunExecutor, type RunExecutorOptions } from './services/monitoring/run-executor';
import type { ServiceContext } from './services/context';
import { ensureDatabase, openDatabase, withDatabase, type Database } from './storage/database';
import { startEmbeddedPostgres, type RunningPostgres } from './storage/embedded-postgres';
import { PrivateKeyEntity } from './storage/entities';
import { VERSION } from './version';

export const EMBEDDED_DATABASE = 'certfleet';

export interface ConnectedStore {
  db: Database;
  masterKey: MasterKey;
  pg: RunningPostgres | null;
  close(): Promise<void>;
}

/** Resolves the database URL: DATABASE_URL, or the embedded PostgreSQL under CERTFLEET_HOME (started here). */
export async function connectDatabase(
  config: ControllerConfig,
  log: Logger
): Promise<{ url: string; pg: RunningPostgres | null }> {
  if (config.databaseUrl) return { url: config.databaseUrl, pg: null };
  const layout = homeLayout(config.home);
  const t0 = Date.now();
  const pg = await startEmbeddedPostgres({
    dataDir: layout.pgDataDir,
    passwordFile: layout.pgPasswordFile,
    locationFile: layout.pgLocationFile,
    onLog: (line) => log.debug({ pg: line }, 'postgres'),
  });
  try {
    await ensureDatabase(pg.adminUrl, EMBEDDED_DATABASE);
  } catch (err) {
    await pg.stop();
    throw err;
  }
  log.info(
    { ms: Date.now() - t0, port: pg.port, dataDir: pg.dataDir, attached: !pg.owned },
    'embedded PostgreSQL ready'
  );
  return { url: withDatabase(pg.adminUrl, EMBEDDED_DATABASE), pg };
}

/**
 * Opens the repository: database (migrated) and master key. A master key is created only for an empty
 * repository; an existing repository without its key is refused (CF_KEK_MISSING), since nothing could decrypt.
 */
export async function openStore(
  config: ControllerConfig,
  log: Logger,
  options: { createMasterKey?: boolean } = {}
): Promise<ConnectedStore> {
  const layout = homeLayout(config.home);
  ensureHome(layout);
  const { url, pg } = await connectDatabase(config, log);
  let db: Database | undefined;
  try {
    db = await openDatabase(url);
    log.info({ database: redactUrl(url) }, 'database migrated');
    let masterKey: MasterKey;
    if (fs.existsSync(layout.masterKeyFile)) {
      masterKey = readMasterKey(layout.masterKeyFile);
    } else {
      const keys = await db.em().count(PrivateKeyEntity, {});
      if (keys > 0 || options.createMasterKey === false) {
        throw new CertFleetError(
          'CF_KEK_MISSING',
          `master key ${layout.masterKeyFile} is missing but the database holds ${keys} encrypted key(s); restore the master key file`
        );
      }
      masterKey = loadOrCreateMasterKey(layout.masterKeyFile).masterKey;
      log.info({ file: layout.masterKeyFile, kekId: masterKey.id }, 'master key created (mode 0600)');
    }
    const opened = db;
    return {
      db: opened,
      masterKey,
      pg,
      close: async () => {
        await opened.close();
        await pg?.stop();
      },
    };
  } catch (err) {
    await db?.close();
    await pg?.stop();
    throw err;
  }
}

export interface RunningController {
  url: string;
  port: number;
  app: FastifyInstance;
  ctx: ServiceContext;
  caCertificatePem: string;
  initialAdmin: { username: string; password: string } | null;
  /** The agent gRPC listener (port, hub, admission stats). */
  agentServer: AgentServer;
  /** SHA-256 of the agent CA certificate (what `certfleet-agent enroll --ca-sha256` expects). */
  agentCaSha256: string;
  /** Hot swap of the console's TLS certificate when its definition gets a new current certificate (SPEC U3). */
  consoleCertificate: ConsoleCertificateWatcher;
  stop(): Promise<void>;
}

export interface StartOptions {
  clock?: Clock;
  log?: Logger;
  /** Called with the generated admin password on the very first start (printed once by the CLI). */
  onInitialAdmin?: (admin: { username: string; password: string }) => void;
  /** Issuers and notifier for acquisitions (tests inject their own). */
  acquisition?: (ctx: ServiceContext, extras: { http01Responder?: ChallengeResponder }) => AcquisitionDeps;
  /** Overrides for the agent listener (tests: short agent certificates, fast ban checks). */
  agentServer?: Partial<
    Pick<
      AgentServerOptions,
      'enroll' | 'banCheckMs' | 'materializeMs' | 'heartbeatSeconds' | 'handshakeRatePerSecond' | 'drainMs'
    >
  >;
  /** Requested monitoring runs and run recovery (tests: fast polls, short bounds). */
  monitorRuns?: RunExecutorOptions;
  /** pg-boss clock settings (tests: check cron schedules every second). */
  scheduler?: SchedulerOptions;
}

/** Starts the controller: repository, first-start bootstrap, background jobs, HTTPS API. */
export async function startController(
  config: ControllerConfig,
  options: StartOptions = {}
): Promise<RunningController> {
  const log = options.log ?? createLogger(config.logLevel);
  const t0 = Date.now();
  const store = await openStore(config, log);
  let scheduler: Scheduler | undefined;
  let app: FastifyInstance | undefined;
  let responder: Http01Responder | undefined;
  let agentServer: AgentServer | undefined;
  let discovery: DiscoveryScanRunner | undefined;
  let runExecutor: RunExecutor | undefined;
  try {
    const ctx: ServiceContext = { db: store.db, masterKey: store.masterKey, clock: options.clock ?? systemClock, log };
    // Deploy targets of definitions made before derived endpoints existed become monitored endpoints (once).
    const backfilled = await backfillDeployTargetEndpoints(
      ctx,
      config.httpsPort ? { controllerHttpsPort: config.httpsPort } : {}
    );
    if (backfilled) log.info({ endpoints: backfilled }, 'deploy targets added to monitoring');
    const boot = await bootstrap(ctx, config.publicHostnames);
    if (boot.caCreated) log.info('built-in root CA created');
    if (boot.consoleCertificate.renewed) log.info('console TLS certificate issued by the built-in CA');
    if (boot.initialAdmin) options.onInitialAdmin?.(boot.initialAdmin);
    if (config.acmeHttp01Port) {
      responder = await startHttp01Responder({ host: config.acmeHttp01Host, port: config.acmeHttp01Port });
      log.info({ port: responder.port }, 'ACME HTTP-01 responder listening');
    }
    const acquisition = (options.acquisition ?? defaultAcquisitionDeps)(
      ctx,
      responder ? { http01Responder: responder } : {}
    );
    const agentPki = await loadOrCreateAgentPki(ctx);
    agentServer = await startAgentServer(
      ctx,
      agentPki,
      await issueGrpcServerIdentity(ctx, agentPki, config.publicHostnames),
      {
        host: config.agentHost,
        port: config.agentPort,
        handshakeRatePerSecond: config.agentHandshakeRate,
        notifier: acquisition.notifier,
        ...(options.agentServer ?? {}),
      }
    );
    ctx.agentHub = agentServer.hub;
    // Discovery scans left running by a process that died become `interrupted` here, before the API answers.
    discovery = await startDiscoveryRunner(ctx);
    ctx.discoveryRunner = discovery;
    // Marks runs a dead controller left `running` as interrupted, then executes runs requested by other processes.
    runExecutor = await startRunExecutor(ctx, options.monitorRuns);
    scheduler = await startScheduler(store.db.url, { ctx, acquisition, log }, options.scheduler);
    ctx.jobSchedules = scheduler.schedules;
    app = await buildApp({
      ctx,
      acquisition,
      agentPki,
      version: VERSION,
      https: {
        key: boot.consoleCertificate.privateKeyPem,
        cert: [boot.consoleCertificate.certificatePem, ...boot.consoleCertificate.chainPem].join(''),
      },
      isReady: async () => store.db.orm.isConnected(),
    });
    await app.listen({ port: config.httpsPort, host: config.httpsHost });
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : config.httpsPort;
    ctx.httpsPort = port;
    const url = `https://127.0.0.1:${port}`;
    // The console definition is renewed by the scheduler like any other; its new certificate is served without a restart.
    const consoleCertificate = watchConsoleCertificate(
      ctx,
      app.server as unknown as Pick<HttpsServer, 'setSecureContext'>,
      leafSha256OfPem(boot.consoleCertificate.certificatePem),
      log
    );
    log.info({ url, ms: Date.now() - t0, version: VERSION }, 'controller listening');
    const running = app;
    const sched = scheduler;
    const agents = agentServer;
    const scans = discovery;
    const runs = runExecutor;
    let stopping: Promise<void> | undefined;
    return {
      url,
      port,
      app: running,
      ctx,
      caCertificatePem: boot.consoleCertificate.chainPem[boot.consoleCertificate.chainPem.length - 1] ?? '',
      initialAdmin: boot.initialAdmin,
      agentServer: agents,
      agentCaSha256: agentPki.caSha256,
      consoleCertificate,
      stop: () =>
        (stopping ??= (async () => {
          consoleCertificate.stop();
          await runs.stop(); // in-flight monitoring runs close as interrupted while the database is still open
          await running.close();
          await scans.stop(); // this process's running scans close as interrupted while the database is open
          await agents.close();
          await sched.stop();
          await closeMailTransports(ctx);
          await responder?.close();
          await store.close();
          log.info('controller stopped');
        })()),
    };
  } catch (err) {
    await runExecutor?.stop().catch(() => undefined);
    await app?.close().catch(() => undefined);
    await discovery?.stop().catch(() => undefined);
    await agentServer?.close().catch(() => undefined);
    await scheduler?.stop().catch(() => undefined);
    await responder?.close().catch(() => undefined);
    await store.close();
    throw err;
  }
}
