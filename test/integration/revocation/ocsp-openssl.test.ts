/**
 * OCSP revocation status (SPEC M6) against REAL `openssl ocsp` responder processes on loopback, with a CA made
 * by the test (test/_helpers/ocsp-pki.ts): good, revoked (reason and time), unknown, a delegated responder
 * (accepted), an unrelated signer and a signer without OCSPSigning (refused, precise reason), a corrupted
 * signature, a stale answer (responder clock 2 h behind, via libfaketime), a responder that is down (warning
 * "unreachable", not a failure), garbage bytes (typed error), and the CRL fallback. Every verdict is compared with
 * `openssl ocsp -issuer … -cert … -url …` as the oracle. Finally the same lookup through a monitor run (main thread
 * and worker thread) and a real TLS endpoint.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';
import pino from 'pino';
import {
  type CheckOutcome,
  type ObservedEndpoint,
  type RevocationInfo,
  CrlCache,
  OcspCache,
  OcspError,
  type OcspPost,
  buildOcspRequest,
  evaluateChecks,
  ocspRevocationStatus,
  ocspTarget,
  parseOcspResponse,
  postOcspRequest,
  revocationStatus,
  systemClock,
  trustSetFromPems,
} from '@certfleet/shared';
import { masterKeyFromBytes } from '../../../controller/src/secrets/master-key';
import type { ServiceContext } from '../../../controller/src/services/context';
import { createDefinition } from '../../../controller/src/services/definition-service';
import { executeRun } from '../../../controller/src/services/monitoring/monitor-service';
import { stopSweepWorkers } from '../../../controller/src/services/monitoring/sweep-workers';
import { createTrustSet } from '../../../controller/src/services/monitoring/trust-sets-service';
import { dropDatabase, freshDatabase } from '../../_helpers/db';
import { assertCommands, isCI, testNeeding } from '../../_helpers/needs';
import {
  type OcspLeaf,
  type OcspPki,
  type OcspResponder,
  makeOcspPki,
  opensslOcsp,
  startOcspResponder,
} from '../../_helpers/ocsp-pki';

const NEEDS = ['openssl', 'faketime'];

interface Ctx {
  pki: OcspPki;
  responders: Record<'issuer' | 'delegated' | 'unrelated' | 'noEku' | 'stale' | 'badsig', OcspResponder>;
  leaves: Record<
    | 'good'
    | 'revoked'
    | 'unknown'
    | 'delegated'
    | 'unrelated'
    | 'noEku'
    | 'stale'
    | 'badsig'
    | 'down'
    | 'garbage'
    | 'fallback',
    OcspLeaf
  >;
  revokedAt: Date;
  fallbackRevokedAt: Date;
  downUrl: string;
  servers: http.Server[];
  requests: { garbage: number; crl: number };
}
const test = testNeeding<Ctx>(NEEDS);

const TIMEOUT_MS = 3_000;
const run = promisify(execFile);

async function listen(server: http.Server | tls.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  const port = await listen(s);
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test.before(async (t) => {
  if (isCI) assertCommands(NEEDS);
  const pki = await makeOcspPki();
  const servers: http.Server[] = [];
  const requests = { garbage: 0, crl: 0 };
  let crlDer: Buffer = Buffer.alloc(0);
  // garbage responder: 200 with random bytes; CRL server for the fallback case
  const garbage = http.createServer((req, res) => {
    req.resume();
    requests.garbage++;
    const body = crypto.randomBytes(300);
    body[0] = 0x42; // never a SEQUENCE
    res.writeHead(200, { 'content-type': 'application/ocsp-response' }).end(body);
  });
  const crlServer = http.createServer((req, res) => {
    requests.crl++;
    res.writeHead(200, { 'content-type': 'application/pkix-crl' }).end(crlDer);
  });
  servers.push(garbage, crlServer);
  const garbagePort = await listen(garbage);
  const crlPort = await listen(crlServer);
  const downUrl = `http://127.0.0.1:${await closedPort()}`;

  const [issuer, delegated, unrelated, noEku, stale, badsig] = await Promise.all([
    startOcspResponder(pki, { signer: 'issuer', nmin: 60 }),
    startOcspResponder(pki, { signer: 'delegated', nmin: 60 }),
    startOcspResponder(pki, { signer: 'unrelated', nmin: 60 }),
    startOcspResponder(pki, { signer: 'no-eku', nmin: 60 }),
    startOcspResponder(pki, { signer: 'issuer', nmin: 60, fakeTime: '-2h' }),
    startOcspResponder(pki, { signer: 'issuer', nmin: 60, badsig: true }),
  ]);
  const responders = { issuer, delegated, unrelated, noEku, stale, badsig };
  const leaves = {
    good: await pki.issueLeaf('good.ocsp.test', { ocsp: issuer.url }),
    revoked: await pki.issueLeaf('revoked.ocsp.test', { ocsp: issuer.url }),
    unknown: await pki.issueLeaf('unknown.ocsp.test', { ocsp: issuer.url }, { unrecorded: true }),
    delegated: await pki.issueLeaf('delegated.ocsp.test', { ocsp: delegated.url }),
    unrelated: await pki.issueLeaf('unrelated.ocsp.test', { ocsp: unrelated.url }),
    noEku: await pki.issueLeaf('noeku.ocsp.test', { ocsp: noEku.url }),
    stale: await pki.issueLeaf('stale.ocsp.test', { ocsp: stale.url }),
    badsig: await pki.issueLeaf('badsig.ocsp.test', { ocsp: badsig.url }),
    down: await pki.issueLeaf('down.ocsp.test', { ocsp: downUrl }),
    garbage: await pki.issueLeaf('garbage.ocsp.test', { ocsp: `http://127.0.0.1:${garbagePort}/` }),
    fallback: await pki.issueLeaf('fallback.ocsp.test', {
      ocsp: downUrl,
      crl: `http://127.0.0.1:${crlPort}/int.crl`,
    }),
  };
  const revokedAt = await pki.revoke(leaves.revoked, 'keyCompromise');
  const fallbackRevokedAt = await pki.revoke(leaves.fallback, 'superseded');
  crlDer = await pki.crl();
  // every responder re-reads index.txt after one more request
  await Promise.all(Object.values(responders).map((r) => r.reload(leaves.good)));
  t.context = { pki, responders, leaves, revokedAt, fallbackRevokedAt, downUrl, servers, requests };
});

test.after.always(async (t) => {
  await stopSweepWorkers();
  for (const r of Object.values(t.context.responders ?? {})) r.stop();
  for (const s of t.context.servers ?? []) s.close();
  await t.context.pki?.cleanup();
});

function chainOf(t: ExecutionContext<Ctx>, leaf: OcspLeaf): Buffer[] {
  return [leaf.der, t.context.pki.int.der];
}

async function lookup(t: ExecutionContext<Ctx>, leaf: OcspLeaf, post?: OcspPost): Promise<RevocationInfo> {
  const r = await ocspRevocationStatus(chainOf(t, leaf), {
    cache: new OcspCache(),
    timeoutMs: TIMEOUT_MS,
    ...(post ? { post } : {}),
  });
  if (!r) throw new Error(`no OCSP answer for ${leaf.name}`);
  return r;
}

function judge(t: ExecutionContext<Ctx>, leaf: OcspLeaf, revocation: RevocationInfo): CheckOutcome {
  const observation: ObservedEndpoint = {
    host: '127.0.0.1',
    port: 443,
    serverName: leaf.name,
    ok: true,
    chain: chainOf(t, leaf),
  };
  return evaluateChecks(observation, {
    now: new Date(),
    mode: 'monitored',
    trustSet: trustSetFromPems('ocsp-test', [t.context.pki.root.pem]),
    revocation,
  });
}

function notRevoked(o: CheckOutcome): CheckOutcome['checks'][number] {
  const c = o.checks.find((x) => x.code === 'NotRevoked');
  if (!c) throw new Error('no NotRevoked check');
  return c;
}

test.serial('M6 OCSP good: issuer-signed answer verified, cached until nextUpdate; openssl agrees', async (t) => {
  const { leaves, pki, responders } = t.context;
  const oracle = await opensslOcsp(pki, leaves.good, responders.issuer.url);
  t.true(oracle.verified, oracle.output);
  t.is(oracle.status, 'good', oracle.output);

  let posts = 0;
  const counting: OcspPost = (url, body, ms, max) => {
    posts++;
    return postOcspRequest(url, body, ms, max);
  };
  const cache = new OcspCache();
  const opts = { cache, timeoutMs: TIMEOUT_MS, post: counting };
  const r = await ocspRevocationStatus(chainOf(t, leaves.good), opts);
  t.is(r?.status, 'good', r?.message);
  t.is(r?.source, 'ocsp');
  t.regex(r?.message ?? '', /signed by the issuer/);
  t.truthy(r?.nextUpdate, 'the responder runs with -nmin 60');
  t.is(posts, 1);
  // cached per (issuer key hash, serial): no second request
  t.is((await ocspRevocationStatus(chainOf(t, leaves.good), opts))?.status, 'good');
  t.is(posts, 1);
  t.is(cache.size, 1);

  const o = judge(t, leaves.good, r as RevocationInfo);
  t.is(notRevoked(o).status, 'ok');
  t.regex(notRevoked(o).message, /not revoked \(OCSP\)/);
  t.is(o.status, 'ok', o.message);
});

test.serial('M6 OCSP revoked: status, reason and time as recorded by the CA and printed by openssl', async (t) => {
  const { leaves, pki, responders, revokedAt } = t.context;
  const oracle = await opensslOcsp(pki, leaves.revoked, responders.issuer.url);
  t.true(oracle.verified, oracle.output);
  t.is(oracle.status, 'revoked');
  t.is(oracle.reason, 'keyCompromise');

  const r = await lookup(t, leaves.revoked);
  t.is(r.status, 'revoked', r.message);
  t.is(r.reason, 'keyCompromise');
  t.is(r.revokedAt, revokedAt.toISOString());
  t.is(r.revokedAt, oracle.revocationTime?.toISOString());
  const o = judge(t, leaves.revoked, r);
  t.is(o.status, 'failing');
  t.is(o.reason, 'CertificateRevoked');
  t.regex(notRevoked(o).message, new RegExp(`revoked on ${revokedAt.toISOString()} \\(reason keyCompromise\\)`));
});

test.serial('M6 OCSP unknown: a certificate the responder does not know → warning RevocationUnknown', async (t) => {
  const { leaves, pki, responders } = t.context;
  const oracle = await opensslOcsp(pki, leaves.unknown, responders.issuer.url);
  t.true(oracle.verified, oracle.output);
  t.is(oracle.status, 'unknown');

  const r = await lookup(t, leaves.unknown);
  t.is(r.status, 'unknown', r.message);
  t.is(r.cause, 'not-known');
  t.regex(r.message, /does not know serial/);
  const o = judge(t, leaves.unknown, r);
  t.is(o.status, 'warning');
  t.is(o.reason, 'RevocationUnknown');
});

test.serial('M6 OCSP delegated responder (issued by the issuer, id-kp-OCSPSigning) is accepted', async (t) => {
  const { leaves, pki, responders } = t.context;
  const oracle = await opensslOcsp(pki, leaves.delegated, responders.delegated.url);
  t.true(oracle.verified, oracle.output);
  t.is(oracle.status, 'good');

  const r = await lookup(t, leaves.delegated);
  t.is(r.status, 'good', r.message);
  t.regex(r.message, /delegated responder "CN=CertFleet OCSP Test Responder/);
});

test.serial('M6 OCSP refused: a responder signed by an unrelated key, or without OCSPSigning', async (t) => {
  const { leaves, pki, responders } = t.context;
  for (const [leaf, url, pattern] of [
    [
      leaves.unrelated,
      responders.unrelated.url,
      /UnauthorizedResponder: the response is signed by "CN=CertFleet OCSP Test Unrelated Signer" \(issued by "CN=CertFleet OCSP Test Unrelated Signer"\), which is neither the issuer "CN=CertFleet OCSP Test Issuing CA.*" nor a delegated responder certificate issued by it/,
    ],
    [
      leaves.noEku,
      responders.noEku.url,
      /UnauthorizedResponder: the response is signed by "CN=CertFleet OCSP Test Not A Responder.*", issued by the issuer but without extendedKeyUsage id-kp-OCSPSigning/,
    ],
  ] as const) {
    const oracle = await opensslOcsp(pki, leaf, url);
    t.false(oracle.verified, `openssl must refuse too: ${oracle.output}`);
    t.regex(oracle.output, /Response Verify Failure/);

    const r = await lookup(t, leaf);
    t.is(r.status, 'unknown', r.message);
    t.is(r.cause, 'invalid');
    t.regex(r.message, pattern);
    const o = judge(t, leaf, r);
    t.is(o.status, 'warning');
    t.is(o.reason, 'RevocationUnknown');
  }
});

test.serial('M6 OCSP: a corrupted signature is BadSignature (openssl: verify failure)', async (t) => {
  const { leaves, pki, responders } = t.context;
  const oracle = await opensslOcsp(pki, leaves.badsig, responders.badsig.url);
  t.false(oracle.verified, oracle.output);
  const r = await lookup(t, leaves.badsig);
  t.is(r.status, 'unknown');
  t.regex(r.message, /BadSignature: the response signature does not verify with the key of the issuer/);
});

test.serial(
  'M6 OCSP: an answer whose nextUpdate has passed is Stale, never good (openssl: status expired)',
  async (t) => {
    const { leaves, pki, responders } = t.context;
    const oracle = await opensslOcsp(pki, leaves.stale, responders.stale.url, ['-validity_period', '0']);
    t.true(oracle.verified, oracle.output);
    t.true(oracle.timesInvalid, oracle.output);

    const cache = new OcspCache();
    const r = await ocspRevocationStatus(chainOf(t, leaves.stale), { cache, timeoutMs: TIMEOUT_MS });
    t.is(r?.status, 'unknown', r?.message);
    t.is(r?.cause, 'invalid');
    t.regex(r?.message ?? '', /Stale: the response is stale: nextUpdate \S+ has passed/);
    t.is(cache.size, 0, 'a refused answer is not cached');
    const o = judge(t, leaves.stale, r as RevocationInfo);
    t.is(o.reason, 'RevocationUnknown');
  }
);

test.serial('M6 OCSP responder down: warning RevocationUnreachable (not a failure), within the timeout', async (t) => {
  const { leaves, pki, downUrl } = t.context;
  const oracle = await opensslOcsp(pki, leaves.down, downUrl);
  t.not(oracle.exitCode, 0);
  t.false(oracle.verified);

  const started = Date.now();
  const r = await lookup(t, leaves.down);
  t.true(Date.now() - started < TIMEOUT_MS + 1000);
  t.is(r.status, 'unknown');
  t.is(r.cause, 'unreachable');
  t.regex(r.message, new RegExp(`OCSP ${downUrl.replace(/\./g, '\\.')}: unreachable \\(ECONNREFUSED`));
  const o = judge(t, leaves.down, r);
  t.is(o.status, 'warning');
  t.is(o.reason, 'RevocationUnreachable');
  t.regex(notRevoked(o).message, /OCSP unreachable/);
});

test.serial('M6 OCSP garbage response bytes: typed OcspError Malformed; verdict RevocationUnknown', async (t) => {
  const { leaves, requests } = t.context;
  const before = requests.garbage;
  const r = await lookup(t, leaves.garbage);
  t.is(requests.garbage, before + 1);
  t.is(r.status, 'unknown');
  t.is(r.cause, 'invalid');
  t.regex(r.message, /Malformed: not an OCSP response/);
  const err = t.throws(() => parseOcspResponse(crypto.randomBytes(64)), { instanceOf: OcspError });
  t.is(err?.problem, 'Malformed');
  // an OCSPResponse that is well-formed but unsuccessful (tryLater) is typed too
  const tryLater = Buffer.from('30030a0103', 'hex');
  const e2 = t.throws(() => parseOcspResponse(tryLater), { instanceOf: OcspError });
  t.is(e2?.problem, 'Unsuccessful');
  t.is(e2?.responseStatus, 'tryLater');
});

test.serial(
  'M6 OCSP preferred, CRL fallback: responder down, the CRL says revoked (and why OCSP was not used)',
  async (t) => {
    const { leaves, requests, fallbackRevokedAt } = t.context;
    const crlBefore = requests.crl;
    const r = await revocationStatus(chainOf(t, leaves.fallback), {
      timeoutMs: TIMEOUT_MS,
      ocspCache: new OcspCache(),
      crlCache: new CrlCache(4),
    });
    t.is(requests.crl, crlBefore + 1);
    t.is(r?.status, 'revoked', r?.message);
    t.is(r?.source, 'crl');
    t.is(r?.reason, 'superseded');
    t.is(r?.revokedAt, fallbackRevokedAt.toISOString());
    t.regex(r?.message ?? '', /OCSP gave no answer: OCSP http:\/\/127\.0\.0\.1:\d+: unreachable/);

    // a good OCSP answer is used without touching any CRL
    const good = await revocationStatus(chainOf(t, leaves.good), { timeoutMs: TIMEOUT_MS, ocspCache: new OcspCache() });
    t.is(good?.source, 'ocsp');
    t.is(good?.status, 'good');
    t.is(requests.crl, crlBefore + 1);

    // both sources down → unreachable names both
    const both = await revocationStatus(chainOf(t, leaves.down), { timeoutMs: TIMEOUT_MS, ocspCache: new OcspCache() });
    t.is(both?.cause, 'unreachable');
  }
);

test.serial('M6 OCSP in monitor runs (main thread and worker thread) through a real TLS endpoint', async (t) => {
  const { leaves, pki } = t.context;
  const db = await freshDatabase('cfocsp');
  const ctx: ServiceContext = {
    db,
    masterKey: masterKeyFromBytes(crypto.randomBytes(32)),
    clock: systemClock,
    log: pino({ level: 'silent' }),
  };
  const servers: tls.Server[] = [];
  try {
    await createTrustSet(ctx, { name: 'ocsp-root', pem: pki.root.pem }, 'test');
    const items = [];
    for (const leaf of [leaves.good, leaves.revoked, leaves.down]) {
      const server = tls.createServer({ key: leaf.keyPem, cert: `${leaf.pem}\n${pki.int.pem}` }, (s) => {
        s.on('error', () => undefined);
        s.end();
      });
      server.on('tlsClientError', () => undefined);
      servers.push(server);
      const port = await listen(server);
      const definition = await createDefinition(
        ctx,
        {
          name: leaf.name,
          subject: { commonName: leaf.name },
          sans: [{ type: 'dns', value: leaf.name }],
          operationMode: 'monitored',
          trustedCaSetId: 'ocsp-root',
        },
        'test'
      );
      items.push({
        endpointId: null,
        definition,
        target: {
          host: '127.0.0.1',
          port,
          serverName: leaf.name,
          starttls: null,
          probeFrom: 'controller' as const,
          agentId: null,
        },
        expected: null,
      });
    }
    for (const workers of [0, 1]) {
      const { results } = await executeRun(ctx, 'manual', items, {
        workers,
        workerThreshold: 1,
        probeTimeoutMs: TIMEOUT_MS,
        revocationTimeoutMs: TIMEOUT_MS,
        ocspCache: new OcspCache(),
      });
      const [good, revoked, down] = results.map((r) => r.outcome);
      t.is(good?.status, 'ok', `workers=${workers}: ${good?.message}`);
      t.regex(good?.checks.find((c) => c.code === 'NotRevoked')?.message ?? '', /not revoked \(OCSP\)/);
      t.is(revoked?.reason, 'CertificateRevoked', `workers=${workers}: ${revoked?.message}`);
      t.regex(revoked?.message ?? '', /according to its OCSP/);
      t.is(down?.status, 'warning', `workers=${workers}: ${down?.message}`);
      t.is(down?.reason, 'RevocationUnreachable');
    }
    const optedOut = await executeRun(ctx, 'manual', items, {
      workers: 0,
      probeTimeoutMs: TIMEOUT_MS,
      checkRevocation: false,
    });
    t.is(optedOut.results[1]?.outcome.checks.find((c) => c.code === 'NotRevoked')?.status, 'skipped');
  } finally {
    for (const s of servers) s.close();
    const url = db.url;
    await db.close();
    await dropDatabase(url);
  }
});

test('M6 OCSP request: byte-identical to the request openssl ocsp builds for the same certificate', async (t) => {
  // `openssl ocsp -reqout` writes the request it would send: same SHA-1 CertID (NULL parameters), same serial
  const { leaves, pki } = t.context;
  const out = join(pki.dir, 'openssl-req.der');
  await run('openssl', ['ocsp', '-issuer', pki.int.path, '-cert', leaves.good.path, '-reqout', out, '-no_nonce'], {
    cwd: pki.dir,
  });
  const theirs = await readFile(out);
  const ours = buildOcspRequest(ocspTarget(leaves.good.der, pki.int.der), { nonce: false });
  t.is(ours.der.toString('hex'), theirs.toString('hex'));
  // with a nonce, openssl parses ours and prints the same CertID and the nonce
  const withNonce = buildOcspRequest(ocspTarget(leaves.good.der, pki.int.der));
  const reqFile = join(pki.dir, 'our-req.der');
  await writeFile(reqFile, withNonce.der);
  const { stdout } = await run('openssl', ['ocsp', '-reqin', reqFile, '-req_text'], { cwd: pki.dir });
  t.regex(stdout, /Hash Algorithm: sha1/);
  t.regex(stdout, new RegExp(`Serial Number: ${leaves.good.serial.toUpperCase()}`));
  t.regex(stdout, /OCSP Nonce:\s+0420[0-9A-F]{64}/);
});
