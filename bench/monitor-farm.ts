/**
 * The endpoint farm of the monitor-sweep benchmark and its smoke test: the truth format of
 * ../shared/bench/farm.sh (`farm/truth.json`, fingerprints computed with the openssl CLI), registration of every
 * farm endpoint as a monitored endpoint of a controller (the farm root as a user trust set; Monitored-Only
 * definitions imported from the served leaf, Lifecycle-Managed ones whose current certificate is another one for
 * the "unexpected fingerprint" category), a Node farm server for machines without nginx, and the comparison of a
 * monitoring run's history rows with the truth.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { MonitoringHistoryEntity } from '../controller/src/storage/entities';
import type { ServiceContext } from '../controller/src/services/context';
import { updateDefinition } from '../controller/src/services/definition-service';
import { importCertificate } from '../controller/src/services/import-service';
import { createEndpoint } from '../controller/src/services/monitoring/endpoints-service';
import { createTrustSet } from '../controller/src/services/monitoring/trust-sets-service';

/** farm.sh's verdict names. */
export type FarmStatus =
  | 'ok'
  | 'expiring_soon'
  | 'expired'
  | 'hostname_mismatch'
  | 'self_signed'
  | 'incomplete_chain'
  | 'fingerprint_mismatch';

/** One endpoint of farm.sh's truth.json. Fingerprints as openssl prints them (upper case, colons). */
export interface FarmEndpoint {
  id: string;
  host: string;
  port: number;
  servername: string;
  key: 'rsa' | 'ec';
  status: FarmStatus;
  chain_len: number;
  served: { sha1: string; sha256: string };
  expected: { sha1: string; sha256: string };
}

export interface FarmTruth {
  n: number;
  port: number;
  /** Root and intermediate certificate files. */
  ca: string;
  intermediate: string;
  endpoints: FarmEndpoint[];
}

/** Files of endpoint `id` in farm.sh's layout: `<certs>/<id>.{key,crt,chain.pem,old.crt}`. */
export function farmFiles(certs: string, id: string) {
  return {
    key: path.join(certs, `${id}.key`),
    crt: path.join(certs, `${id}.crt`),
    chain: path.join(certs, `${id}.chain.pem`),
    old: path.join(certs, `${id}.old.crt`),
  };
}

/** CertFleet's primary reason → farm.sh's verdict. */
export const REASON_TO_FARM_STATUS: Readonly<Record<string, FarmStatus>> = {
  Ok: 'ok',
  CertificateExpiringSoon: 'expiring_soon',
  CertificateExpired: 'expired',
  HostnameMismatch: 'hostname_mismatch',
  SelfSigned: 'self_signed',
  IntermediateMissing: 'incomplete_chain',
  ServedCertMismatch: 'fingerprint_mismatch',
};

/** `AB:CD:…` → `abcd…`. */
export const normFp = (fp: string): string => fp.replace(/:/g, '').toLowerCase();

async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    })
  );
}

/**
 * Registers every farm endpoint on the controller behind `ctx`: a user trust set `farm` (the farm root), one
 * definition per endpoint by import — Monitored-Only from the served leaf (judged against `farm`), or for
 * `fingerprint_mismatch` Lifecycle-Managed from the certificate the definition expects (`<id>.old.crt`) with the
 * intermediate as its chain — and one monitored endpoint (`host:port`, SNI `servername`, probed by the controller).
 * Returns endpoint id → farm endpoint.
 */
export async function registerFarm(
  ctx: ServiceContext,
  truth: FarmTruth,
  certs: string,
  concurrency = 6
): Promise<Map<string, FarmEndpoint>> {
  const actor = 'cli:bench';
  const set = await createTrustSet(ctx, { name: 'farm', pem: fs.readFileSync(truth.ca, 'utf8') }, actor);
  const intermediate = fs.readFileSync(truth.intermediate);
  const byEndpointId = new Map<string, FarmEndpoint>();
  await pool(truth.endpoints, concurrency, async (ep) => {
    const f = farmFiles(certs, ep.id);
    const managed = ep.status === 'fingerprint_mismatch';
    const imported = await importCertificate(
      ctx,
      { file: fs.readFileSync(managed ? f.old : f.crt), ...(managed ? { chain: intermediate } : {}) },
      { mode: managed ? 'managed' : 'monitored', name: `farm ${ep.id}` },
      actor
    );
    const definitionId = imported.definition.id;
    if (!managed) await updateDefinition(ctx, definitionId, { trustedCaSetId: set.id }, actor);
    const endpoint = await createEndpoint(
      ctx,
      definitionId,
      { host: ep.host, port: ep.port, serverName: ep.servername },
      actor
    );
    byEndpointId.set(endpoint.id, ep);
  });
  return byEndpointId;
}

/** How a run's stored verdicts compare with the truth. */
export interface Agreement {
  rows: number;
  verdictsCorrect: number;
  sha256Correct: number;
  sha1Correct: number;
  /** Up to 10 disagreements, `id: got != want (reason: message)`. */
  wrong: string[];
  byReason: Record<string, number>;
}

/** Reads the run's monitoring_history rows back from PostgreSQL and compares them with the truth. */
export async function verifyRun(
  ctx: ServiceContext,
  runId: string,
  byEndpointId: ReadonlyMap<string, FarmEndpoint>
): Promise<Agreement> {
  const rows = await ctx.db.em().fork().find(MonitoringHistoryEntity, { runId });
  const a: Agreement = {
    rows: rows.length,
    verdictsCorrect: 0,
    sha256Correct: 0,
    sha1Correct: 0,
    wrong: [],
    byReason: {},
  };
  for (const r of rows) {
    a.byReason[r.reason] = (a.byReason[r.reason] ?? 0) + 1;
    const ep = r.endpointId ? byEndpointId.get(r.endpointId) : undefined;
    if (!ep) {
      if (a.wrong.length < 10) a.wrong.push(`${r.endpoint}: not a farm endpoint`);
      continue;
    }
    const got = REASON_TO_FARM_STATUS[r.reason];
    if (got === ep.status) a.verdictsCorrect++;
    else if (a.wrong.length < 10)
      a.wrong.push(`${ep.id}: ${r.reason} != ${ep.status} (${(r.message ?? '').slice(0, 160)})`);
    if (r.leafSha256 === normFp(ep.served.sha256)) a.sha256Correct++;
    if (r.leafSha1 === normFp(ep.served.sha1)) a.sha1Correct++;
  }
  return a;
}

/** A running Node farm (children forked from bench/farm-server.ts). */
export interface NodeFarm {
  /** Endpoint id → bound port. */
  ports: Map<string, number>;
  failed: string[];
  stop(): Promise<void>;
}

/** Serves `endpoints` (chain + key files) from `procs` child processes; `port: 0` binds any free port. */
export async function startNodeFarm(
  endpoints: ReadonlyArray<{
    id: string;
    host: string;
    port: number;
    chainFile: string;
    keyFile: string;
    plain?: boolean;
  }>,
  procs = 2,
  /** A command the server runs under, e.g. `['ip', 'netns', 'exec', NS]`. */
  wrap: readonly string[] = []
): Promise<NodeFarm> {
  const children: ChildProcess[] = [];
  const ports = new Map<string, number>();
  const failed: string[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const t = setTimeout(() => {
              c.kill('SIGKILL');
              resolve();
            }, 5_000);
            c.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            if (c.connected) c.send({ type: 'close' });
            else c.kill('SIGTERM');
          })
      )
    );
  };
  try {
    const per = Math.ceil(endpoints.length / procs);
    await Promise.all(
      Array.from({ length: procs }, (_, k) => endpoints.slice(k * per, (k + 1) * per)).map(
        (mine) =>
          new Promise<void>((resolve, reject) => {
            if (mine.length === 0) return resolve();
            const script = path.join(__dirname, 'farm-server.ts');
            const child =
              wrap.length > 0
                ? spawn(wrap[0] as string, [...wrap.slice(1), process.execPath, '--import', 'tsx', script], {
                    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
                  })
                : fork(script, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
            children.push(child);
            const timer = setTimeout(() => reject(new Error('farm server did not start within 60 s')), 60_000);
            child.once('error', reject);
            child.once('exit', (code) => reject(new Error(`farm server exited with ${code}`)));
            child.once('message', (msg: { bound: Array<{ id: string; port: number }>; failed: string[] }) => {
              clearTimeout(timer);
              for (const b of msg.bound) ports.set(b.id, b.port);
              failed.push(...msg.failed);
              resolve();
            });
            child.send({ type: 'serve', endpoints: mine });
          })
      )
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { ports, failed, stop };
}
