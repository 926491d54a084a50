/**
 * AIA chain completion (SPEC M2, M3; with M6 OCSP): loopback TLS servers that send ONLY their leaf, the issuing
 * intermediate served by a small local HTTP server as DER and as PKCS#7 (p7c) at the leaf's caIssuers URL. The
 * verdict must say "incomplete but completable" (`IntermediateMissingAiaCompletable`, the IntermediatesServed check
 * still fails), tell it from an untrusted chain, and name the precise reason when the AIA server is down or the
 * URL redirects elsewhere. `openssl verify` is the oracle for "the served chain alone does not validate, the
 * completed one does". Also through `certfleet probe --fetch-aia --check-revocation` (the issuer fetched via AIA
 * is used for OCSP) and through monitor runs on the main thread and a worker thread.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';
import pino from 'pino';
import {
  AiaCache,
  type CheckContext,
  HttpFetchError,
  boundedHttp,
  type CheckOutcome,
  type TrustSet,
  completeChainViaAia,
  evaluateChecks,
  probeEndpoint,
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
  startOcspResponder,
} from '../../_helpers/ocsp-pki';

const run = promisify(execFile);
const NEEDS = ['openssl'];
const ROOT = join(__dirname, '..', '..', '..');
const TIMEOUT_MS = 3_000;

type LeafName = 'der' | 'p7c' | 'down' | 'https' | 'none';
interface Ctx {
  pki: OcspPki;
  responder: OcspResponder;
  http: http.Server;
  aiaBase: string;
  downUrl: string;
  hits: Record<string, number>;
  leaves: Record<LeafName, OcspLeaf>;
  ports: Record<LeafName, number>;
  fullPort: number;
  tlsServers: tls.Server[];
  trust: TrustSet;
  otherTrust: TrustSet;
}
const test = testNeeding<Ctx>(NEEDS);

async function listen(server: http.Server | tls.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

function tlsServer(key: string, cert: string): tls.Server {
  const server = tls.createServer({ key, cert }, (s) => {
    s.on('error', () => undefined);
    s.end();
  });
  server.on('tlsClientError', () => undefined);
  return server;
}

test.before(async (t) => {
  if (isCI) assertCommands(NEEDS);
  const pki = await makeOcspPki();
  const hits: Record<string, number> = {};
  const server = http.createServer((req, res) => {
    const path = req.url ?? '';
    hits[path] = (hits[path] ?? 0) + 1;
    if (path === '/int.der') res.writeHead(200, { 'content-type': 'application/pkix-cert' }).end(pki.intDer);
    else if (path === '/int.p7c') res.writeHead(200, { 'content-type': 'application/pkcs7-mime' }).end(pki.intP7c);
    else if (path === '/to-https') res.writeHead(302, { location: 'https://127.0.0.1:1/int.der' }).end();
    else if (path === '/redirect') res.writeHead(301, { location: '/int.der' }).end();
    else if (path === '/big') res.writeHead(200).end(Buffer.alloc(200_000, 0x30));
    else res.writeHead(404).end();
  });
  const httpPort = await listen(server);
  const aiaBase = `http://127.0.0.1:${httpPort}`;
  const closed = http.createServer();
  const closedPort = await listen(closed);
  await new Promise<void>((r) => closed.close(() => r()));
  const downUrl = `http://127.0.0.1:${closedPort}/int.der`;
  const responder = await startOcspResponder(pki, { signer: 'issuer', nmin: 60 });
  const leaves: Record<LeafName, OcspLeaf> = {
    der: await pki.issueLeaf('der.aia.test', { ocsp: responder.url, caIssuers: `${aiaBase}/int.der` }),
    p7c: await pki.issueLeaf('p7c.aia.test', { caIssuers: `${aiaBase}/int.p7c` }),
    down: await pki.issueLeaf('down.aia.test', { caIssuers: downUrl }),
    https: await pki.issueLeaf('https.aia.test', { caIssuers: `${aiaBase}/to-https` }),
    none: await pki.issueLeaf('none.aia.test', {}),
  };
  await responder.reload(leaves.der);
  const tlsServers: tls.Server[] = [];
  const ports = {} as Record<LeafName, number>;
  for (const name of Object.keys(leaves) as LeafName[]) {
    const leaf = leaves[name];
    const s = tlsServer(leaf.keyPem, leaf.pem); // the leaf only: the intermediate is NOT served
    tlsServers.push(s);
    ports[name] = await listen(s);
  }
  const full = tlsServer(leaves.der.keyPem, `${leaves.der.pem}\n${pki.int.pem}`);
  tlsServers.push(full);
  const fullPort = await listen(full);
  t.context = {
    pki,
    responder,
    http: server,
    aiaBase,
    downUrl,
    hits,
    leaves,
    ports,
    fullPort,
    tlsServers,
    trust: trustSetFromPems('aia-root', [pki.root.pem]),
    otherTrust: trustSetFromPems('aia-other', [pki.unrelated.pem]),
  };
});

test.after.always(async (t) => {
  await stopSweepWorkers();
  t.context.responder?.stop();
  t.context.http?.close();
  for (const s of t.context.tlsServers ?? []) s.close();
  await t.context.pki?.cleanup();
});

/** Probes the leaf-only server of `name`, completes via AIA (fresh cache), judges against `trust`. */
async function probeAndJudge(
  t: ExecutionContext<Ctx>,
  name: LeafName,
  trust: TrustSet,
  opts: { aia?: boolean; cache?: AiaCache } = {}
): Promise<{ outcome: CheckOutcome; ctx: CheckContext }> {
  const leaf = t.context.leaves[name];
  const observation = await probeEndpoint({ host: '127.0.0.1', port: t.context.ports[name], serverName: leaf.name });
  t.true(observation.ok, observation.error?.message);
  t.is(observation.chain.length, 1, 'the server sends its leaf only');
  const now = new Date();
  const aia =
    opts.aia === false
      ? undefined
      : await completeChainViaAia(observation.chain, {
          now,
          trustSet: trust,
          cache: opts.cache ?? new AiaCache(),
          timeoutMs: TIMEOUT_MS,
        });
  const ctx: CheckContext = { now, mode: 'monitored', trustSet: trust, ...(aia ? { aia } : {}) };
  return { outcome: evaluateChecks(observation, ctx), ctx };
}

function check(o: CheckOutcome, code: string): CheckOutcome['checks'][number] {
  const c = o.checks.find((x) => x.code === code);
  if (!c) throw new Error(`no ${code} check`);
  return c;
}

/** `openssl verify` exit status and output (the oracle). */
async function opensslVerify(
  pki: OcspPki,
  leaf: OcspLeaf,
  caFile: string,
  untrusted?: string
): Promise<{ ok: boolean; output: string }> {
  const args = ['verify', '-CAfile', caFile, ...(untrusted ? ['-untrusted', untrusted] : []), leaf.path];
  try {
    const r = await run('openssl', args, { cwd: pki.dir });
    return { ok: true, output: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

test.serial(
  'M2 M3 AIA (DER caIssuers): incomplete chain served but completable → IntermediateMissingAiaCompletable',
  async (t) => {
    const { pki, leaves, trust, hits, aiaBase } = t.context;
    // oracle: the served chain alone does not validate (error 20 at depth 0), the completed chain does
    const alone = await opensslVerify(pki, leaves.der, pki.root.path);
    t.false(alone.ok);
    t.regex(alone.output, /error 20 at 0 depth lookup: unable to get local issuer certificate/);
    const completed = await opensslVerify(pki, leaves.der, pki.root.path, pki.int.path);
    t.true(completed.ok, completed.output);

    const cache = new AiaCache();
    const before = hits['/int.der'] ?? 0;
    const { outcome, ctx } = await probeAndJudge(t, 'der', trust, { cache });
    t.is(hits['/int.der'], before + 1);
    t.deepEqual(ctx.aia?.attempts, [{ for: 'CN=der.aia.test', url: `${aiaBase}/int.der` }]);
    t.is(outcome.status, 'failing');
    t.is(outcome.reason, 'IntermediateMissingAiaCompletable');
    const served = check(outcome, 'IntermediatesServed');
    t.is(served.status, 'failing');
    t.is(served.reason, 'IntermediateMissingAiaCompletable');
    t.regex(
      served.message,
      new RegExp(
        `does not send intermediate\\(s\\) "O=CertFleet Tests, CN=CertFleet OCSP Test Issuing CA"; completed with them from AIA caIssuers \\(${aiaBase.replace(/\./g, '\\.')}/int\\.der\\), the chain validates to "CN=CertFleet OCSP Test Root`
      )
    );
    const trusted = check(outcome, 'ChainTrusted');
    t.is(trusted.status, 'ok', trusted.message);
    t.regex(trusted.message, /completed with 1 intermediate\(s\) from AIA caIssuers/);
    // every other check still judges the leaf as usual
    t.is(check(outcome, 'HostnameCovered').status, 'ok');
    t.is(check(outcome, 'CertificateNotExpired').status, 'ok');
    t.truthy(outcome.expiry.root, 'the root of the completed path is reported');

    // per-URL cache: a second completion does not download again
    await probeAndJudge(t, 'der', trust, { cache });
    t.is(hits['/int.der'], before + 1);

    // without AIA the same endpoint is the plain IntermediateMissing, as before
    const { outcome: plain } = await probeAndJudge(t, 'der', trust, { aia: false });
    t.is(plain.reason, 'IntermediateMissing');
    t.notRegex(check(plain, 'IntermediatesServed').message, /AIA/);
  }
);

test.serial('M2 M3 AIA (PKCS#7 p7c caIssuers): completable the same way', async (t) => {
  const { trust, hits } = t.context;
  const before = hits['/int.p7c'] ?? 0;
  const { outcome } = await probeAndJudge(t, 'p7c', trust);
  t.is(hits['/int.p7c'], before + 1);
  t.is(outcome.reason, 'IntermediateMissingAiaCompletable', outcome.message);
  t.is(check(outcome, 'ChainTrusted').status, 'ok');
});

test.serial(
  'M2 M3 AIA server down: IntermediateMissing, with the unreachable caIssuers URL as the reason',
  async (t) => {
    const { trust, downUrl } = t.context;
    const started = Date.now();
    const { outcome, ctx } = await probeAndJudge(t, 'down', trust);
    t.true(Date.now() - started < TIMEOUT_MS + 2000);
    t.is(ctx.aia?.certificates.length, 0);
    t.true(ctx.aia?.attempts[0]?.unreachable);
    t.is(outcome.status, 'failing');
    t.is(outcome.reason, 'IntermediateMissing');
    const note = new RegExp(
      `AIA: caIssuers ${downUrl.replace(/\./g, '\\.')} for "CN=down\\.aia\\.test": unreachable: ECONNREFUSED`
    );
    t.regex(check(outcome, 'IntermediatesServed').message, note);
    const trusted = check(outcome, 'ChainTrusted');
    t.is(trusted.reason, 'IntermediateMissing');
    t.regex(trusted.message, note);
  }
);

test.serial(
  'M3 AIA: a completable chain that leads to an untrusted root is ChainUntrusted, not "incomplete"',
  async (t) => {
    const { pki, leaves, otherTrust } = t.context;
    // oracle: even with the intermediate, the unrelated root does not anchor it (error 20 at depth 1)
    const oracle = await opensslVerify(pki, leaves.der, pki.unrelated.path, pki.int.path);
    t.false(oracle.ok);
    t.regex(oracle.output, /error 20 at 1 depth lookup: unable to get local issuer certificate/);

    const { outcome, ctx } = await probeAndJudge(t, 'der', otherTrust);
    t.is(ctx.aia?.certificates.length, 1);
    t.regex(ctx.aia?.attempts[1]?.error ?? '', /names no http:\/\/ AIA caIssuers URL/);
    const trusted = check(outcome, 'ChainTrusted');
    t.is(trusted.reason, 'ChainUntrusted');
    t.regex(
      trusted.message,
      /^completed from AIA caIssuers \(http:\/\/127\.0\.0\.1:\d+\/int\.der\): issuer "O=CertFleet Tests, CN=CertFleet OCSP Test Root"/
    );
    const served = check(outcome, 'IntermediatesServed');
    t.is(served.reason, 'IntermediateMissing');
    t.regex(served.message, /the chain still does not validate/);
  }
);

test.serial(
  'M2 M3 AIA: redirect to another scheme refused; no caIssuers URL; complete chains fetch nothing',
  async (t) => {
    const { trust, hits, leaves, fullPort, aiaBase, pki } = t.context;
    const { outcome: https } = await probeAndJudge(t, 'https', trust);
    t.is(https.reason, 'IntermediateMissing');
    t.regex(
      check(https, 'IntermediatesServed').message,
      /to-https for "CN=https\.aia\.test": redirect to https:\/\/127\.0\.0\.1:1\/int\.der refused \(only http:\/\/ is followed\)/
    );
    const { outcome: none } = await probeAndJudge(t, 'none', trust);
    t.is(none.reason, 'IntermediateMissing');
    t.regex(
      check(none, 'IntermediatesServed').message,
      /AIA: "CN=none\.aia\.test" names no http:\/\/ AIA caIssuers URL/
    );

    // the bounded fetcher itself: an http→http redirect is followed, a body over the limit is refused
    const redirected = await boundedHttp(`${aiaBase}/redirect`, { timeoutMs: TIMEOUT_MS, maxBytes: 131_072 });
    t.is(redirected.url, `${aiaBase}/int.der`);
    t.true(redirected.body.equals(pki.intDer));
    const big = await t.throwsAsync(boundedHttp(`${aiaBase}/big`, { timeoutMs: TIMEOUT_MS, maxBytes: 131_072 }), {
      instanceOf: HttpFetchError,
    });
    t.regex(big?.message ?? '', /response too large/);
    t.false(big?.unreachable);

    // a server that sends its intermediate: nothing is fetched, the verdict is ok
    const total = Object.values(hits).reduce((a, b) => a + b, 0);
    const observation = await probeEndpoint({ host: '127.0.0.1', port: fullPort, serverName: leaves.der.name });
    t.is(observation.chain.length, 2);
    t.is(await completeChainViaAia(observation.chain, { trustSet: trust, cache: new AiaCache() }), undefined);
    t.is(
      Object.values(hits).reduce((a, b) => a + b, 0),
      total
    );
  }
);

test.serial(
  'M2 M3 M6 certfleet probe --fetch-aia --check-revocation: completable verdict, OCSP via the AIA issuer',
  async (t) => {
    const { ports, leaves, pki } = t.context;
    const cli = async (extra: string[]): Promise<{ code: number; json: Record<string, unknown> }> => {
      const args = [join(ROOT, 'bin/certfleet.js'), 'probe', `127.0.0.1:${ports.der}`, '--servername', leaves.der.name];
      args.push('--trust-set', pki.root.path, '--check-revocation', '--json', ...extra);
      try {
        const r = await run(process.execPath, args, {
          cwd: ROOT,
          timeout: 60_000,
          env: { ...process.env, DATABASE_URL: '', CERTFLEET_DATA_DIR: '/nonexistent/certfleet' },
        });
        return { code: 0, json: JSON.parse(r.stdout) as Record<string, unknown> };
      } catch (err) {
        const e = err as { code?: number; stdout?: string; stderr?: string };
        return { code: e.code ?? -1, json: JSON.parse(e.stdout || '{}') as Record<string, unknown> };
      }
    };
    type Json = { reason: string; checks: Array<{ code: string; status: string; reason?: string; message: string }> };
    const withAia = await cli(['--fetch-aia']);
    const a = withAia.json as unknown as Json;
    t.is(withAia.code, 1);
    t.is(a.reason, 'IntermediateMissingAiaCompletable');
    const nr = a.checks.find((c) => c.code === 'NotRevoked');
    t.is(nr?.status, 'ok', nr?.message);
    t.regex(nr?.message ?? '', /not revoked \(OCSP\)/);

    const without = await cli([]);
    const b = without.json as unknown as Json;
    t.is(b.reason, 'IntermediateMissing');
    const nr2 = b.checks.find((c) => c.code === 'NotRevoked');
    t.is(nr2?.reason, 'RevocationUnknown', 'without the issuer no OCSP request can be built');
    t.regex(nr2?.message ?? '', /neither served, fetched via AIA nor trusted/);
  }
);

test.serial(
  'M2 M3 AIA in monitor runs: on by default (main thread and worker), off with fetchAia: false',
  async (t) => {
    const { pki, leaves, ports } = t.context;
    const db = await freshDatabase('cfaia');
    const ctx: ServiceContext = {
      db,
      masterKey: masterKeyFromBytes(crypto.randomBytes(32)),
      clock: systemClock,
      log: pino({ level: 'silent' }),
    };
    try {
      await createTrustSet(ctx, { name: 'aia-root', pem: pki.root.pem }, 'test');
      const definition = await createDefinition(
        ctx,
        {
          name: leaves.p7c.name,
          subject: { commonName: leaves.p7c.name },
          sans: [{ type: 'dns', value: leaves.p7c.name }],
          operationMode: 'monitored',
          trustedCaSetId: 'aia-root',
        },
        'test'
      );
      const items = [
        {
          endpointId: null,
          definition,
          target: {
            host: '127.0.0.1',
            port: ports.p7c,
            serverName: leaves.p7c.name,
            starttls: null,
            probeFrom: 'controller' as const,
            agentId: null,
          },
          expected: null,
        },
      ];
      for (const workers of [0, 1]) {
        const { results } = await executeRun(ctx, 'manual', items, {
          workers,
          workerThreshold: 1,
          probeTimeoutMs: TIMEOUT_MS,
          aiaCache: new AiaCache(),
          aiaTimeoutMs: TIMEOUT_MS,
        });
        t.is(results[0]?.outcome.reason, 'IntermediateMissingAiaCompletable', `workers=${workers}`);
      }
      const off = await executeRun(ctx, 'manual', items, { workers: 0, probeTimeoutMs: TIMEOUT_MS, fetchAia: false });
      t.is(off.results[0]?.outcome.reason, 'IntermediateMissing');
    } finally {
      const url = db.url;
      await db.close();
      await dropDatabase(url);
    }
  }
);
