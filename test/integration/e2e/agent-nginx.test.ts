/**
 * End to end (SPEC G1, G2, G3, D1, D2): a real controller (PostgreSQL, mutual-TLS gRPC on loopback), an agent
 * enrolled with a join token, and a real nginx. A certificate made current by the internal CA is sealed, pushed,
 * installed and verified by the served fingerprint; a broken nginx config and a failing reload each leave the old
 * certificate served with a rolled-back record; banning the agent closes its stream and wipes its identity.
 */
import type { ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { TestFn } from 'ava';
import { AgentRuntime, type AgentLog } from '../../../agent/src/agent';
import type { AgentConfig } from '../../../agent/src/config';
import { enroll } from '../../../agent/src/enroll';
import { StateStore } from '../../../agent/src/state/state-store';
import { recordingNotifier } from '../../../controller/src/services/acquisition/notifier';
import { defaultAcquisitionDeps } from '../../../controller/src/services/acquisition/defaults';
import { installNotificationData } from '../../../controller/src/notifications/templates/install-notification';
import { DeploymentHistoryEntity } from '../../../controller/src/storage/entities';
import { startTestController, type TestController } from '../../_helpers/controller';
import { issueLeaf } from '../../_helpers/install-bundles';
import { assertCommands, testNeeding } from '../../_helpers/needs';
import {
  freePort,
  nginxAgentConfig,
  seedLiveDir,
  servedEventually,
  startNginx,
  stopChild,
  tempRoot,
  writeNginxTlsConf,
} from '../agent/_servers';

interface Ctx {
  tc: TestController;
  token: string;
  dir: string;
  live: string;
  prefix: string;
  conf: string;
  extraConf: string;
  port: number;
  nginx?: ChildProcess;
  store: StateStore;
  config: AgentConfig;
  runtime: AgentRuntime;
  agentId: string;
  definitionId: string;
  certificateId: string;
  /** The leaf nginx serves after the last verified install. */
  servedSha256?: string;
}

const test = testNeeding(['nginx']) as TestFn<Ctx>;
let ctx: Ctx;
const quiet: AgentLog = { info: () => undefined, warn: () => undefined };
const notifier = recordingNotifier();

const api = async (method: string, url: string, body?: unknown) => ctx.tc.request(method, url, body, ctx.token);

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (let i = 0; Date.now() < until && i < 1000; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

interface DeploymentJson {
  id: string;
  status: string;
  reason: string | null;
  servedSha256: string | null;
  certificateId: string;
  createdAt: string;
}

/** Deploys now and waits until the new deployment reaches a final state. */
async function deployAndWait(): Promise<DeploymentJson> {
  const res = await api('POST', `/api/v1/certificates/${ctx.certificateId}/deployments`, {});
  if (res.status !== 202) throw new Error(JSON.stringify(res.json));
  const id = (res.json as DeploymentJson[])[0]?.id;
  return waitFor('deployment result', async () => {
    const list = (
      (await api('GET', `/api/v1/deployments?certificateId=${ctx.certificateId}`)).json as { items: DeploymentJson[] }
    ).items;
    const d = list.find((x) => x.id === id);
    return d && ['verified', 'installed', 'failed', 'rolled-back'].includes(d.status) ? d : undefined;
  });
}

test.before(async () => {
  if (process.env.CI === 'true' || process.env.CI === '1') assertCommands(['nginx']);
  const dir = tempRoot('certfleet-e2e-nginx-');
  const prefix = path.join(dir, 'nginx');
  const certs = path.join(dir, 'certs');
  // A version installed earlier (as an offline bundle would leave it): nginx needs files to start.
  const first = await issueLeaf();
  const live = seedLiveDir(certs, 'web', '1-bootstrap', { fullchain: first.certPem, key: first.keyPem });
  const port = await freePort();
  const extraConf = path.join(prefix, 'extra.conf');
  const conf = writeNginxTlsConf({
    prefix,
    port,
    serverName: 'e2e.agent.test',
    liveDir: live,
    extraInclude: extraConf,
  });
  const nginx = await startNginx(prefix, conf, port);

  const tc = await startTestController({
    agentServer: { banCheckMs: 500, materializeMs: 300 },
    acquisition: (c) => ({ ...defaultAcquisitionDeps(c), notifier }),
  });
  const token = await tc.adminToken();
  const config = nginxAgentConfig({ stateDir: path.join(dir, 'state'), allowedRoot: certs, prefix, conf });
  ctx = {
    tc,
    token,
    dir,
    live,
    prefix,
    conf,
    extraConf,
    port,
    nginx,
    store: new StateStore(config.stateDir),
    config,
    runtime: undefined as unknown as AgentRuntime,
    agentId: '',
    definitionId: '',
    certificateId: '',
  };
});

test.after.always(async () => {
  await ctx?.runtime?.stop();
  await ctx?.tc?.close();
  await stopChild(ctx?.nginx);
  if (ctx?.dir) fs.rmSync(ctx.dir, { recursive: true, force: true });
});

test.serial('G1 an agent enrolls with a one-time join token; the token cannot be used twice', async (t) => {
  const created = await api('POST', '/api/v1/agents/join-tokens', { label: 'e2e host', ttlMinutes: 10 });
  t.is(created.status, 201, JSON.stringify(created.json));
  const { token, controllerCaSha256 } = created.json as { token: string; controllerCaSha256: string };
  t.regex(controllerCaSha256, /^[0-9a-f]{64}$/);
  const address = `127.0.0.1:${ctx.tc.controller.agentServer.port}`;
  const { agentId } = await enroll(ctx.store, {
    controller: address,
    token,
    caSha256: controllerCaSha256,
    hostname: 'e2e',
  });
  ctx.agentId = agentId;
  // the identity is on disk with private files 0600 in a 0700 directory
  t.is(fs.statSync(ctx.store.dir).mode & 0o777, 0o700);
  t.is(fs.statSync(ctx.store.file('tlsKey')).mode & 0o777, 0o600);
  t.is(fs.statSync(ctx.store.file('bundleKey')).mode & 0o777, 0o600);
  // the token is single-use
  const again = new StateStore(path.join(ctx.dir, 'state-2'));
  const err = await t.throwsAsync(enroll(again, { controller: address, token, caSha256: controllerCaSha256 }));
  t.is((err as { code?: string }).code, 'CF_AGENT_TOKEN_INVALID');
  t.false(again.isEnrolled());
  // a wrong CA fingerprint is refused before any secret is sent
  const other = new StateStore(path.join(ctx.dir, 'state-3'));
  const pinErr = await t.throwsAsync(
    enroll(other, { controller: address, token: 'cfjt_x'.padEnd(40, 'x'), caSha256: '0'.repeat(64) })
  );
  t.is((pinErr as { code?: string }).code, 'CF_AGENT_UNAUTHENTICATED');

  ctx.runtime = new AgentRuntime({
    store: ctx.store,
    config: ctx.config,
    log: quiet,
    backoff: { baseMs: 200, capMs: 1000 },
  });
  const connected = new Promise<void>((resolve) => ctx.runtime.once('connected', resolve));
  void ctx.runtime.start().catch(() => undefined);
  await connected;
  const agents = (await api('GET', '/api/v1/agents')).json as Array<{ id: string; connected: boolean; name: string }>;
  t.deepEqual(
    agents.map((a) => [a.id, a.connected, a.name]),
    [[agentId, true, 'e2e']]
  );
});

test.serial('D1 D2 a certificate made current is sealed, pushed, installed into nginx and verified', async (t) => {
  const def = await api('POST', '/api/v1/definitions', {
    name: 'e2e-web',
    subject: { commonName: 'e2e.agent.test' },
    sans: [{ type: 'dns', value: 'e2e.agent.test' }],
    issuerType: 'internal-ca',
    processMode: 'unattended',
    deployTargets: [
      {
        serverName: 'web-1',
        serverType: 'nginx',
        method: 'agent',
        agentId: ctx.agentId,
        directory: ctx.live,
        checkHost: '127.0.0.1',
        checkPort: ctx.port,
      },
    ],
  });
  t.is(def.status, 201, JSON.stringify(def.json));
  ctx.definitionId = (def.json as { id: string }).id;
  const run = await api('POST', '/api/v1/requests', { definitionId: ctx.definitionId });
  t.is(run.status, 201, JSON.stringify(run.json));
  ctx.certificateId = (run.json as { request: { certificateId: string } }).request.certificateId;
  const cert = (await api('GET', `/api/v1/certificates/${ctx.certificateId}`)).json as { sha256: string };

  const done = await waitFor('automatic deployment', async () => {
    const list = (
      (await api('GET', `/api/v1/deployments?certificateId=${ctx.certificateId}`)).json as { items: DeploymentJson[] }
    ).items;
    return list.find((d) => d.status === 'verified' || d.status === 'failed' || d.status === 'rolled-back');
  });
  t.is(done.status, 'verified', JSON.stringify(done));
  t.is(done.servedSha256, cert.sha256);
  t.is(await servedEventually(ctx.port, cert.sha256), cert.sha256);
  ctx.servedSha256 = cert.sha256;
  const history = await ctx.tc.controller.ctx.db
    .em()
    .fork()
    .find(DeploymentHistoryEntity, { certificateId: ctx.certificateId }, { orderBy: { at: 'asc' } });
  t.deepEqual(
    history.map((h) => h.status),
    ['pending', 'verified']
  );
  // the key on disk belongs to the served certificate and is private
  const keyFile = path.join(ctx.live, 'key.pem');
  t.is(fs.statSync(keyFile).mode & 0o777, 0o600);
  const served = new crypto.X509Certificate(fs.readFileSync(path.join(ctx.live, 'cert.pem')));
  t.true(served.checkPrivateKey(crypto.createPrivateKey(fs.readFileSync(keyFile))));
  // D5: the install notification says verified, for this server and certificate
  const mail = await waitFor('install notification', async () =>
    notifier.sent.find((m) => m.template === 'install-notification')
  );
  t.notThrows(() => installNotificationData.parse(mail.data), 'the real template accepts the data');
  t.like(mail.data, {
    outcome: 'verified',
    serverName: 'web-1',
    sha256: cert.sha256,
    method: 'agent',
    installedBy: 'e2e',
  });
});

test.serial('D2 a broken nginx config (nginx -t fails) leaves the old certificate served: rolled back', async (t) => {
  const before = await servedEventually(ctx.port, ctx.servedSha256);
  fs.writeFileSync(ctx.extraConf, 'this_is_not_a_directive on;\n');
  try {
    const d = await deployAndWait();
    t.is(d.status, 'rolled-back', JSON.stringify(d));
    t.is(d.reason, 'InstallValidateFailed');
    t.is(await servedEventually(ctx.port, before), before);
    const failedMail = await waitFor('failure notification', async () =>
      notifier.sent.find((m) => m.template === 'install-notification' && m.data.outcome === 'failed')
    );
    t.regex(String(failedMail.data.reason), /rolled-back: InstallValidateFailed/);
  } finally {
    fs.writeFileSync(ctx.extraConf, '');
  }
});

test.serial('D2 a failing reload leaves the old certificate served: rolled back', async (t) => {
  const before = await servedEventually(ctx.port, ctx.servedSha256);
  const nginxCommands = ctx.config.commands.nginx!;
  const reload = nginxCommands.reload;
  nginxCommands.reload = ['false'];
  try {
    const d = await deployAndWait();
    t.is(d.status, 'rolled-back', JSON.stringify(d));
    t.is(d.reason, 'InstallReloadFailed');
    t.is(await servedEventually(ctx.port, before), before);
  } finally {
    nginxCommands.reload = reload;
  }
  // and with the reload restored the next deployment goes through again
  const ok = await deployAndWait();
  t.is(ok.status, 'verified', JSON.stringify(ok));
});

test.serial('G3 banning the agent closes its stream within 5 s; the agent wipes its identity', async (t) => {
  const revoked = new Promise<number>((resolve) => ctx.runtime.once('revoked', () => resolve(Date.now())));
  const t0 = Date.now();
  const res = await api('POST', `/api/v1/agents/${ctx.agentId}/ban`, {});
  t.is(res.status, 200, JSON.stringify(res.json));
  const at = await Promise.race([revoked, new Promise<number>((r) => setTimeout(() => r(-1), 5000))]);
  t.true(at > 0, 'the agent saw the ban within 5 s');
  t.true(at - t0 < 5000);
  t.false(fs.existsSync(ctx.store.file('tlsKey')));
  t.false(fs.existsSync(ctx.store.file('bundleKey')));
  t.is(ctx.runtime.lifecycle, 'FAILED');
});
