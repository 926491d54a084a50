/**
 * SPEC D6, D1, M2: the deploy check of a mail server target looks where the server listens by default — Dovecot on
 * IMAPS 993, Postfix on 25 with STARTTLS — and names the same `host:port` as the target's monitored endpoint and
 * the W3 list's check endpoint (an older rule probed 443 unless STARTTLS was set explicitly).
 *
 * The "mail host" is this test's own network namespace (198.18.70.2, joined by a veth pair), where 993 and 25 are
 * free whatever this machine runs: implicit TLS on 993 and an SMTP STARTTLS dialogue on 25, both serving the
 * imported certificate and its intermediate. The checks run from the in-process controller over the veth link.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startTestController, type TestController, useStandInAgentExecutable } from '../../_helpers/controller';
import { isCI, assertCommands } from '../../_helpers/needs';
import { netnsTest } from '../../_helpers/netns';
import {
  type LinkedNamespace,
  createLinkedNamespace,
  removeLinkedNamespace,
  startNsListeners,
  stopNsListeners,
} from '../../_helpers/netns-listeners';
import { type ImportedIds, managedImportBody, testCa, testCert } from '../../_helpers/test-pki';
import { tempRoot } from '../agent/_servers';

const NEEDS = ['ip'];
const test = netnsTest(NEEDS, 'deploy check port tests');
const HOST_LINK = '198.18.70.1';
const MAIL_HOST = '198.18.70.2';
const CN = 'mail.dcp.test';

interface Ctx {
  dir: string;
  net?: LinkedNamespace;
  listeners?: ChildProcess;
  tc?: TestController;
  token: string;
  certificateId: string;
  definitionId: string;
}
let ctx: Ctx | undefined;

interface CheckResponse {
  deployment: { status: string; reason: string; message: string };
  result: { endpoint: string; status: string; reason: string; leaf: { sha256: string } | null };
}

test.before(async () => {
  if (isCI) assertCommands(NEEDS);
  const dir = tempRoot('certfleet-deploy-check-ports-');
  const c: Ctx = { dir, token: '', certificateId: '', definitionId: '' };
  ctx = c;
  // Stand-in for the agent single executable inside offline bundles (only the deployment rows matter here).
  useStandInAgentExecutable(dir);

  const { intermediate } = await testCa('Deploy Check Ports');
  const leaf = await testCert({ subject: `CN=${CN}`, issuer: intermediate, dns: [CN] });
  const certFile = path.join(dir, 'mail.pem');
  const keyFile = path.join(dir, 'mail.key');
  fs.writeFileSync(certFile, leaf.pem + intermediate.pem);
  fs.writeFileSync(keyFile, leaf.key.privateKeyPem, { mode: 0o600 });

  c.net = createLinkedNamespace('dcp', HOST_LINK, MAIL_HOST);
  c.listeners = await startNsListeners(c.net.ns, dir, [
    { address: MAIL_HOST, port: 993, cert: certFile, key: keyFile },
    { address: MAIL_HOST, port: 25, cert: certFile, key: keyFile, starttls: 'smtp' },
  ]);

  c.tc = await startTestController();
  c.token = await c.tc.adminToken();
  const imported = await api<ImportedIds>('POST', '/api/v1/imports', managedImportBody('mail-dcp', leaf, intermediate));
  c.certificateId = imported.certificate.id;
  c.definitionId = imported.definition.id;
  // No checkPort, no starttls: the server types' defaults decide.
  await api('PATCH', `/api/v1/definitions/${c.definitionId}`, {
    deployTargets: [
      {
        serverName: 'imap',
        serverType: 'dovecot',
        method: 'offline',
        directory: '/etc/dovecot/cf',
        checkHost: MAIL_HOST,
      },
      {
        serverName: 'mx',
        serverType: 'postfix',
        method: 'offline',
        directory: '/etc/postfix/cf',
        checkHost: MAIL_HOST,
      },
    ],
  });
});

test.after.always(async () => {
  await stopNsListeners(ctx?.listeners);
  await ctx?.tc?.close();
  removeLinkedNamespace(ctx?.net);
  if (ctx) fs.rmSync(ctx.dir, { recursive: true, force: true });
});

async function api<T>(method: string, url: string, body?: unknown): Promise<T> {
  const c = ctx as Ctx;
  const r = await (c.tc as TestController).request(method, url, body, c.token);
  if (r.status !== 200 && r.status !== 201) throw new Error(`${method} ${url}: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json as T;
}

/** An offline bundle for deploy target `targetIndex`: its deployment id. */
async function offlineDeployment(targetIndex: number): Promise<string> {
  const c = ctx as Ctx;
  const r = await (c.tc as TestController).request(
    'POST',
    `/api/v1/certificates/${c.certificateId}/offline-bundles`,
    { targetIndex },
    c.token
  );
  if (r.status !== 200) throw new Error(`offline bundle: ${r.status} ${String(r.json).slice(0, 300)}`);
  return String(r.headers['x-certfleet-deployment-id']);
}

for (const [targetIndex, serverType, port] of [
  [0, 'dovecot', 993],
  [1, 'postfix', 25],
] as const) {
  test.serial(
    `D6 D1 M2 the deploy check of a ${serverType} target probes ${port} by default and names the monitored endpoint`,
    async (t) => {
      const c = ctx as Ctx;
      const endpoint = `${MAIL_HOST}:${port}`;
      const deploymentId = await offlineDeployment(targetIndex);
      const checked = await api<CheckResponse>('POST', `/api/v1/deployments/${deploymentId}/check`, {
        from: 'controller',
      });
      t.is(checked.result.endpoint, endpoint);
      t.is(checked.deployment.status, 'verified', `${checked.deployment.reason}: ${checked.deployment.message}`);
      t.is(checked.deployment.reason, 'DeployCheckPassed');
      const certificate = await api<{ sha256: string }>('GET', `/api/v1/certificates/${c.certificateId}`);
      t.is(checked.result.leaf?.sha256, certificate.sha256);

      // W3 lists the same check endpoint, with this check as its latest result
      const list = await api<{ items: Array<{ id: string; checkEndpoint: string; latestCheck: unknown }> }>(
        'GET',
        `/api/v1/deployments?certificateId=${c.certificateId}&limit=50`
      );
      const row = list.items.find((d) => d.id === deploymentId);
      t.is(row?.checkEndpoint, endpoint);
      t.like(row?.latestCheck, { status: 'ok' });

      // …and scheduled monitoring watches exactly that endpoint of the definition
      const endpoints = await api<Array<{ host: string; port: number; starttls: string | null; source: string }>>(
        'GET',
        `/api/v1/definitions/${c.definitionId}/endpoints`
      );
      const derived = endpoints.find((e) => e.source === 'deploy-target' && e.port === port);
      t.like(derived, { host: MAIL_HOST, starttls: serverType === 'postfix' ? 'smtp' : null });
    }
  );
}
