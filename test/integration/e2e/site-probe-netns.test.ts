/**
 * "Any agent of a site" end to end (SPEC M4, M1): two shipped agent executables enrolled with site `dc1` run in the
 * test's own "agent site" namespace, where an nginx host is reachable that the controller (this process, root
 * namespace) cannot reach. A monitored endpoint with prober `{kind: 'site', site: 'dc1'}` is probed by one of them
 * and its verdict stored for the definition; a frozen chosen agent (SIGSTOP: its stream stays open, it never
 * answers) loses the endpoint to the other after the attempt deadline, and its late report is refused; a chosen
 * agent killed during the run is replaced at once; with both gone the verdict is `NoSiteAgentConnected`.
 *
 * Layout (198.18.0.0/15 only, made and removed here; as in agent-probe-netns.test.ts, other addresses):
 * - `cf-s4h-<pid>` ("intranet host"): nginx on 198.18.72.2:443 serving the definition's current certificate;
 * - `cf-s4a-<pid>` ("agent site"): 198.18.72.1/30 towards the host, 198.18.73.2/30 towards the root namespace
 *   (198.18.73.1, where the controller's agent listener binds); no forwarding, and an `unreachable` route in the
 *   root namespace for 198.18.72.0/30.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SiteAssigner } from '../../../controller/src/domain/site-assignment';
import { runMonitor } from '../../../controller/src/services/monitoring/monitor-service';
import { AgentJobEntity, MonitoringHistoryEntity } from '../../../controller/src/storage/entities';
import { issueCurrentCertificate } from '../../_helpers/loopback-agent';
import {
  netnsTest,
  sleep,
  startIntranetNginx,
  startIntranetController,
  startSiteAgent,
  tcpConnect,
  useIntranet,
  type SiteAgent,
} from '../../_helpers/netns';

const NEEDS = ['nginx', 'ip', 'bash'];
const test = netnsTest(NEEDS, 'site probe netns test');

const CN = 'intranet.site.test';

async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const intranet = useIntranet(test, NEEDS, 's4', 72, 'certfleet-site-netns-');

test.serial(
  'M4 M1 an intranet host is probed by any agent of site dc1: stored for the definition, re-assigned when the chosen agent freezes or is killed, NoSiteAgentConnected when none is left',
  async (t) => {
    const c = intranet();
    const { exe, tc, token, api } = await startIntranetController(t, c, 'e2e-site-probe');
    const hub = tc.controller.agentServer.hub;

    const { definitionId, cert, key } = await issueCurrentCertificate(tc, token, 'site-intranet', CN);

    // nginx on the intranet host.
    const prefix = path.join(c.dir, 'nginx');
    fs.mkdirSync(path.join(prefix, 'logs'), { recursive: true });
    const certFile = path.join(prefix, 'fullchain.pem');
    const keyFile = path.join(prefix, 'key.pem');
    fs.writeFileSync(certFile, [cert.pem, ...cert.chainPem].join('\n'));
    fs.writeFileSync(keyFile, key.export({ type: 'pkcs8', format: 'pem' }).toString(), { mode: 0o600 });
    const { fromAgentSite, nginxLog } = await startIntranetNginx(c, prefix, CN, certFile, keyFile);
    t.is(fromAgentSite, 0, `the agent site must reach nginx on ${c.hostAddr}:443\n${nginxLog()}`);
    t.not(await tcpConnect(c.hostAddr, 443, 3_000), 'connected', 'the controller must not reach the intranet host');

    // Two agent executables in the agent site, both enrolled with a dc1 join token.
    for (const name of ['dc1-one', 'dc1-two']) {
      await startSiteAgent(t, c, {
        exe,
        token,
        label: name,
        site: 'dc1',
        hostname: name,
        config: `${name}.json`,
        state: name,
      });
    }
    await waitFor('both agents connected', () =>
      c.agents.every((a) => hub.isConnected(a.agentId)) ? true : undefined
    );
    const listed = (await api('GET', '/api/v1/agents')).json as Array<{ id: string; site: string | null }>;
    t.deepEqual(
      c.agents.map((a) => listed.find((x) => x.id === a.agentId)?.site),
      ['dc1', 'dc1']
    );

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
    const viaController = await endpoint({ prober: { kind: 'controller' } });
    const viaSite = await endpoint({ prober: { kind: 'site', site: 'dc1' } });
    const history = async (runId: string) =>
      tc.controller.ctx.db.em().fork().find(MonitoringHistoryEntity, { runId, endpointId: viaSite });
    const agentIds = c.agents.map((a) => a.agentId);
    const logs = () => c.agents.map((a) => `${a.name}: ${a.log}`).join('\n');

    // 1. The run succeeds via one of them; both verdicts are stored for the definition.
    const first = await runMonitor(
      tc.controller.ctx,
      { trigger: 'manual', definitionId },
      { probeTimeoutMs: 3_000, agentDeadlineMs: 20_000, pollMs: 100 }
    );
    t.deepEqual([first.endpoints, first.ok, first.failing], [2, 1, 1]);
    const rows = await tc.controller.ctx.db.em().fork().find(MonitoringHistoryEntity, { runId: first.id });
    t.true(rows.every((r) => r.definitionId === definitionId));
    const mine = rows.find((r) => r.endpointId === viaController);
    const site = rows.find((r) => r.endpointId === viaSite);
    t.is(mine?.reason, 'Unreachable');
    t.is(site?.status, 'ok', `${site?.reason}: ${site?.message}\n${logs()}`);
    t.is(site?.leafSha256, cert.sha256);
    t.true(agentIds.map((id) => `agent:${id}`).includes(site?.probedBy ?? ''), site?.probedBy ?? '');

    // The agent a run picks first: the least loaded, ties in id order (domain/site-assignment.ts).
    const firstPick = new SiteAssigner(new Map([['dc1', [...agentIds].sort()]])).pick('dc1') as string;
    const chosen = c.agents.find((a) => a.agentId === firstPick) as SiteAgent;
    const other = c.agents.find((a) => a.agentId !== firstPick) as SiteAgent;

    // 2. The chosen agent freezes (its stream stays open): after the attempt deadline the other one probes.
    chosen.proc?.kill('SIGSTOP');
    const t2 = Date.now();
    const frozen = await runMonitor(
      tc.controller.ctx,
      { trigger: 'manual', endpointIds: [viaSite] },
      { agentDeadlineMs: 20_000, siteAttemptMs: 3_000, pollMs: 100 }
    );
    const took2 = Date.now() - t2;
    t.true(took2 >= 3_000 && took2 < 15_000, `took ${took2} ms`);
    const [r2] = await history(frozen.id);
    t.is(r2?.status, 'ok', `${r2?.reason}: ${r2?.message}\n${logs()}`);
    t.is(r2?.probedBy, `agent:${other.agentId}`);
    const withdrawn = await tc.controller.ctx.db
      .em()
      .fork()
      .find(AgentJobEntity, { agentId: chosen.agentId, kind: 'probe', status: 'superseded' });
    t.is(withdrawn.length, 1, 'the frozen agent’s job was withdrawn');
    // Thawed, it answers the withdrawn job: refused, nothing written.
    chosen.proc?.kill('SIGCONT');
    await sleep(2_000);
    const late = await tc.controller.ctx.db.em().fork().findOneOrFail(AgentJobEntity, { id: withdrawn[0]?.id });
    t.deepEqual([late.status, late.result], ['superseded', null]);
    t.true(hub.isConnected(chosen.agentId), 'the thawed agent is still connected');

    // 3. The chosen agent is killed while its job is out: re-assigned at once, not after the 30 s attempt.
    chosen.proc?.kill('SIGSTOP');
    const t3 = Date.now();
    const killedRun = runMonitor(
      tc.controller.ctx,
      { trigger: 'manual', endpointIds: [viaSite] },
      { agentDeadlineMs: 40_000, siteAttemptMs: 30_000, pollMs: 100 }
    );
    killedRun.catch(() => undefined);
    await waitFor('the job delivered to the chosen agent', async () => {
      const open = await tc.controller.ctx.db
        .em()
        .fork()
        .find(AgentJobEntity, { agentId: chosen.agentId, kind: 'probe', status: 'delivered' });
      return open.length > 0 ? true : undefined;
    });
    chosen.proc?.kill('SIGKILL');
    const killed = await killedRun;
    const took3 = Date.now() - t3;
    t.true(took3 < 20_000, `took ${took3} ms`);
    const [r3] = await history(killed.id);
    t.is(r3?.status, 'ok', `${r3?.reason}: ${r3?.message}\n${logs()}`);
    t.is(r3?.probedBy, `agent:${other.agentId}`);

    // 4. Both gone: an explicit verdict, no waiting.
    other.proc?.kill('SIGKILL');
    await waitFor('no dc1 agent connected', () => (agentIds.some((id) => hub.isConnected(id)) ? undefined : true));
    const t4 = Date.now();
    const none = await runMonitor(
      tc.controller.ctx,
      { trigger: 'manual', endpointIds: [viaSite] },
      { agentDeadlineMs: 20_000, pollMs: 100 }
    );
    t.true(Date.now() - t4 < 5_000);
    const [r4] = await history(none.id);
    t.deepEqual(
      [r4?.status, r4?.reason, r4?.message],
      ['failing', 'NoSiteAgentConnected', `${c.hostAddr}:443: no agent of site dc1 is connected`]
    );
  }
);
