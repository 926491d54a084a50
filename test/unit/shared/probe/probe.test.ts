/**
 * The shared probe engine (SPEC M1, M6, S1) against the test's own loopback servers: SNI on/off, the chain in
 * order, fingerprints, protocol/cipher/timings, every failure code within its budget, IPv6, concurrency and
 * socket cleanup.
 */
import net from 'node:net';
import tls from 'node:tls';
import anyTest, { type TestFn } from 'ava';
import {
  PROBE_ERROR_CODES,
  probeEndpoint,
  sha1Fingerprint,
  sha256Fingerprint,
  sniFor,
  type ProbeObservation,
} from '@certfleet/shared';
import {
  closeAll,
  listenOn,
  makeProbePki,
  pemToDer,
  stalledListener,
  type ProbePki,
} from '../../../_helpers/probe-pki';
import { isCI } from '../../../_helpers/needs';

interface Ctx {
  pki: ProbePki;
  servers: net.Server[];
  /** Leaf + intermediate by SNI `a.probe.test`, self-signed default otherwise. */
  sniPort: number;
  /** Names the SNI server saw, in order ('' = no SNI). */
  seen: string[];
}
const test = anyTest as TestFn<Ctx>;

test.before(async (t) => {
  const pki = await makeProbePki();
  const servers: net.Server[] = [];
  const seen: string[] = [];
  const aContext = tls.createSecureContext({ cert: pki.fullchainPem, key: pki.leafKeyPem });
  const server = tls.createServer(
    {
      cert: pki.defaultPem,
      key: pki.defaultKeyPem,
      SNICallback: (name, cb) => {
        seen.push(name);
        cb(null, name === 'a.probe.test' ? aContext : undefined);
      },
    },
    (s) => {
      s.on('error', () => undefined);
      s.end();
    }
  );
  server.on('tlsClientError', () => undefined);
  const sniPort = await listenOn(servers, server);
  t.context = { pki, servers, sniPort, seen };
});

test.after.always(async (t) => {
  closeAll(t.context.servers);
  await t.context.pki.cleanup();
});

const ders = (o: ProbeObservation): string[] => o.chain.map((d) => sha256Fingerprint(d));

test.serial('M1 S1 probe: SNI a.probe.test selects the leaf + intermediate, served in order leaf first', async (t) => {
  const { pki, sniPort, seen } = t.context;
  seen.length = 0;
  const o = await probeEndpoint({ host: '127.0.0.1', port: sniPort, serverName: 'a.probe.test', timeoutMs: 3000 });
  t.true(o.ok, o.error?.message);
  t.is(o.serverName, 'a.probe.test');
  t.is(o.address, '127.0.0.1');
  t.deepEqual(seen, ['a.probe.test']);
  t.deepEqual(ders(o), [sha256Fingerprint(pemToDer(pki.leafPem)), sha256Fingerprint(pemToDer(pki.intermediatePem))]);
  t.false(
    ders(o).includes(sha256Fingerprint(pemToDer(pki.rootPem))),
    'nothing is added from a trust store: the root was not served'
  );
  t.regex(o.protocol ?? '', /^TLSv1\.[23]$/);
  t.regex(o.cipher ?? '', /^TLS_/);
  t.true((o.timings.connectMs ?? -1) >= 0);
  t.true((o.timings.handshakeMs ?? -1) >= 0);
  t.true(o.timings.totalMs >= (o.timings.handshakeMs ?? 0));
  t.is(o.error, undefined);
});

test.serial(
  'M1 S1 probe: without SNI (null, or an IP host) the server falls back to its default certificate',
  async (t) => {
    const { pki, sniPort, seen } = t.context;
    seen.length = 0;
    const noSni = await probeEndpoint({
      host: 'localhost',
      port: sniPort,
      serverName: null,
      family: 4,
      timeoutMs: 3000,
    });
    t.true(noSni.ok, noSni.error?.message);
    t.is(noSni.serverName, null);
    t.deepEqual(ders(noSni), [sha256Fingerprint(pemToDer(pki.defaultPem))]);
    const byIp = await probeEndpoint({ host: '127.0.0.1', port: sniPort, timeoutMs: 3000 });
    t.true(byIp.ok);
    t.is(byIp.serverName, null);
    t.deepEqual(ders(byIp), [sha256Fingerprint(pemToDer(pki.defaultPem))]);
    t.deepEqual(seen, [], 'no SNI was sent at all');
    const byName = await probeEndpoint({ host: 'localhost', port: sniPort, family: 4, timeoutMs: 3000 });
    t.is(byName.serverName, 'localhost', 'undefined serverName sends the host name');
    t.deepEqual(seen, ['localhost']);
  }
);

test('M2 S2 probe: a missing intermediate stays missing, a served root is kept, nothing is added from a store', async (t) => {
  const { pki } = t.context;
  const serve = async (cert: string): Promise<ProbeObservation> => {
    const server = tls.createServer({ cert, key: pki.leafKeyPem }, (s) => {
      s.on('error', () => undefined);
      s.end();
    });
    const port = await listenOn(t.context.servers, server);
    return probeEndpoint({ host: '127.0.0.1', port, timeoutMs: 3000 });
  };
  const fp = (pem: string): string => sha256Fingerprint(pemToDer(pem));
  const leafOnly = await serve(pki.leafPem);
  t.deepEqual(ders(leafOnly), [fp(pki.leafPem)]);
  const withRoot = await serve(pki.leafPem + pki.intermediatePem + pki.rootPem);
  t.deepEqual(ders(withRoot), [fp(pki.leafPem), fp(pki.intermediatePem), fp(pki.rootPem)]);
});

test('M6 probe: sniFor omits IP literals and honours null', (t) => {
  t.is(sniFor('127.0.0.1'), undefined);
  t.is(sniFor('::1'), undefined);
  t.is(sniFor('127.0.0.1', 'www.example.test'), 'www.example.test');
  t.is(sniFor('www.example.test', null), undefined);
  t.is(sniFor('www.example.test', '10.0.0.1'), undefined);
  t.is(sniFor('mail.example.test'), 'mail.example.test');
});

test('M2 probe: fingerprints are lowercase hex without colons and match node:crypto', async (t) => {
  const der = pemToDer(t.context.pki.leafPem);
  const x = new (await import('node:crypto')).X509Certificate(der);
  t.is(sha256Fingerprint(der), x.fingerprint256.replace(/:/g, '').toLowerCase());
  t.is(sha1Fingerprint(der), x.fingerprint.replace(/:/g, '').toLowerCase());
  t.regex(sha256Fingerprint(der), /^[0-9a-f]{64}$/);
  t.regex(sha1Fingerprint(der), /^[0-9a-f]{40}$/);
});

test('S1 probe: a refused port gives ConnectRefused quickly', async (t) => {
  const closed = net.createServer();
  const port = await listenOn([], closed);
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const started = Date.now();
  const o = await probeEndpoint({ host: '127.0.0.1', port, timeoutMs: 2000 });
  t.false(o.ok);
  t.is(o.error?.code, 'ConnectRefused');
  t.regex(o.error?.message ?? '', /^probe\(127\.0\.0\.1:\d+\): .*ECONNREFUSED/);
  t.deepEqual(o.chain, []);
  t.true(Date.now() - started < 1500);
});

test('S1 probe: a listener that never answers gives Timeout within the budget', async (t) => {
  const sockets: net.Socket[] = [];
  const silent = net.createServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
  });
  const port = await listenOn(t.context.servers, silent);
  const started = Date.now();
  const o = await probeEndpoint({ host: '127.0.0.1', port, timeoutMs: 300 });
  const elapsed = Date.now() - started;
  t.is(o.error?.code, 'Timeout');
  t.true(elapsed >= 250 && elapsed < 1000, `took ${elapsed} ms`);
  t.true(o.timings.totalMs < 1000);
  t.true((o.timings.connectMs ?? -1) >= 0, 'the TCP connect itself succeeded');
  // The probe closed its socket: the server side sees the end.
  const closed = await new Promise<boolean>((resolve) => {
    const s = sockets[0];
    if (!s) return resolve(false);
    if (s.destroyed || s.readableEnded) return resolve(true);
    const timer = setTimeout(() => resolve(false), 2000);
    s.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    s.resume();
  });
  t.true(closed, 'the server saw the probe close its connection');
});

test('S1 probe: a connect that never completes gives ConnectTimeout within the budget', async (t) => {
  const stalled = await stalledListener();
  try {
    const started = Date.now();
    const o = await probeEndpoint({ host: '127.0.0.1', port: stalled.port, timeoutMs: 300 });
    const elapsed = Date.now() - started;
    t.is(o.error?.code, 'ConnectTimeout', o.error?.message);
    t.is(o.timings.connectMs, undefined);
    t.true(elapsed >= 250 && elapsed < 1000, `took ${elapsed} ms`);
  } finally {
    stalled.close();
  }
});

test('S1 probe: a plain TCP server (not TLS) gives HandshakeFailed', async (t) => {
  const plain = net.createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', () => s.end('HTTP/1.0 400 Bad Request\r\n\r\n'));
  });
  const port = await listenOn(t.context.servers, plain);
  const o = await probeEndpoint({ host: '127.0.0.1', port, timeoutMs: 2000 });
  t.is(o.error?.code, 'HandshakeFailed', o.error?.message);
  t.true(o.timings.totalMs < 2000);
});

test('S1 probe: a server that resets the connection during the handshake gives Reset', async (t) => {
  const rst = net.createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', () => s.resetAndDestroy());
  });
  const port = await listenOn(t.context.servers, rst);
  const o = await probeEndpoint({ host: '127.0.0.1', port, timeoutMs: 2000 });
  t.is(o.error?.code, 'Reset', o.error?.message);
});

test('S1 probe: an unresolvable name gives DnsFailed', async (t) => {
  const o = await probeEndpoint({ host: 'no-such-host.invalid', port: 443, timeoutMs: 3000 });
  t.false(o.ok);
  t.true(['DnsFailed', 'Timeout'].includes(o.error?.code ?? ''), o.error?.message);
  t.is(o.address, undefined);
});

test('S1 probe: IPv6 loopback [::1]', async (t) => {
  const hasV6 = await new Promise<boolean>((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(0, '::1', () => s.close(() => resolve(true)));
  });
  if (!hasV6) {
    // A developer machine without IPv6 loopback cannot run this case; CI must have ::1.
    t.false(isCI, 'no ::1 on this host; the IPv6 case cannot run');
    return;
  }
  const { pki } = t.context;
  const server = tls.createServer({ cert: pki.fullchainPem, key: pki.leafKeyPem }, (s) => {
    s.on('error', () => undefined);
    s.end();
  });
  const port = await listenOn(t.context.servers, server, '::1');
  const o = await probeEndpoint({ host: '::1', port, timeoutMs: 3000 });
  t.true(o.ok, o.error?.message);
  t.is(o.address, '::1');
  t.is(o.serverName, null);
  t.is(o.chain.length, 2);
  const refused = await probeEndpoint({ host: '::1', port: 1, timeoutMs: 1000 });
  t.is(refused.error?.code, 'ConnectRefused');
  t.regex(refused.error?.message ?? '', /^probe\(\[::1\]:1\)/);
});

test('S1 probe: 300 concurrent probes share one context and all leave no open connection', async (t) => {
  const { pki } = t.context;
  let open = 0;
  let maxOpen = 0;
  const server = tls.createServer({ cert: pki.fullchainPem, key: pki.leafKeyPem }, (s) => {
    s.on('error', () => undefined);
  });
  server.on('connection', (s: net.Socket) => {
    open++;
    maxOpen = Math.max(maxOpen, open);
    s.on('close', () => open--);
  });
  server.on('tlsClientError', () => undefined);
  const port = await listenOn(t.context.servers, server);
  const started = Date.now();
  const results = await Promise.all(
    Array.from({ length: 300 }, () => probeEndpoint({ host: '127.0.0.1', port, timeoutMs: 20_000 }))
  );
  t.log(`300 probes in ${Date.now() - started} ms (max ${maxOpen} open at once)`);
  t.true(results.every((o) => o.ok && o.chain.length === 2));
  // The server (which never ends its side) sees every client close.
  for (let i = 0; i < 100 && open > 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.is(open, 0);
});

test('M6 probe: error codes are the documented set', (t) => {
  t.deepEqual(
    [...PROBE_ERROR_CODES].sort(),
    [
      'ConnectRefused',
      'ConnectTimeout',
      'DnsFailed',
      'HandshakeFailed',
      'Reset',
      'StartTlsRefused',
      'Timeout',
      'Unreachable',
    ].sort()
  );
});
