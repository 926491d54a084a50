/**
 * Bad input from a server gets a precise result, never a broken run (SPEC M1, M6, S2): a certificate may carry a
 * NUL character in a SAN (an IA5String may), which then appears in messages and SAN lists — and PostgreSQL text and
 * jsonb refuse U+0000. A monitoring run over such a server must still finish with its history rows and report, and
 * a discovery scan must still store the finding; the NUL is shown as U+FFFD. Real TLS on loopback, real PostgreSQL,
 * the controller's own runMonitor, the shared scan engine and the controller's findings store.
 */
import type net from 'node:net';
import test from 'ava';
import { expandTargets, scan } from '@certfleet/shared';
import type { ServiceContext } from '../../../controller/src/services/context';
import { createDefinition } from '../../../controller/src/services/definition-service';
import { storeFindings } from '../../../controller/src/services/discovery/findings-store';
import { scanFindings } from '../../../controller/src/services/discovery/scan-report';
import { createScan } from '../../../controller/src/services/discovery/scan-service';
import { createEndpoint } from '../../../controller/src/services/monitoring/endpoints-service';
import { getRun, runMonitor } from '../../../controller/src/services/monitoring/monitor-service';
import { type Database, openDatabase } from '../../../controller/src/storage/database';
import { dropDatabase, freshDatabaseUrl, serviceContextFor } from '../../_helpers/db';
import { closeAll, serveTlsChain } from '../../_helpers/probe-pki';
import { testCa, testCert } from '../../_helpers/test-pki';

const EVIL_SAN = 'evil\u0000.example';
const SHOWN = 'evil\uFFFD.example';
let db: Database | undefined;
let url: string | undefined;
let ctx: ServiceContext;
let port = 0;
const servers: net.Server[] = [];

test.before(async () => {
  url = await freshDatabaseUrl('cfnul');
  db = await openDatabase(url);
  ctx = serviceContextFor(db);
  const { intermediate } = await testCa('Hostile Strings');
  const leaf = await testCert({ subject: 'CN=nul.example', issuer: intermediate, dns: [EVIL_SAN] });
  port = await serveTlsChain(servers, leaf.pem + intermediate.pem, leaf.key.privateKeyPem);
});

test.after.always(async () => {
  closeAll(servers);
  await db?.close();
  if (url) await dropDatabase(url);
});

test.serial(
  'M1 M6 a NUL character in a served SAN reaches history and report as U+FFFD; the run finishes',
  async (t) => {
    const def = await createDefinition(
      ctx,
      { name: 'hostile.example', subject: { commonName: 'hostile.example' }, operationMode: 'monitored' },
      'test'
    );
    await createEndpoint(ctx, def.id, { host: '127.0.0.1', port, serverName: 'hostile.example' }, 'test');

    const run = await runMonitor(ctx, { trigger: 'manual' }, { workers: 0, checkRevocation: false, fetchAia: false });
    t.is(run.status, 'finished');
    t.is(run.endpoints, 1);
    const detail = await getRun(ctx, run.id);
    const hostname = detail.results[0]?.checks?.find((c) => c.code === 'HostnameCovered');
    t.is(hostname?.status, 'failing');
    t.true(hostname?.message.includes(SHOWN), hostname?.message);
    t.false(JSON.stringify(detail.report).includes('\\u0000'));
    t.false(JSON.stringify(detail.results).includes('\\u0000'));
  }
);

test.serial('S2 a NUL character in a scanned certificate’s SAN is stored as U+FFFD with its finding', async (t) => {
  const created = await createScan(ctx, { targets: ['127.0.0.1'], ports: [String(port)] }, 'test');
  const { findings } = await scan(expandTargets(['127.0.0.1']), [{ port, starttls: null }], {
    connectTimeoutMs: 2_000,
    handshakeTimeoutMs: 5_000,
  });
  t.is(findings.length, 1);
  t.true(findings[0]?.sans.includes(`DNS:${EVIL_SAN}`), JSON.stringify(findings[0]?.sans));
  const inserted = await ctx.db
    .em()
    .fork()
    .transactional((em) => storeFindings(em, created.id, findings, 'controller', new Date()));
  t.is(inserted, 1);
  const [stored] = await scanFindings(ctx, created.id);
  t.deepEqual(stored?.sans, [`DNS:${SHOWN}`]);
  t.false(JSON.stringify(stored).includes('\\u0000'));
});
