/**
 * Revocation status from CRLs (SPEC M6) against the controller's OWN CA on a real PostgreSQL: the CA's
 * cRLDistributionPoint points at a plain-http server on 127.0.0.1 that serves the CA's current CRL bytes (the
 * controller's own /pki/{caId}/crl route is HTTPS-only); a certificate is issued, checked, revoked through the
 * revocation service, and checked again — through the fetcher, through the check chain and through a monitor run.
 * Loopback only; every fetch has a short timeout.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import anyTest, { type TestFn } from 'ava';
import pino from 'pino';
import {
  CrlCache,
  type ProbeObservation,
  crlDistributionPoints,
  crlRevocationStatus,
  decodePem,
  downloadCrl,
  evaluateChecks,
  parseCrl,
  probeEndpoint,
  systemClock,
} from '@certfleet/shared';
import { masterKeyFromBytes } from '../../../controller/src/secrets/master-key';
import { issueServerCertificateDirect } from '../../../controller/src/services/ca/issuances';
import { rolloverCa, setCaExtensions } from '../../../controller/src/services/ca/lifecycle';
import { currentCrl, revokeCertificate } from '../../../controller/src/services/ca/revocation';
import type { ServiceContext } from '../../../controller/src/services/context';
import { createDefinition } from '../../../controller/src/services/definition-service';
import { executeRun } from '../../../controller/src/services/monitoring/monitor-service';
import type { Database } from '../../../controller/src/storage/database';
import { dropDatabase, freshDatabase } from '../../_helpers/db';

type Mode = 'real' | 'foreign-key' | 'tampered' | 'not-found';

interface Issued {
  name: string;
  serial: string;
  chain: Buffer[];
  keyPem: string;
  certificatePem: string;
  chainPem: string[];
}

interface Ctx {
  db: Database;
  ctx: ServiceContext;
  caId: string;
  crlServer: http.Server;
  crlUrl: string;
  mode: { value: Mode };
  fetches: { count: number };
}
const test = anyTest as TestFn<Ctx>;

const TIMEOUT_MS = 2_000;

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
}

/** The same tbsCertList (same issuer name, same entries) signed by a key that is not the CA's. */
function resignedWithForeignKey(der: Buffer): Buffer {
  const crl = parseCrl(der);
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const sig = crypto.sign('sha256', crl.tbs, privateKey);
  const algId = tlv(0x30, tlv(0x06, Buffer.from('2a8648ce3d040302', 'hex'))); // ecdsa-with-SHA256
  return tlv(0x30, Buffer.concat([crl.tbs, algId, tlv(0x03, Buffer.concat([Buffer.from([0]), sig]))]));
}

function pemsToDer(pems: string[]): Buffer[] {
  return pems.flatMap((p) => decodePem(p).map((b) => b.der));
}

async function listen(server: http.Server | tls.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  const port = await listen(s);
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function issue(t: { context: Ctx }, cn: string): Promise<Issued> {
  const r = await issueServerCertificateDirect(
    t.context.ctx,
    { subject: { commonName: cn }, sans: [{ type: 'dns', value: cn }], validityDays: 90 },
    'test'
  );
  return {
    name: cn,
    serial: r.serial,
    chain: pemsToDer([r.certificatePem, ...r.chainPem]),
    keyPem: r.privateKeyPem as string,
    certificatePem: r.certificatePem,
    chainPem: r.chainPem,
  };
}

test.before(async (t) => {
  const db = await freshDatabase('cfcrl');
  const ctx: ServiceContext = {
    db,
    masterKey: masterKeyFromBytes(crypto.randomBytes(32)),
    clock: systemClock,
    log: pino({ level: 'silent' }),
  };
  const ca = await rolloverCa(ctx, 'test', { keySpec: 'EC-P256', name: 'CRL test CA' });
  const mode = { value: 'real' as Mode };
  const fetches = { count: 0 };
  const crlServer = http.createServer((req, res) => {
    fetches.count++;
    const m = /^\/pki\/([0-9a-f-]+)\/crl$/.exec(req.url ?? '');
    if (!m || mode.value === 'not-found') {
      res.writeHead(404).end();
      return;
    }
    currentCrl(ctx, m[1] as string).then(
      (crl) => {
        const body =
          mode.value === 'foreign-key'
            ? resignedWithForeignKey(crl.der)
            : mode.value === 'tampered'
              ? Buffer.from(crl.der.map((b, i) => (i === crl.der.length - 3 ? b ^ 0x01 : b)))
              : crl.der;
        res.writeHead(200, { 'content-type': 'application/pkix-crl', 'content-length': body.length }).end(body);
      },
      () => res.writeHead(500).end()
    );
  });
  const port = await listen(crlServer);
  await setCaExtensions(ctx, ca.id, { crlDistributionPoint: `http://127.0.0.1:${port}/pki/{caId}/crl` }, 'test');
  t.context = {
    db,
    ctx,
    caId: ca.id,
    crlServer,
    crlUrl: `http://127.0.0.1:${port}/pki/${ca.id}/crl`,
    mode,
    fetches,
  };
});

test.after.always(async (t) => {
  t.context.crlServer?.close();
  if (!t.context.db) return;
  const url = t.context.db.url;
  await t.context.db.close();
  await dropDatabase(url);
});

const observed = (leaf: Issued): ProbeObservation =>
  ({ host: '127.0.0.1', port: 443, serverName: leaf.name, ok: true, chain: leaf.chain }) as unknown as ProbeObservation;

test.serial('issued leaf names the CA CRL URL; good before revocation, CertificateRevoked after', async (t) => {
  t.context.mode.value = 'real';
  const leaf = await issue(t, 'crl-good.test.internal');
  t.deepEqual(crlDistributionPoints(leaf.chain[0] as Buffer), [t.context.crlUrl]);

  const cache = new CrlCache(4);
  const before = await crlRevocationStatus(leaf.chain, { cache, timeoutMs: TIMEOUT_MS });
  t.is(before?.status, 'good', before?.message);
  t.is(before?.source, 'crl');
  const okOutcome = evaluateChecks(observed(leaf), {
    now: new Date(),
    mode: 'managed',
    ...(before ? { revocation: before } : {}),
  });
  t.is(okOutcome.checks.find((c) => c.code === 'NotRevoked')?.status, 'ok');

  // cached until nextUpdate: a second lookup does not fetch
  const n = t.context.fetches.count;
  t.is((await crlRevocationStatus(leaf.chain, { cache, timeoutMs: TIMEOUT_MS }))?.status, 'good');
  t.is(t.context.fetches.count, n);

  const revoked = await revokeCertificate(t.context.ctx, { serial: leaf.serial, reason: 'keyCompromise' }, 'test');
  t.false(revoked.alreadyRevoked);

  const after = await crlRevocationStatus(leaf.chain, { cache: new CrlCache(4), timeoutMs: TIMEOUT_MS });
  t.is(after?.status, 'revoked', after?.message);
  t.is(after?.reason, 'keyCompromise');
  t.is(after?.revokedAt, revoked.issuance.revokedAt?.toISOString().replace(/\.\d{3}Z$/, '.000Z'));
  const failing = evaluateChecks(observed(leaf), {
    now: new Date(),
    mode: 'managed',
    ...(after ? { revocation: after } : {}),
  });
  t.is(failing.status, 'failing');
  t.is(failing.reason, 'CertificateRevoked');

  // another certificate of the same CA stays good on the new CRL
  const other = await issue(t, 'crl-other.test.internal');
  t.is((await crlRevocationStatus(other.chain, { cache: new CrlCache(4), timeoutMs: TIMEOUT_MS }))?.status, 'good');
});

test.serial('a CRL signed by another key, or with a broken signature, is rejected: unknown, never good', async (t) => {
  const leaf = await issue(t, 'crl-forged.test.internal');
  try {
    for (const mode of ['foreign-key', 'tampered'] as const) {
      t.context.mode.value = mode;
      const cache = new CrlCache(4);
      const r = await crlRevocationStatus(leaf.chain, { cache, timeoutMs: TIMEOUT_MS });
      t.is(r?.status, 'unknown', `${mode}: ${r?.message ?? ''}`);
      t.regex(r?.message ?? '', /not signed by the leaf's issuer|signature|malformed|DER|ASN/i, mode);
      t.is(cache.size, 0, `${mode}: a rejected CRL is not cached`);
      const o = evaluateChecks(observed(leaf), { now: new Date(), mode: 'managed', ...(r ? { revocation: r } : {}) });
      t.is(o.reason, 'RevocationUnknown');
      t.is(o.status, 'warning');
    }
    // without the issuer certificate (leaf served alone, no trust roots) nothing can be verified
    t.context.mode.value = 'real';
    const alone = await crlRevocationStatus([leaf.chain[0] as Buffer], {
      cache: new CrlCache(4),
      timeoutMs: TIMEOUT_MS,
    });
    t.is(alone?.status, 'unknown');
    t.regex(alone?.message ?? '', /issuer certificate/);
    // …but the issuer from the trust roots works
    const viaRoots = await crlRevocationStatus([leaf.chain[0] as Buffer], {
      cache: new CrlCache(4),
      timeoutMs: TIMEOUT_MS,
      issuers: [new crypto.X509Certificate(leaf.chain[1] as Buffer)],
    });
    t.is(viaRoots?.status, 'good', viaRoots?.message);
  } finally {
    t.context.mode.value = 'real';
  }
});

test.serial('an unreachable CDP gives RevocationUnreachable, a failing one RevocationUnknown', async (t) => {
  const port = await closedPort();
  await setCaExtensions(
    t.context.ctx,
    t.context.caId,
    { crlDistributionPoint: `http://127.0.0.1:${port}/crl` },
    'test'
  );
  const leaf = await issue(t, 'crl-unreachable.test.internal');
  await setCaExtensions(
    t.context.ctx,
    t.context.caId,
    { crlDistributionPoint: `${t.context.crlUrl.replace(t.context.caId, '{caId}')}` },
    'test'
  );
  const started = Date.now();
  const r = await crlRevocationStatus(leaf.chain, { cache: new CrlCache(4), timeoutMs: TIMEOUT_MS });
  t.true(Date.now() - started < TIMEOUT_MS + 1000);
  t.is(r?.status, 'unknown');
  t.regex(r?.message ?? '', new RegExp(`127\\.0\\.0\\.1:${port}`));
  t.is(r?.cause, 'unreachable');
  const o = evaluateChecks(observed(leaf), { now: new Date(), mode: 'managed', ...(r ? { revocation: r } : {}) });
  t.is(o.status, 'warning');
  t.is(o.reason, 'RevocationUnreachable');

  // a server that never answers: bounded by the timeout
  const hang = http.createServer(() => undefined);
  const hangPort = await listen(hang);
  try {
    const began = Date.now();
    const hung = await crlRevocationStatus(leaf.chain, {
      cache: new CrlCache(4),
      timeoutMs: 300,
      download: (_url, ms, max) => downloadCrl(`http://127.0.0.1:${hangPort}/crl`, ms, max),
    });
    t.is(hung?.status, 'unknown');
    t.regex(hung?.message ?? '', /timed out after 300 ms/);
    t.true(Date.now() - began < 3000);
  } finally {
    hang.closeAllConnections();
    hang.close();
  }

  // a 404 from the CDP is unknown too
  t.context.mode.value = 'not-found';
  try {
    const good = await issue(t, 'crl-404.test.internal');
    const nf = await crlRevocationStatus(good.chain, { cache: new CrlCache(4), timeoutMs: TIMEOUT_MS });
    t.is(nf?.status, 'unknown');
    t.regex(nf?.message ?? '', /HTTP 404/);
    t.is(nf?.cause, 'invalid', 'the server answered: not "unreachable"');
  } finally {
    t.context.mode.value = 'real';
  }
});

test.serial('a leaf without an http CDP gets no revocation info: NotRevoked skipped', async (t) => {
  await setCaExtensions(t.context.ctx, t.context.caId, {}, 'test');
  try {
    const leaf = await issue(t, 'crl-none.test.internal');
    t.deepEqual(crlDistributionPoints(leaf.chain[0] as Buffer), []);
    t.is(await crlRevocationStatus(leaf.chain, { cache: new CrlCache(4), timeoutMs: TIMEOUT_MS }), undefined);
  } finally {
    await setCaExtensions(
      t.context.ctx,
      t.context.caId,
      { crlDistributionPoint: t.context.crlUrl.replace(t.context.caId, '{caId}') },
      'test'
    );
  }
});

test.serial(
  'monitor run (main thread and worker): NotRevoked ok before, CertificateRevoked after; opt-out skips',
  async (t) => {
    const leaf = await issue(t, 'crl-monitor.test.internal');
    const server = tls.createServer(
      { key: leaf.keyPem, cert: [leaf.certificatePem, ...leaf.chainPem].join('\n') },
      (s) => {
        s.on('error', () => undefined);
        s.end();
      }
    );
    server.on('tlsClientError', () => undefined);
    const port = await listen(server);
    try {
      const definition = await createDefinition(
        t.context.ctx,
        {
          name: 'crl-monitor.test.internal',
          subject: { commonName: 'crl-monitor.test.internal' },
          sans: [{ type: 'dns', value: 'crl-monitor.test.internal' }],
        },
        'test'
      );
      const items = [
        {
          endpointId: null,
          definition,
          target: {
            host: '127.0.0.1',
            port,
            serverName: 'crl-monitor.test.internal',
            starttls: null,
            probeFrom: 'controller' as const,
            agentId: null,
          },
          expected: null,
        },
      ];
      const run = async (extra: Record<string, unknown>) =>
        (
          await executeRun(t.context.ctx, 'manual', items, {
            workers: 0,
            probeTimeoutMs: TIMEOUT_MS,
            revocationTimeoutMs: TIMEOUT_MS,
            revocationCache: new CrlCache(4),
            ...extra,
          })
        ).results[0]?.outcome;
      const before = await run({});
      t.is(before?.checks.find((c) => c.code === 'NotRevoked')?.status, 'ok', JSON.stringify(before?.checks));

      await revokeCertificate(t.context.ctx, { serial: leaf.serial, reason: 'superseded' }, 'test');
      const after = await run({});
      t.is(after?.status, 'failing');
      t.is(after?.reason, 'CertificateRevoked');

      const optedOut = await run({ checkRevocation: false });
      t.is(optedOut?.checks.find((c) => c.code === 'NotRevoked')?.status, 'skipped');
      t.not(optedOut?.reason, 'CertificateRevoked');

      // the worker-thread path does the same lookup in the worker
      const onWorkers = await run({ workers: 1, workerThreshold: 1 });
      t.is(onWorkers?.reason, 'CertificateRevoked', onWorkers?.message);
      // and the probe engine sees the same chain the fetcher used
      const obs = await probeEndpoint({ host: '127.0.0.1', port, serverName: 'crl-monitor.test.internal' });
      t.is(obs.chain.length, 2);
    } finally {
      server.close();
    }
  }
);
