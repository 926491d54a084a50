/**
 * Lifecycle of controller-run discovery scans (SPEC S1): cancelling a long scan stops it early, and a scan left
 * `running` by a controller process that died (SIGKILL) becomes `interrupted` when the next controller starts on
 * the same database; a controller that stops normally marks its own running scans `interrupted`.
 *
 * The long scans sweep a silent range in the test's own network namespace (addresses from 198.18.0.0/15 only):
 * namespace `cf-dsl-<pid>` joined to this host by a veth pair 198.18.85.1/30 (host) — 198.18.85.2/30 (ns); the
 * host routes 198.18.84.0/24 into the namespace, where it is a blackhole (packets silently dropped), so every
 * connect waits for its timeout and nothing answers.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { TestFn } from 'ava';
import { loadConfig } from '../../../controller/src/config/config';
import { startController, type RunningController } from '../../../controller/src/controller';
import { ADMIN_PASSWORD, startTestController, type TestController } from '../../_helpers/controller';
import { dropDatabase, freshDatabaseUrl } from '../../_helpers/db';
import { assertCommands, isCI, testNeeding } from '../../_helpers/needs';
import { freePort } from '../agent/_servers';

const NEEDS = ['ip'];
const test = (process.getuid?.() === 0 || isCI ? testNeeding(NEEDS) : anySkip()) as TestFn;
function anySkip(): TestFn {
  process.stderr.write('skipping discovery lifecycle netns test: needs root for ip netns\n');
  return testNeeding(['certfleet-needs-root-for-netns']);
}

const SILENT = '198.18.84.0/24';
const HOST_LINK = '198.18.85.1';
const NS_LINK = '198.18.85.2';
const ROOT = path.resolve(__dirname, '../../..');

interface Ctx {
  ns: string;
  vethHost: string;
  routeAdded: boolean;
  tc?: TestController;
  homes: string[];
  databases: string[];
  controllers: RunningController[];
  children: ChildProcess[];
}
let ctx: Ctx | undefined;

function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
}

test.before(() => {
  if (isCI) assertCommands(NEEDS);
  const tag = String(process.pid % 100_000);
  const c: Ctx = {
    ns: `cf-dsl-${process.pid}`,
    vethHost: `cfdlh${tag}`,
    routeAdded: false,
    homes: [],
    databases: [],
    controllers: [],
    children: [],
  };
  ctx = c;
  const vethNs = `cfdln${tag}`;
  const inNs = (args: string[]) => sh('ip', ['netns', 'exec', c.ns, ...args]);
  sh('ip', ['netns', 'add', c.ns]);
  inNs(['ip', 'link', 'set', 'lo', 'up']);
  sh('ip', ['link', 'add', c.vethHost, 'type', 'veth', 'peer', 'name', vethNs]);
  sh('ip', ['link', 'set', vethNs, 'netns', c.ns]);
  sh('ip', ['addr', 'add', `${HOST_LINK}/30`, 'dev', c.vethHost]);
  sh('ip', ['link', 'set', c.vethHost, 'up']);
  inNs(['ip', 'addr', 'add', `${NS_LINK}/30`, 'dev', vethNs]);
  inNs(['ip', 'link', 'set', vethNs, 'up']);
  inNs(['ip', 'route', 'add', 'blackhole', SILENT]);
  sh('ip', ['route', 'add', SILENT, 'via', NS_LINK, 'dev', c.vethHost]);
  c.routeAdded = true;
});

test.after.always(async () => {
  const c = ctx;
  if (!c) return;
  for (const child of c.children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const rc of c.controllers) await rc.stop().catch(() => undefined);
  await c.tc?.close().catch(() => undefined);
  for (const url of c.databases) await dropDatabase(url).catch(() => undefined);
  for (const home of c.homes) fs.rmSync(home, { recursive: true, force: true });
  if (c.routeAdded) spawnSync('ip', ['route', 'del', SILENT, 'via', NS_LINK, 'dev', c.vethHost]);
  spawnSync('ip', ['link', 'del', c.vethHost]);
  spawnSync('ip', ['netns', 'delete', c.ns]);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface ScanJson {
  id: string;
  status: string;
  total: number;
  done: number;
  findings: number;
  finishedAt: string | null;
  error: string | null;
}

/** A long scan of the silent range: 512 pairs, 8 in flight, 2 s per connect ≈ 2 minutes. */
const SILENT_SCAN = {
  targets: [SILENT],
  ports: [443, 8443],
  concurrency: 8,
  timeoutMs: 2_000,
  runBy: { kind: 'controller' },
};

type Request = (method: string, url: string, body?: unknown) => Promise<{ status: number; json: unknown }>;

/** HTTPS to a controller at `port` trusting `ca`, with a bearer token. */
function requester(port: number, ca: string, token: () => string): Request {
  return (method, url, body) =>
    new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = https.request(
        `https://127.0.0.1:${port}${url}`,
        {
          method,
          ca,
          servername: 'localhost',
          timeout: 10_000,
          headers: {
            ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}),
            ...(token() ? { authorization: `Bearer ${token()}` } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (d: Buffer) => chunks.push(d));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            let json: unknown = text;
            try {
              json = text ? JSON.parse(text) : null;
            } catch {
              /* not JSON */
            }
            resolve({ status: res.statusCode ?? 0, json });
          });
        }
      );
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error('timeout')));
      if (data) req.write(data);
      req.end();
    });
}

async function waitFor(
  request: Request,
  id: string,
  until: (s: ScanJson) => boolean,
  timeoutMs: number
): Promise<ScanJson> {
  const deadline = Date.now() + timeoutMs;
  let scan = (await request('GET', `/api/v1/discovery/scans/${id}`)).json as ScanJson;
  while (!until(scan) && Date.now() < deadline) {
    await sleep(200);
    scan = (await request('GET', `/api/v1/discovery/scans/${id}`)).json as ScanJson;
  }
  return scan;
}

test.serial('S1 cancelling a scan of a silent range stops it early; nothing is written after', async (t) => {
  const c = ctx as Ctx;
  c.tc = await startTestController();
  const tc = c.tc;
  const token = await tc.adminToken();
  const api: Request = (m, u, b) => tc.request(m, u, b, token);
  const created = await api('POST', '/api/v1/discovery/scans', SILENT_SCAN);
  t.is(created.status, 202, JSON.stringify(created.json));
  const id = (created.json as ScanJson).id;
  const running = await waitFor(api, id, (s) => s.status === 'running' && s.done > 0, 20_000);
  t.is(running.status, 'running', JSON.stringify(running));
  t.is(running.total, 512);

  const t0 = Date.now();
  const cancelled = await api('POST', `/api/v1/discovery/scans/${id}/cancel`);
  t.is(cancelled.status, 200, JSON.stringify(cancelled.json));
  t.is((cancelled.json as ScanJson).status, 'cancelled');
  // The runner lets go of it at once: no scan runs in this controller any more.
  const runner = tc.controller.ctx.discoveryRunner as unknown as { runningCount(): number };
  for (let i = 0; i < 50 && runner.runningCount() > 0; i++) await sleep(100);
  t.is(runner.runningCount(), 0, 'the scan stopped');
  t.true(Date.now() - t0 < 5_000, `stopped ${Date.now() - t0} ms after the cancel`);

  const after = (await api('GET', `/api/v1/discovery/scans/${id}`)).json as ScanJson;
  t.is(after.status, 'cancelled');
  t.truthy(after.finishedAt);
  t.true(after.done < after.total, `stopped early: ${after.done}/${after.total}`);
  t.is(after.findings, 0);
  await sleep(2_500); // more than two progress periods: nothing is written for it any more
  const later = (await api('GET', `/api/v1/discovery/scans/${id}`)).json as ScanJson;
  t.deepEqual([later.status, later.done], ['cancelled', after.done]);

  const again = await api('POST', `/api/v1/discovery/scans/${id}/cancel`);
  t.is(again.status, 409);
  t.regex(JSON.stringify(again.json), /already cancelled/);
});

test.serial(
  'S1 a scan left running by a controller that died becomes interrupted when a new controller starts on the same database',
  async (t) => {
    const c = ctx as Ctx;
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'certfleet-home-'));
    c.homes.push(home);
    const databaseUrl = await freshDatabaseUrl();
    c.databases.push(databaseUrl);
    const env = {
      CERTFLEET_HOME: home,
      DATABASE_URL: databaseUrl,
      CERTFLEET_HTTPS_HOST: '127.0.0.1',
      CERTFLEET_AGENT_PORT: '0',
      CERTFLEET_AGENT_HOST: '127.0.0.1',
      CERTFLEET_LOG_LEVEL: 'silent',
    };
    const inProcess = async (): Promise<RunningController> => {
      const rc = await startController(loadConfig({ ...env, CERTFLEET_HTTPS_PORT: '0' }), {
        log: pino({ level: 'silent' }),
      });
      c.controllers.push(rc);
      return rc;
    };

    // First start in this process: repository, admin password, CA; then stop it.
    const first = await inProcess();
    const ca = first.caCertificatePem;
    let token = '';
    const login = async (request: Request, password: string) => {
      const r = await request('POST', '/api/v1/auth/login', { username: 'admin', password });
      return (r.json as { token: string }).token;
    };
    const api1 = requester(first.port, ca, () => token);
    token = await login(api1, first.initialAdmin?.password as string);
    await api1('POST', '/api/v1/auth/password', {
      currentPassword: first.initialAdmin?.password,
      newPassword: ADMIN_PASSWORD,
    });
    await first.stop();

    // A controller in its own process on the same repository starts a long scan, then is killed (SIGKILL).
    const port = await freePort();
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'certfleet.js'), 'start'], {
      cwd: ROOT,
      env: { ...process.env, ...env, CERTFLEET_HTTPS_PORT: String(port) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    c.children.push(child);
    let childErr = '';
    child.stderr?.on('data', (d: Buffer) => (childErr += d.toString()));
    token = '';
    const api2 = requester(port, ca, () => token);
    for (let i = 0; i < 300 && !token; i++) {
      await sleep(200);
      token = await login(api2, ADMIN_PASSWORD).catch(() => '');
    }
    t.truthy(token, `the controller process answers\n${childErr}`);
    const created = await api2('POST', '/api/v1/discovery/scans', SILENT_SCAN);
    t.is(created.status, 202, JSON.stringify(created.json));
    const id = (created.json as ScanJson).id;
    const running = await waitFor(api2, id, (s) => s.status === 'running' && s.done > 0, 20_000);
    t.is(running.status, 'running', JSON.stringify(running));
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;

    // The next controller declares it interrupted as it starts, before its API answers.
    const next = await inProcess();
    const api3 = requester(next.port, ca, () => token);
    const after = (await api3('GET', `/api/v1/discovery/scans/${id}`)).json as ScanJson;
    t.is(after.status, 'interrupted', JSON.stringify(after));
    t.regex(after.error ?? '', /stopped or died/);
    t.truthy(after.finishedAt);
    t.true(after.done > 0 && after.done < after.total, `${after.done}/${after.total}`);

    // A controller that stops normally marks its own running scan interrupted.
    const second = await api3('POST', '/api/v1/discovery/scans', SILENT_SCAN);
    t.is(second.status, 202);
    const secondId = (second.json as ScanJson).id;
    t.is((await waitFor(api3, secondId, (s) => s.status === 'running', 20_000)).status, 'running');
    await next.stop();
    const last = await inProcess();
    const api4 = requester(last.port, ca, () => token);
    const stopped = (await api4('GET', `/api/v1/discovery/scans/${secondId}`)).json as ScanJson;
    t.is(stopped.status, 'interrupted', JSON.stringify(stopped));
    t.regex(stopped.error ?? '', /controller stopped while this scan ran/);
    // The first one stays as it was.
    t.is(((await api4('GET', `/api/v1/discovery/scans/${id}`)).json as ScanJson).status, 'interrupted');
  }
);
