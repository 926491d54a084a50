/**
 * Discovery from inside an intranet (SPEC S1, S2, S3; issue 5 item 6 "from an agent inside an intranet"), end to
 * end with the shipped agent single executable and a real nginx, in the test's own network namespaces.
 *
 * Layout (addresses from 198.18.0.0/15 only, all made and removed by this test):
 * - namespace `cf-dsh-<pid>` ("intranet host") runs nginx on 198.18.86.2:443 with a self-signed certificate;
 * - namespace `cf-dsa-<pid>` ("agent site") reaches it over a veth pair 198.18.86.1/30 — 198.18.86.2/30 and this
 *   host (the root namespace, where the controller runs in the test process) over 198.18.87.2/30 — 198.18.87.1/30;
 *   the controller's agent listener binds 198.18.87.1;
 * - the agent site does not forward, and the root namespace holds an `unreachable` route for 198.18.86.0/30.
 * The same scan of 198.18.86.0/30 × {443, 8443} is run twice: by the controller (it finds nothing: the intranet is
 * unreachable from it) and by the agent (it finds exactly nginx, with the fingerprint the `openssl` CLI computes).
 */
import fs from 'node:fs';
import path from 'node:path';
import { MonitoredEndpointEntity } from '../../../controller/src/storage/entities';
import {
  netnsTest,
  sleep,
  startIntranetNginx,
  startIntranetController,
  startSiteAgent,
  useIntranet,
  waitAgentConnected,
} from '../../_helpers/netns';
import { opensslSelfSigned } from '../../_helpers/openssl-cert';
import { opensslFingerprints } from '../../_helpers/probe-pki';

const NEEDS = ['nginx', 'ip', 'bash', 'openssl'];
const test = netnsTest(NEEDS, 'agent scan netns test');

const CN = 'intranet.scan.test';

const intranet = useIntranet(test, NEEDS, 'ds', 86, 'certfleet-scan-netns-');

interface ScanJson {
  id: string;
  status: string;
  total: number;
  done: number;
  findings: number;
  stats: Record<string, unknown> | null;
}

test.serial(
  'S1 S2 S3 a TLS host reachable only from the agent’s intranet is found by the agent’s scan, not by the controller’s',
  async (t) => {
    const c = intranet();
    const { exe, tc, token, api } = await startIntranetController(t, c, 'e2e-agent-scan');

    // nginx on the intranet host with a self-signed certificate; its fingerprint from the openssl CLI.
    const prefix = path.join(c.dir, 'nginx');
    fs.mkdirSync(path.join(prefix, 'logs'), { recursive: true });
    const { cert: certFile, key: keyFile } = await opensslSelfSigned(
      prefix,
      'cert',
      `/CN=${CN}/O=CertFleet Discovery Tests`,
      { san: CN, days: 90 }
    );
    const served = await opensslFingerprints(certFile);
    const { fromAgentSite, nginxLog } = await startIntranetNginx(c, prefix, CN, certFile, keyFile);
    t.is(fromAgentSite, 0, `the agent site must reach nginx on ${c.hostAddr}:443\n${nginxLog()}`);

    // The agent executable inside the agent site.
    const agent = await startSiteAgent(t, c, {
      exe,
      token,
      label: 'scan-site',
      hostname: 'scan-site-agent',
      config: 'agent.json',
      state: 'state',
    });
    const { agentId } = agent;
    t.true(await waitAgentConnected(c, token, agentId), `the agent connects from its site\n${agent.log}`);

    const scanBy = async (runBy: unknown): Promise<ScanJson> => {
      const res = await api('POST', '/api/v1/discovery/scans', {
        targets: [c.intranet],
        ports: [443, 8443],
        timeoutMs: 1_000,
        handshakeTimeoutMs: 5_000,
        runBy,
      });
      t.is(res.status, 202, JSON.stringify(res.json));
      const id = (res.json as ScanJson).id;
      let scan = res.json as ScanJson;
      for (let i = 0; i < 300 && !['done', 'failed', 'cancelled', 'interrupted'].includes(scan.status); i++) {
        await sleep(100);
        scan = (await api('GET', `/api/v1/discovery/scans/${id}`)).json as ScanJson;
      }
      return scan;
    };

    // The controller's own scan: every pair unreachable, nothing found.
    const mine = await scanBy({ kind: 'controller' });
    t.is(mine.status, 'done', JSON.stringify(mine));
    t.deepEqual([mine.done, mine.total, mine.findings], [8, 8, 0]);
    t.is(mine.stats?.open, 0);

    // The agent's scan of the same range and ports: exactly nginx.
    const theirs = await scanBy({ kind: 'agent', agentId });
    t.is(theirs.status, 'done', `${JSON.stringify(theirs)}\n${agent.log}`);
    t.deepEqual([theirs.done, theirs.total, theirs.findings], [8, 8, 1]);
    const report = (await api('GET', `/api/v1/discovery/scans/${theirs.id}/report`)).json as {
      findings: Array<{
        host: string;
        port: number;
        sha256: string;
        sha1: string;
        commonName: string;
        selfSigned: boolean;
        probedBy: string;
      }>;
    };
    t.deepEqual(
      report.findings.map((f) => [f.host, f.port, f.sha256, f.sha1]),
      [[c.hostAddr, 443, served.sha256, served.sha1]]
    );
    t.is(report.findings[0]?.commonName, CN);
    t.true(report.findings[0]?.selfSigned, 'judged by the controller: self-signed');
    t.is(report.findings[0]?.probedBy, `agent:${agentId}`);

    // Imported, the endpoint is probed by the agent that found it.
    const imported = await api('POST', `/api/v1/discovery/scans/${theirs.id}/import`, {
      findingIds: 'all',
      mode: 'monitored',
    });
    t.is(imported.status, 200, JSON.stringify(imported.json));
    const endpointId = (imported.json as { imported: Array<{ endpoints: Array<{ id: string }> }> }).imported[0]
      ?.endpoints[0]?.id as string;
    const endpoint = await tc.controller.ctx.db.em().fork().findOneOrFail(MonitoredEndpointEntity, { id: endpointId });
    t.deepEqual(
      [endpoint.host, endpoint.port, endpoint.probeFrom, endpoint.agentId],
      [c.hostAddr, 443, 'agent', agentId]
    );
  }
);
