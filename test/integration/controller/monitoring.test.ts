/**
 * Controller monitoring (SPEC M1–M4, T1, T2, D6) against a live controller on its own database, the test's own
 * loopback TLS servers (certificates from the controller's internal CA, another CA, a self-signed and an expired
 * one) and an in-process enrolled agent. Routes run through the live controller once app.ts registers them, else
 * through a fastify app built here with the same route helper, error handler and bearer authentication.
 */
import { execFile } from 'node:child_process';
import crypto, { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import anyTest, { type TestFn } from 'ava';
import Fastify, { type FastifyInstance } from 'fastify';
import { AgentRuntime } from '../../../agent/src/agent';
import { parseAgentConfig } from '../../../agent/src/config';
import { enroll } from '../../../agent/src/enroll';
import { StateStore } from '../../../agent/src/state/state-store';
import { errorHandler } from '../../../controller/src/http/error-handler';
import { addRoute } from '../../../controller/src/http/route';
import { monitoringRoutes } from '../../../controller/src/http/routes/monitoring';
import type { RouteDeps } from '../../../controller/src/http/routes/types';
import { openPrivateKey } from '../../../controller/src/secrets/key-vault';
import { recordingNotifier } from '../../../controller/src/services/acquisition/notifier';
import { authenticate } from '../../../controller/src/services/auth-service';
import { runMonitor } from '../../../controller/src/services/monitoring/monitor-service';
import {
  CertificateEntity,
  DeploymentEntity,
  DeploymentHistoryEntity,
  MonitoringHistoryEntity,
} from '../../../controller/src/storage/entities';
import { startTestController, type TestController } from '../../_helpers/controller';
import { issueLeaf } from '../../_helpers/install-bundles';
import { daysFromNow, testCa, testCert } from '../../_helpers/test-pki';
import { tempRoot } from '../agent/_servers';

type Json = Record<string, unknown>;
type Response = { status: number; json: unknown; text: string; contentType: string };
type Api = (method: string, url: string, body?: unknown) => Promise<Response>;

interface Served {
  server: tls.Server;
  port: number;
  /** The served leaf's fingerprints, computed here from the DER the server was given. */
  sha256: string;
  sha1: string;
}

interface Ctx {
  tc: TestController;
  api: Api;
  via: string;
  injected?: FastifyInstance;
  notifier: ReturnType<typeof recordingNotifier>;
  dir: string;
  runtime: AgentRuntime;
  agentId: string;
  managedId: string;
  certificateId: string;
  current: Served;
  other: Served;
  selfSigned: Served;
  trusted: Served;
  expired: Served;
  caRootPem: string;
  endpoints: Record<string, string>;
}
const test = anyTest as TestFn<Ctx>;
const quiet = { info: () => undefined, warn: () => undefined };

function fingerprintsOf(pem: string): { sha256: string; sha1: string } {
  const der = new X509Certificate(pem).raw;
  return {
    sha256: crypto.createHash('sha256').update(der).digest('hex'),
    sha1: crypto.createHash('sha1').update(der).digest('hex'),
  };
}

/** A loopback TLS server (port 0: never a port someone else listens on) serving `certPem` (leaf first). */
async function serve(keyPem: string | Buffer, certPem: string): Promise<Served> {
  const server = tls.createServer({ key: keyPem, cert: certPem }, (s) => {
    s.on('error', () => undefined);
    s.end();
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port, ...fingerprintsOf(certPem) };
}

async function monitoringApi(tc: TestController, token: string, deps: Partial<RouteDeps>) {
  const doc = (await tc.request('GET', '/api/openapi.json')).json as { paths?: Record<string, unknown> };
  if (doc.paths?.['/api/v1/monitoring/runs']) {
    const api: Api = async (m, u, b) => {
      const r = await tc.request(m, u, b, token);
      return {
        status: r.status,
        json: r.json,
        text: typeof r.json === 'string' ? r.json : JSON.stringify(r.json),
        contentType: String(r.headers['content-type'] ?? ''),
      };
    };
    return { api, via: 'live controller' };
  }
  const ctx = tc.controller.ctx;
  const app = Fastify({ logger: false });
  app.setErrorHandler(errorHandler);
  app.addHook('preHandler', async (req) => {
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ')) req.user = await authenticate(ctx, auth.slice(7)).catch(() => undefined);
  });
  monitoringRoutes((spec) => addRoute(app, [], spec), { ctx, ...deps } as RouteDeps);
  await app.ready();
  const api: Api = async (method, url, body) => {
    const res = await app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(body === undefined ? {} : { payload: body as Json }),
    });
    let json: unknown = res.body;
    try {
      json = res.body ? (JSON.parse(res.body) as unknown) : null;
    } catch {
      /* HTML */
    }
    return { status: res.statusCode, json, text: res.body, contentType: String(res.headers['content-type'] ?? '') };
  };
  return { api, via: 'injected app (routes not registered in app.ts yet)', injected: app };
}

test.before(async (t) => {
  const t0 = Date.now();
  const dir = tempRoot('certfleet-monitoring-');
  const tc = await startTestController();
  const token = await tc.adminToken();
  const notifier = recordingNotifier();
  const picked = await monitoringApi(tc, token, { acquisition: { notifier } as unknown as RouteDeps['acquisition'] });
  const live = (m: string, u: string, b?: unknown) => tc.request(m, u, b, token);

  // A Lifecycle-Managed definition whose current certificate comes from the controller's internal CA (unattended).
  const def = await live('POST', '/api/v1/definitions', {
    name: 'mon-managed',
    subject: { commonName: 'mon.test' },
    sans: [{ type: 'dns', value: 'mon.test' }],
    issuerType: 'internal-ca',
    processMode: 'unattended',
  });
  if (def.status !== 201) throw new Error(`definition: ${JSON.stringify(def.json)}`);
  const managedId = (def.json as { id: string }).id;
  const req = await live('POST', '/api/v1/requests', { definitionId: managedId });
  if (req.status !== 201) throw new Error(`request: ${JSON.stringify(req.json)}`);
  const certificateId = (req.json as { request: { certificateId: string } }).request.certificateId;
  const em = tc.controller.ctx.db.em().fork();
  const cert = await em.findOneOrFail(CertificateEntity, { id: certificateId });
  const key = await openPrivateKey(em, tc.controller.ctx.masterKey, cert.privateKeyId as string);
  const keyPem = key.export({ type: 'pkcs8', format: 'pem' }).toString();

  const otherLeaf = await issueLeaf('mon.test');
  const ca = await testCa('Monitoring');
  const selfSigned = await testCert({ subject: 'CN=mon-self.test', dns: ['mon-self.test'] });
  const good = await testCert({ subject: 'CN=mon-trusted.test', dns: ['mon-trusted.test'], issuer: ca.intermediate });
  const expired = await testCert({
    subject: 'CN=mon-trusted.test',
    dns: ['mon-trusted.test'],
    issuer: ca.intermediate,
    notBefore: daysFromNow(-60),
    notAfter: daysFromNow(-2),
  });

  const [current, other, self, trusted, old] = await Promise.all([
    serve(keyPem, [cert.pem, ...cert.chainPem].join('\n')),
    serve(otherLeaf.keyPem, otherLeaf.fullchainPem.toString()),
    serve(selfSigned.key.privateKeyPem, selfSigned.pem),
    serve(good.key.privateKeyPem, good.pem + ca.intermediate.pem),
    serve(expired.key.privateKeyPem, expired.pem + ca.intermediate.pem),
  ]);

  // An in-process agent, enrolled with a join token (as test/integration/controller/agent-probes.test.ts does).
  const joined = (await live('POST', '/api/v1/agents/join-tokens', { label: 'mon-agent' })).json as {
    token: string;
    controllerCaSha256: string;
  };
  const store = new StateStore(path.join(dir, 'agent'));
  const { agentId } = await enroll(store, {
    controller: `127.0.0.1:${tc.controller.agentServer.port}`,
    token: joined.token,
    caSha256: joined.controllerCaSha256,
    hostname: 'mon-agent',
  });
  const runtime = new AgentRuntime({
    store,
    config: parseAgentConfig({ stateDir: store.dir, allowedRoots: [dir] }),
    log: quiet,
  });
  const connected = new Promise<void>((r) => runtime.once('connected', r));
  void runtime.start().catch(() => undefined);
  await connected;

  t.log(`setup in ${Date.now() - t0} ms; routes via ${picked.via}`);
  t.context = {
    tc,
    ...picked,
    notifier,
    dir,
    runtime,
    agentId,
    managedId,
    certificateId,
    current,
    other,
    selfSigned: self,
    trusted,
    expired: old,
    caRootPem: ca.root.pem,
    endpoints: {},
  };
});

test.after.always(async (t) => {
  const c = t.context;
  await c.runtime?.stop().catch(() => undefined);
  await c.injected?.close();
  for (const s of [c.current, c.other, c.selfSigned, c.trusted, c.expired]) s?.server.close();
  await c.tc?.close();
  if (c.dir) fs.rmSync(c.dir, { recursive: true, force: true });
});

const body = <T>(r: Response): T => r.json as T;

test.serial(
  'T1 T2 trust sets: system set listed with its version; user roots deduplicated; non-CA refused',
  async (t) => {
    const { api, caRootPem } = t.context;
    const list = body<Array<{ id: string; source: string; version: string; roots: unknown[] }>>(
      await api('GET', '/api/v1/trust-sets')
    );
    t.is(list[0]?.id, 'system');
    t.is(list[0]?.source, 'system');
    t.true((list[0]?.roots.length ?? 0) > 50);
    t.truthy(list[0]?.version);

    const created = await api('POST', '/api/v1/trust-sets', {
      name: 'mon-intranet',
      description: 'test roots',
      pem: caRootPem + caRootPem,
    });
    t.is(created.status, 201, created.text);
    const set = body<{ id: string; roots: Array<{ sha256: string }> }>(created);
    t.is(set.roots.length, 1, 'the same root twice is stored once');
    t.is(set.roots[0]?.sha256, fingerprintsOf(caRootPem).sha256);

    const again = await api('POST', `/api/v1/trust-sets/${set.id}/roots`, { pem: caRootPem });
    t.is(again.status, 200, again.text);
    t.is(body<{ added: number }>(again).added, 0);

    const leafPem = (await testCert({ subject: 'CN=not-a-ca.test' })).pem;
    const refused = await api('POST', `/api/v1/trust-sets/${set.id}/roots`, { pem: leafPem });
    t.is(refused.status, 400);
    t.is(body<{ error: { code: string } }>(refused).error.code, 'CF_VALIDATION');
    t.is(
      body<{ error: { code: string } }>(await api('POST', '/api/v1/trust-sets', { name: 'system' })).error.code,
      'CF_VALIDATION'
    );
  }
);

test.serial('M1 M4 endpoints: CRUD, defaults (CN, 443), agent endpoints need an active agent', async (t) => {
  const { api, managedId } = t.context;
  const made = await api('POST', `/api/v1/definitions/${managedId}/endpoints`, {});
  t.is(made.status, 201, made.text);
  const e = body<{ id: string; host: string; port: number; probeFrom: string; enabled: boolean }>(made);
  t.deepEqual([e.host, e.port, e.probeFrom, e.enabled], ['mon.test', 443, 'controller', true]);
  const patched = await api('PATCH', `/api/v1/definitions/${managedId}/endpoints/${e.id}`, { enabled: false });
  t.is(patched.status, 200, patched.text);
  t.is(body<{ enabled: boolean; port: number }>(patched).enabled, false);
  t.is(body<{ enabled: boolean; port: number }>(patched).port, 443, 'a patch keeps unsent fields');
  const noAgent = await api('POST', `/api/v1/definitions/${managedId}/endpoints`, { probeFrom: 'agent' });
  t.is(noAgent.status, 400);
  const unknownAgent = await api('POST', `/api/v1/definitions/${managedId}/endpoints`, {
    probeFrom: 'agent',
    agentId: crypto.randomUUID(),
  });
  t.is(unknownAgent.status, 400);
  t.is((await api('DELETE', `/api/v1/definitions/${managedId}/endpoints/${e.id}`)).status, 204);
  t.deepEqual(body<unknown[]>(await api('GET', `/api/v1/definitions/${managedId}/endpoints`)), []);
});

test.serial(
  'M1 M2 M3 a run judges managed and monitored endpoints and writes one history row per endpoint with fingerprints',
  async (t) => {
    const { api, managedId, current, other, selfSigned, trusted, expired } = t.context;
    const add = async (definitionId: string, port: number, serverName: string) => {
      const r = await api('POST', `/api/v1/definitions/${definitionId}/endpoints`, {
        host: '127.0.0.1',
        port,
        serverName,
      });
      t.is(r.status, 201, r.text);
      return body<{ id: string }>(r).id;
    };
    const monitoredDef = async (name: string, cn: string, trustedCaSetId: string | null) => {
      const d = await t.context.tc.request(
        'POST',
        '/api/v1/definitions',
        {
          name,
          subject: { commonName: cn },
          sans: [{ type: 'dns', value: cn }],
          operationMode: 'monitored',
          trustedCaSetId,
        },
        await t.context.tc.adminToken()
      );
      t.is(d.status, 201, JSON.stringify(d.json));
      return (d.json as { id: string }).id;
    };
    const sets = body<Array<{ id: string; name: string }>>(await api('GET', '/api/v1/trust-sets'));
    const intranet = sets.find((s) => s.name === 'mon-intranet')?.id ?? null;
    const selfDef = await monitoredDef('mon-self', 'mon-self.test', null);
    const trustedDef = await monitoredDef('mon-trusted', 'mon-trusted.test', intranet);
    const ids = {
      current: await add(managedId, current.port, 'mon.test'),
      other: await add(managedId, other.port, 'mon.test'),
      selfSigned: await add(selfDef, selfSigned.port, 'mon-self.test'),
      trusted: await add(trustedDef, trusted.port, 'mon-trusted.test'),
      expired: await add(trustedDef, expired.port, 'mon-trusted.test'),
    };
    t.context.endpoints = ids;

    const started = Date.now();
    const res = await api('POST', '/api/v1/monitoring/runs', {});
    t.is(res.status, 201, res.text);
    const run = body<{ id: string; status: string; endpoints: number; ok: number; failing: number }>(res);
    t.log(`run of ${run.endpoints} endpoints in ${Date.now() - started} ms`);
    t.is(run.status, 'finished');
    t.is(run.endpoints, 5);

    const detail = body<{
      report: { results: Array<{ endpointId: string; trustSet: { name: string; version: string } | null }> };
      results: Array<{
        endpointId: string;
        status: string;
        reason: string;
        leafSha256: string | null;
        leafSha1: string | null;
        leafNotAfter: string | null;
        probedBy: string;
        certificateId: string | null;
        checks: Array<{ code: string; status: string }>;
      }>;
    }>(await api('GET', `/api/v1/monitoring/runs/${run.id}`));
    const rows = await t.context.tc.controller.ctx.db.em().fork().find(MonitoringHistoryEntity, { runId: run.id });
    t.is(rows.length, 5, 'exactly one history row per endpoint');
    t.is(new Set(rows.map((r) => r.endpointId)).size, 5);
    const byEndpoint = new Map(detail.results.map((r) => [r.endpointId, r]));
    const verdict = (id: string) => byEndpoint.get(id);

    // M2: the current certificate served → ok; another certificate → failing ServedCertMismatch
    t.is(verdict(ids.current)?.status, 'ok', JSON.stringify(verdict(ids.current)));
    t.is(verdict(ids.current)?.certificateId, t.context.certificateId);
    t.is(verdict(ids.other)?.status, 'failing');
    t.is(verdict(ids.other)?.reason, 'ServedCertMismatch');
    // M3: a self-signed chain against the system set → failing; the trusted chain → ok; expired → failing
    t.is(verdict(ids.selfSigned)?.status, 'failing');
    t.regex(verdict(ids.selfSigned)?.reason ?? '', /SelfSigned|ChainUntrusted/);
    t.is(verdict(ids.trusted)?.status, 'ok', JSON.stringify(verdict(ids.trusted)));
    t.is(verdict(ids.expired)?.status, 'failing');
    t.is(verdict(ids.expired)?.reason, 'CertificateExpired');
    t.is(run.ok, 2);
    t.is(run.failing, 3);

    // fingerprints equal those computed here from the DER each server was given
    for (const [name, served] of [
      ['current', current],
      ['other', other],
      ['selfSigned', selfSigned],
      ['trusted', trusted],
      ['expired', expired],
    ] as const) {
      const r = verdict(ids[name]);
      t.is(r?.leafSha256, served.sha256, name);
      t.is(r?.leafSha1, served.sha1, name);
      t.is(r?.probedBy, 'controller');
      t.true((r?.checks.length ?? 0) > 5);
    }
    // the report names the trust set a monitored verdict was judged against (T1: system with its version)
    const trustOf = (id: string) => detail.report.results.find((r) => r.endpointId === id)?.trustSet;
    t.is(trustOf(ids.selfSigned)?.name, 'system');
    t.truthy(trustOf(ids.selfSigned)?.version);
    t.is(trustOf(ids.trusted)?.name, 'mon-intranet');
    t.is(trustOf(ids.current), null);

    const html = await api('GET', `/api/v1/monitoring/runs/${run.id}/report.html`);
    t.is(html.status, 200);
    t.regex(html.contentType, /^text\/html/);
    t.true(html.text.includes('ServedCertMismatch'));
    t.true(html.text.includes(current.sha256));
    t.false(/<script|<link|src=/i.test(html.text), 'no external assets');

    const recent = body<Array<{ id: string }>>(await api('GET', '/api/v1/monitoring/runs?limit=5'));
    t.is(recent[0]?.id, run.id);
  }
);

test.serial(
  'M4 an agent-probed endpoint gets its verdict from the agent’s observation (probedBy agent:<id>)',
  async (t) => {
    const { api, managedId, agentId, current, tc } = t.context;
    const made = await api('POST', `/api/v1/definitions/${managedId}/endpoints`, {
      host: '127.0.0.1',
      port: current.port,
      serverName: 'mon.test',
      probeFrom: 'agent',
      agentId,
    });
    t.is(made.status, 201, made.text);
    const endpointId = body<{ id: string }>(made).id;
    t.context.endpoints.agent = endpointId;
    const run = await runMonitor(
      tc.controller.ctx,
      { trigger: 'manual', endpointIds: [endpointId] },
      { agentDeadlineMs: 20_000 }
    );
    t.is(run.endpoints, 1);
    const rows = await tc.controller.ctx.db.em().fork().find(MonitoringHistoryEntity, { runId: run.id });
    t.is(rows.length, 1);
    t.is(rows[0]?.probedBy, `agent:${agentId}`);
    t.is(rows[0]?.status, 'ok', rows[0]?.message ?? '');
    t.is(rows[0]?.leafSha256, current.sha256);
    t.is(rows[0]?.leafSha1, current.sha1);
  }
);

test.serial(
  'D6 deploy check from the agent verifies; a wrong server fails; manual completion with a note',
  async (t) => {
    const { api, tc, agentId, managedId, certificateId, current, other, notifier } = t.context;
    const em = tc.controller.ctx.db.em().fork();
    const now = new Date();
    const deployment = (port: number, withAgent: boolean) => {
      const id = crypto.randomUUID();
      em.persist(
        em.create(DeploymentEntity, {
          id,
          certificateId,
          definitionId: managedId,
          slot: `${managedId}.${id.slice(0, 8)}`,
          version: 1,
          target: {
            serverName: `web-${port}`,
            serverType: 'nginx',
            method: 'manual',
            checkHost: '127.0.0.1',
            checkPort: port,
          },
          method: 'manual',
          agentId: withAgent ? agentId : null,
          bundleId: crypto.randomUUID(),
          status: 'installed',
          reason: null,
          message: null,
          servedSha256: null,
          receiptPublicKey: null,
          receiptAt: null,
          createdBy: 'test',
          createdAt: now,
          updatedAt: now,
        })
      );
      return id;
    };
    const good = deployment(current.port, true);
    const bad = deployment(other.port, false);
    const manual = deployment(other.port, false);
    await em.flush();

    const ok = await api('POST', `/api/v1/deployments/${good}/check`, {});
    t.is(ok.status, 200, ok.text);
    const okBody = body<{ deployment: { status: string; servedSha256: string }; result: { probedBy: string } }>(ok);
    t.is(okBody.deployment.status, 'verified');
    t.is(okBody.deployment.servedSha256, current.sha256);
    t.is(okBody.result.probedBy, `agent:${agentId}`);

    const failed = body<{ deployment: { status: string; reason: string } }>(
      await api('POST', `/api/v1/deployments/${bad}/check`, {})
    );
    t.is(failed.deployment.status, 'failed');
    t.is(failed.deployment.reason, 'ServedCertMismatch');

    const done = await api('POST', `/api/v1/deployments/${manual}/check/manual`, { note: 'checked in the browser' });
    t.is(done.status, 200, done.text);
    t.is(body<{ status: string; reason: string }>(done).status, 'verified');
    const history = await tc.controller.ctx.db
      .em()
      .fork()
      .find(DeploymentHistoryEntity, { certificateId, target: { $like: 'nginx:web-%' } });
    t.true(history.some((h) => h.status === 'verified'));
    t.true(history.some((h) => h.status === 'failed'));
    const mails = notifier.sent.filter((m) => m.template === 'install-notification');
    t.is(mails.length, t.context.via === 'live controller' ? 0 : 3);
  }
);

test.serial('M4 an agent that is stopped gives AgentDidNotReport within the deadline', async (t) => {
  const { tc, runtime, agentId } = t.context;
  await runtime.stop();
  const started = Date.now();
  const run = await runMonitor(
    tc.controller.ctx,
    { trigger: 'manual', endpointIds: [t.context.endpoints.agent as string] },
    { agentDeadlineMs: 1500, pollMs: 100 }
  );
  const took = Date.now() - started;
  t.true(took < 5000, `took ${took} ms`);
  t.is(run.failing, 1);
  const rows = await tc.controller.ctx.db.em().fork().find(MonitoringHistoryEntity, { runId: run.id });
  t.is(rows.length, 1);
  t.is(rows[0]?.reason, 'AgentDidNotReport');
  t.is(rows[0]?.status, 'failing');
  t.is(rows[0]?.probedBy, `agent:${agentId}`);
});

test.serial('M1 CLI monitor run-now --definition --json prints the run and exits 1 when something fails', async (t) => {
  const { tc, managedId } = t.context;
  // main.ts registers the command; until then the test drives monitorCommand() itself in a child process
  const entry = path.resolve(__dirname, '../../../controller/src/cli/commands/monitor.ts');
  const script =
    `const { monitorCommand } = require(${JSON.stringify(entry)});` +
    `monitorCommand().parseAsync(['node', 'monitor', ...process.argv.slice(1)]);`;
  // asynchronous: the TLS servers live in this process and must keep answering
  const child = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', '-e', script, 'run-now', '--definition', managedId, '--agent-deadline-ms', '500', '--json'],
    {
      env: { ...process.env, DATABASE_URL: tc.databaseUrl, CERTFLEET_HOME: tc.home, CERTFLEET_LOG_LEVEL: 'silent' },
      encoding: 'utf8',
      timeout: 30_000,
    }
  ).then(
    (r) => ({ ...r, status: 0 }),
    (err: { code?: number; stdout?: string; stderr?: string }) => ({
      status: err.code,
      stdout: err.stdout ?? '',
      stderr: err.stderr ?? '',
    })
  );
  t.is(child.status, 1, child.stderr);
  const run = JSON.parse(child.stdout) as { status: string; endpoints: number; ok: number; failing: number };
  t.is(run.status, 'finished');
  // current (ok), other (ServedCertMismatch), agent endpoint (agent stopped: AgentDidNotReport)
  t.deepEqual([run.endpoints, run.ok, run.failing], [3, 1, 2], child.stdout);
});
