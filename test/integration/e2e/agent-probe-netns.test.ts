/**
 * Agent-side probing of a host the controller cannot reach (SPEC M4; issue 5 Proof "Unreachable host"), end to end
 * with the shipped agent single executable and a real nginx, in the test's own network namespaces.
 *
 * Layout (addresses from 198.18.0.0/15 only, all made and removed by this test):
 * - namespace `cf-m4h-<pid>` ("intranet host") runs nginx on 198.18.70.2:443, serving the definition's current
 *   certificate (issued by the controller's internal CA) with its chain;
 * - namespace `cf-m4a-<pid>` ("agent site") reaches it over a veth pair 198.18.70.1/30 — 198.18.70.2/30, and reaches
 *   this host (the root namespace, where the controller runs in the test process) over a second veth pair
 *   198.18.71.2/30 — 198.18.71.1/30; the controller's agent listener binds 198.18.71.1;
 * - the agent site does not forward, and the root namespace holds an `unreachable` route for 198.18.70.0/30 (so
 *   nothing leaves through the default route): the controller cannot reach nginx, which the test asserts.
 * The agent executable enrolls and runs inside the agent site. A definition gets two monitored endpoints for
 * 198.18.70.2:443 (SNI = its CN): one probed by the controller, one assigned to the agent. One monitoring run then
 * stores, for that definition, a failing (unreachable) verdict from the controller and an ok verdict from
 * `agent:<id>` whose served leaf SHA-256 is the definition's current certificate.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { runMonitor } from '../../../controller/src/services/monitoring/monitor-service';
import { MonitoringHistoryEntity } from '../../../controller/src/storage/entities';
import { issueCurrentCertificate } from '../../_helpers/loopback-agent';
import {
  netnsTest,
  startIntranetNginx,
  startIntranetController,
  startSiteAgent,
  tcpConnect,
  useIntranet,
  waitAgentConnected,
} from '../../_helpers/netns';

const NEEDS = ['nginx', 'ip', 'bash'];
const test = netnsTest(NEEDS, 'agent probe netns test');

const CN = 'intranet.m4.test';

const intranet = useIntranet(test, NEEDS, 'm4', 70, 'certfleet-m4-netns-');

test.serial(
  'M4 an intranet host the controller cannot reach is probed by its assigned agent; both verdicts are stored for the definition',
  async (t) => {
    const c = intranet();
    const t0 = Date.now();
    const { exe, tc, token, api } = await startIntranetController(t, c, 'e2e-agent-probe');

    // A Lifecycle-Managed definition whose current certificate comes from the controller's internal CA.
    const { definitionId, certificateId, cert, key } = await issueCurrentCertificate(tc, token, 'm4-intranet', CN);
    t.true(cert.isCurrent);
    const currentSha256 = crypto.createHash('sha256').update(new crypto.X509Certificate(cert.pem).raw).digest('hex');
    t.is(currentSha256, cert.sha256);

    // nginx on the intranet host, serving that certificate with its chain.
    const prefix = path.join(c.dir, 'nginx');
    fs.mkdirSync(path.join(prefix, 'logs'), { recursive: true });
    const certFile = path.join(prefix, 'fullchain.pem');
    const keyFile = path.join(prefix, 'key.pem');
    fs.writeFileSync(certFile, [cert.pem, ...cert.chainPem].join('\n'));
    fs.writeFileSync(keyFile, key.export({ type: 'pkcs8', format: 'pem' }).toString(), { mode: 0o600 });
    const { fromAgentSite, nginxLog } = await startIntranetNginx(c, prefix, CN, certFile, keyFile);

    // Reachability: the agent site reaches nginx; this process (the controller's namespace) does not.
    t.is(fromAgentSite, 0, `the agent site must reach nginx on ${c.hostAddr}:443\n${nginxLog()}`);
    const fromController = await tcpConnect(c.hostAddr, 443, 3_000);
    t.not(fromController, 'connected', 'the controller must not reach the intranet host');
    t.log(`controller → ${c.hostAddr}:443: ${fromController}`);

    // The agent executable inside the agent site: enroll through 198.18.71.1, then hold the stream (`run`).
    const agent = await startSiteAgent(t, c, {
      exe,
      token,
      label: 'm4-site',
      hostname: 'm4-site-agent',
      config: 'agent.json',
      state: 'state',
    });
    const { agentId } = agent;
    t.true(await waitAgentConnected(c, token, agentId), `the agent connects from its site\n${agent.log}`);

    // Two monitored endpoints for the same host:port: the controller's and the agent's.
    const endpoint = async (extra: Record<string, unknown>) => {
      const r = await api('POST', `/api/v1/definitions/${definitionId}/endpoints`, {
        host: c.hostAddr,
        port: 443,
        serverName: CN,
        ...extra,
      });
      t.is(r.status, 201, JSON.stringify(r.json));
      return (r.json as { id: string }).id;
    };
    const viaController = await endpoint({ probeFrom: 'controller' });
    const viaAgent = await endpoint({ probeFrom: 'agent', agentId });

    const started = Date.now();
    const run = await runMonitor(
      tc.controller.ctx,
      { trigger: 'manual', definitionId },
      { probeTimeoutMs: 5_000, agentDeadlineMs: 20_000, pollMs: 100 }
    );
    t.log(`monitoring run in ${Date.now() - started} ms`);
    t.is(run.status, 'finished');
    t.deepEqual([run.endpoints, run.ok, run.failing], [2, 1, 1]);

    // Stored for that definition: its monitoring history holds exactly this run's two rows.
    const rows = await tc.controller.ctx.db.em().fork().find(MonitoringHistoryEntity, { definitionId });
    t.is(rows.length, 2, 'one history row per endpoint');
    t.true(rows.every((r) => r.runId === run.id));
    const mine = rows.find((r) => r.endpointId === viaController);
    const agents = rows.find((r) => r.endpointId === viaAgent);

    // The controller's own probe: failing, not reachable, nothing served.
    t.is(mine?.probedBy, 'controller');
    t.is(mine?.status, 'failing', mine?.message ?? '');
    t.is(mine?.reason, 'Unreachable', mine?.message ?? '');
    t.truthy(mine?.checks?.find((x) => x.code === 'Reachable' && x.status === 'failing'));
    t.is(mine?.leafSha256, null);

    // The assigned agent's probe: ok, the served leaf is the definition's current certificate.
    t.is(agents?.probedBy, `agent:${agentId}`);
    t.is(agents?.status, 'ok', `${agents?.reason}: ${agents?.message}\n${agent.log}`);
    t.is(agents?.leafSha256, currentSha256);
    t.is(agents?.certificateId, certificateId);
    t.is(agents?.endpoint, `${c.hostAddr}:443`);
    t.truthy(agents?.checks?.find((x) => x.code === 'Reachable' && x.status === 'ok'));

    // The same through the API: the definition's history holds both verdicts of this run.
    const detail = (await api('GET', `/api/v1/monitoring/runs/${run.id}`)).json as {
      results: Array<{ endpointId: string; status: string; probedBy: string; leafSha256: string | null }>;
    };
    t.deepEqual(
      detail.results.map((r) => [r.endpointId, r.status, r.probedBy, r.leafSha256]).sort(),
      [
        [viaController, 'failing', 'controller', null],
        [viaAgent, 'ok', `agent:${agentId}`, currentSha256],
      ].sort()
    );
    t.log(`total ${Date.now() - t0} ms`);
  }
);
