/**
 * Smoke test of `npm run bench -- monitor-sweep` (bench/monitor-sweep.ts), without peers and at small size: a farm
 * of 60 loopback TLS endpoints in farm.sh's layout and truth format (certificates from test/_helpers/test-pki.ts,
 * fingerprints from the openssl CLI), served by the bench's Node farm server, registered with the bench's
 * `registerFarm`, swept with `runMonitor` on the worker-thread path (threshold forced to 1) and on the main
 * thread, and every stored verdict and fingerprint compared with the truth by the bench's `verifyRun`.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { systemClock } from '@certfleet/shared';
import {
  type FarmEndpoint,
  type FarmStatus,
  type FarmTruth,
  type NodeFarm,
  farmFiles,
  registerFarm,
  startNodeFarm,
  verifyRun,
} from '../../../bench/monitor-farm';
import { masterKeyFromBytes } from '../../../controller/src/secrets/master-key';
import type { ServiceContext } from '../../../controller/src/services/context';
import { runMonitor } from '../../../controller/src/services/monitoring/monitor-service';
import { stopSweepWorkers } from '../../../controller/src/services/monitoring/sweep-workers';
import { dropDatabase, freshDatabaseUrl } from '../../_helpers/db';
import { assertCommands, isCI, testNeeding } from '../../_helpers/needs';
import { daysFromNow, testCa, testCert, testKey } from '../../_helpers/test-pki';
import { openDatabase } from '../../../controller/src/storage/database';
import { tempRoot } from '../agent/_servers';

const run = promisify(execFile);
const test = testNeeding(['openssl']);
const N = 60;

/** farm.sh's categories by i % 20. */
function categoryOf(i: number): FarmStatus {
  const r = i % 20;
  if (r <= 11) return 'ok';
  if (r === 12) return 'expiring_soon';
  if (r <= 14) return 'expired';
  if (r === 15) return 'hostname_mismatch';
  if (r === 16) return 'self_signed';
  if (r <= 18) return 'incomplete_chain';
  return 'fingerprint_mismatch';
}

async function opensslFp(file: string, digest: 'sha1' | 'sha256'): Promise<string> {
  const { stdout } = await run('openssl', ['x509', '-in', file, '-noout', '-fingerprint', `-${digest}`]);
  const m = /=([0-9A-F:]+)/i.exec(stdout);
  if (!m?.[1]) throw new Error(`openssl fingerprint: ${stdout}`);
  return m[1];
}

/** Writes farm.sh's files for N endpoints and its truth (fingerprints by openssl). */
async function makeFarm(dir: string): Promise<{ truth: FarmTruth; certs: string }> {
  const certs = path.join(dir, 'certs');
  fs.mkdirSync(certs, { recursive: true });
  const { root, intermediate } = await testCa('Smoke Farm');
  fs.writeFileSync(path.join(certs, 'root.crt'), root.pem);
  fs.writeFileSync(path.join(certs, 'int.crt'), intermediate.pem);
  const endpoints: FarmEndpoint[] = [];
  for (let i = 0; i < N; i++) {
    const status = categoryOf(i);
    const name = `ep${i}.farm.test`;
    const key = await testKey(i % 12 === 1 ? 'rsa-2048' : 'ec-p256');
    const leafSpec = {
      subject: `CN=${status === 'hostname_mismatch' ? `wrong-ep${i}.example.invalid` : name}, O=certfleet-bench farm`,
      dns: [status === 'hostname_mismatch' ? `wrong-ep${i}.example.invalid` : name],
      key,
      ...(status === 'self_signed' ? {} : { issuer: intermediate }),
      ...(status === 'expiring_soon' ? { notAfter: daysFromNow(7) } : {}),
      ...(status === 'expired'
        ? { notBefore: new Date('2024-01-01T00:00:00Z'), notAfter: new Date('2024-04-01T00:00:00Z') }
        : {}),
    };
    const leaf = await testCert(leafSpec);
    const f = farmFiles(certs, `ep${i}`);
    fs.writeFileSync(f.key, key.privateKeyPem);
    fs.writeFileSync(f.crt, leaf.pem);
    const bare = status === 'self_signed' || status === 'incomplete_chain';
    fs.writeFileSync(f.chain, bare ? leaf.pem : leaf.pem + intermediate.pem);
    if (status === 'fingerprint_mismatch') fs.writeFileSync(f.old, (await testCert(leafSpec)).pem);
    endpoints.push({
      id: `ep${i}`,
      host: '127.0.0.1',
      port: 0,
      servername: name,
      key: key.type.startsWith('rsa') ? 'rsa' : 'ec',
      status,
      chain_len: bare ? 1 : 2,
      served: { sha1: '', sha256: '' },
      expected: { sha1: '', sha256: '' },
    });
  }
  // The oracle: openssl's fingerprints of the served leaf (and of the expected one).
  await Promise.all(
    endpoints.map(async (ep) => {
      const f = farmFiles(certs, ep.id);
      ep.served = { sha1: await opensslFp(f.crt, 'sha1'), sha256: await opensslFp(f.crt, 'sha256') };
      const exp = ep.status === 'fingerprint_mismatch' ? f.old : f.crt;
      ep.expected = { sha1: await opensslFp(exp, 'sha1'), sha256: await opensslFp(exp, 'sha256') };
    })
  );
  return {
    truth: {
      n: N,
      port: 0,
      ca: path.join(certs, 'root.crt'),
      intermediate: path.join(certs, 'int.crt'),
      endpoints,
    },
    certs,
  };
}

test('monitor-sweep smoke: worker-thread and main-thread sweeps agree with the farm truth', async (t) => {
  t.timeout(90_000); // a hang guard: farm certificates are made with the openssl CLI, slow on a busy machine
  if (isCI) assertCommands(['openssl']);
  const dir = tempRoot('certfleet-monitor-smoke-');
  let farm: NodeFarm | undefined;
  const url = await freshDatabaseUrl('cfsmoke');
  const db = await openDatabase(url);
  try {
    const { truth, certs } = await makeFarm(dir);
    farm = await startNodeFarm(
      truth.endpoints.map((e) => ({
        id: e.id,
        host: e.host,
        port: 0,
        chainFile: farmFiles(certs, e.id).chain,
        keyFile: farmFiles(certs, e.id).key,
      }))
    );
    t.deepEqual(farm.failed, []);
    for (const e of truth.endpoints) e.port = farm.ports.get(e.id) as number;
    const ctx: ServiceContext = {
      db,
      masterKey: masterKeyFromBytes(crypto.randomBytes(32)),
      clock: systemClock,
      log: pino({ level: 'silent' }),
    };
    const byEndpointId = await registerFarm(ctx, truth, certs);
    t.is(byEndpointId.size, N);

    for (const opts of [{ workers: 2, workerThreshold: 1 }, { workers: 0 }]) {
      const monitorRun = await runMonitor(ctx, { trigger: 'manual' }, opts);
      t.is(monitorRun.endpoints, N);
      const a = await verifyRun(ctx, monitorRun.id, byEndpointId);
      t.deepEqual(a.wrong, [], `workers ${opts.workers}`);
      t.is(a.rows, N);
      t.is(a.verdictsCorrect, N);
      t.is(a.sha256Correct, N);
      t.is(a.sha1Correct, N);
      for (const reason of ['Ok', 'CertificateExpired', 'IntermediateMissing', 'ServedCertMismatch'])
        t.true((a.byReason[reason] ?? 0) > 0, reason);
    }
  } finally {
    await stopSweepWorkers();
    await farm?.stop();
    await db.close();
    await dropDatabase(url);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
