/**
 * The probe reads the served certificates from the handshake's own bytes — with its own certificate grab
 * (shared/src/probe/certificate-grab.ts) or, where Node's TLS client does the handshake (`handshake: 'node'`, and
 * the grab's fallback), through the tap (shared/src/probe/handshake-tap.ts) — never with Node 20's
 * `getPeerX509Certificate()`, which leaks every served issuer (bench/peer-chain-leak.ts). Real TLS servers on
 * loopback: TLS 1.3 with each of OpenSSL's three suites, TLS 1.2, a HelloRetryRequest, a chain in an odd order with
 * an unrelated certificate, and a certificate larger than one TLS record; the chain must be exactly what was served,
 * in order, both ways. (With Node's client a lone certificate is taken from Node: without issuers nothing leaks.)
 * Bad handshake bytes (cut short, tampered, wrong key log) are refused, not guessed at.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import anyTest, { type TestFn } from 'ava';
import { probeEndpoint, sha256Fingerprint, type ProbeObservation } from '@certfleet/shared';
import { HandshakeTap, servedCertificates } from '../../../shared/src/probe/handshake-tap';
import { servedChain } from '../../../shared/src/probe/probe';
import { closeAll, listenOn, makeProbePki, pemToDer, type ProbePki } from '../../_helpers/probe-pki';

interface Ctx {
  pki: ProbePki;
  servers: net.Server[];
  /** Self-signed, with enough SANs that its DER (≈ 20 kB) does not fit one TLS record (16 kB). */
  bigPem: string;
  bigKeyPem: string;
  /** Calls of TLSSocket#getPeerX509Certificate since the spy was set. */
  peerX509Calls: () => number;
  restore: () => void;
}
const test = anyTest as TestFn<Ctx>;

test.before(async (t) => {
  const pki = await makeProbePki();
  const sans = Array.from({ length: 700 }, (_, i) => `DNS:host-${i}.big.probe.test`).join(',');
  await promisify(execFile)(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'big.key'].concat([
      '-out',
      'big.pem',
      '-days',
      '2',
      '-subj',
      '/CN=big.probe.test',
      '-addext',
      `subjectAltName=${sans}`,
    ]),
    { cwd: pki.dir }
  );
  const proto = tls.TLSSocket.prototype;
  const original = proto.getPeerX509Certificate;
  let calls = 0;
  proto.getPeerX509Certificate = function (this: tls.TLSSocket) {
    calls++;
    return original.call(this);
  };
  t.context = {
    pki,
    servers: [],
    bigPem: await readFile(join(pki.dir, 'big.pem'), 'utf8'),
    bigKeyPem: await readFile(join(pki.dir, 'big.key'), 'utf8'),
    peerX509Calls: () => calls,
    restore: () => (proto.getPeerX509Certificate = original),
  };
});

test.after.always(async (t) => {
  t.context.restore();
  closeAll(t.context.servers);
  await t.context.pki.cleanup();
});

async function serve(t: { context: Ctx }, options: tls.TlsOptions): Promise<number> {
  const server = tls.createServer(options, (s) => {
    s.on('error', () => undefined);
    s.end();
  });
  server.on('tlsClientError', () => undefined);
  return listenOn(t.context.servers, server);
}

const fps = (o: ProbeObservation): string[] => o.chain.map((d) => sha256Fingerprint(d));
const fp = (pem: string): string => sha256Fingerprint(pemToDer(pem));

/** Servers of leaf + intermediate, each negotiating differently. */
const handshakes: Array<{ title: string; options: tls.TlsOptions; protocol: string; cipher?: string }> = [
  ...['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'].map((suite) => ({
    title: `TLS 1.3 with ${suite}`,
    options: { ciphers: suite },
    protocol: 'TLSv1.3',
    cipher: suite,
  })),
  { title: 'TLS 1.2 (the Certificate message in the clear)', options: { maxVersion: 'TLSv1.2' }, protocol: 'TLSv1.2' },
  {
    title: 'a HelloRetryRequest (server wants P-384, client offered X25519)',
    options: { ecdhCurve: 'P-384' },
    protocol: 'TLSv1.3',
  },
];
const MODES = ['grab', 'node'] as const;
for (const h of handshakes)
  for (const handshake of MODES) {
    test.serial(
      `M1 probe (${handshake}): ${h.title} — the served chain is read from the handshake, not from Node`,
      async (t) => {
        const { pki } = t.context;
        const port = await serve(t, { cert: pki.fullchainPem, key: pki.leafKeyPem, ...h.options });
        const before = t.context.peerX509Calls();
        const o = await probeEndpoint({
          host: '127.0.0.1',
          port,
          serverName: 'a.probe.test',
          timeoutMs: 3000,
          handshake,
        });
        t.true(o.ok, o.error?.message);
        t.is(o.protocol, h.protocol);
        if (h.cipher) t.is(o.cipher, h.cipher);
        t.deepEqual(fps(o), [fp(pki.leafPem), fp(pki.intermediatePem)]);
        t.is(t.context.peerX509Calls(), before, 'getPeerX509Certificate() was not called');
      }
    );
  }

for (const handshake of MODES) {
  test.serial(
    `M2 probe (${handshake}): the chain is kept as served — odd order, an unrelated certificate, a served root`,
    async (t) => {
      const { pki } = t.context;
      const served = [pki.leafPem, pki.defaultPem, pki.rootPem, pki.intermediatePem];
      const port = await serve(t, { cert: served.join(''), key: pki.leafKeyPem });
      const before = t.context.peerX509Calls();
      const o = await probeEndpoint({ host: '127.0.0.1', port, timeoutMs: 3000, handshake });
      t.true(o.ok, o.error?.message);
      t.deepEqual(fps(o), served.map(fp));
      t.is(t.context.peerX509Calls(), before);
    }
  );

  test.serial(
    `M1 probe (${handshake}): a certificate larger than one TLS record, over TLS 1.3 and TLS 1.2`,
    async (t) => {
      const { bigPem, bigKeyPem, pki } = t.context;
      t.true(pemToDer(bigPem).length > 16_384, `test certificate is ${pemToDer(bigPem).length} bytes`);
      for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
        // with a second certificate, so that Node's client, too, reads the chain from the handshake bytes
        const port = await serve(t, { cert: bigPem + pki.rootPem, key: bigKeyPem, maxVersion });
        const before = t.context.peerX509Calls();
        const o = await probeEndpoint({ host: '127.0.0.1', port, timeoutMs: 3000, handshake });
        t.true(o.ok, o.error?.message);
        t.is(o.protocol, maxVersion);
        t.deepEqual(fps(o), [fp(bigPem), fp(pki.rootPem)]);
        t.is(t.context.peerX509Calls(), before, maxVersion);
      }
    }
  );

  test.serial(
    `M1 probe (${handshake}): a lone certificate${handshake === 'node' ? ' comes from Node (nothing to leak without issuers, no second decode)' : ' is read by the grab'}`,
    async (t) => {
      const { bigPem, bigKeyPem } = t.context;
      const port = await serve(t, { cert: bigPem, key: bigKeyPem });
      const before = t.context.peerX509Calls();
      const o = await probeEndpoint({ host: '127.0.0.1', port, timeoutMs: 3000, handshake });
      t.true(o.ok, o.error?.message);
      t.deepEqual(fps(o), [fp(bigPem)]);
      t.is(t.context.peerX509Calls(), before + (handshake === 'node' ? 1 : 0));
    }
  );
}

/** One handshake through a HandshakeTap, as the probe does it: the server's bytes and the key log. */
async function capture(t: { context: Ctx }, options: tls.TlsOptions): Promise<{ received: Buffer; keylog: Buffer[] }> {
  const port = await serve(t, options);
  const plain = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => plain.once('connect', resolve).once('error', reject));
  const tap = new HandshakeTap(plain);
  const keylog: Buffer[] = [];
  const secure = tls.connect({ socket: tap, rejectUnauthorized: false });
  secure.on('keylog', (line: Buffer) => keylog.push(line));
  await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
  const received = Buffer.concat(tap.received);
  secure.destroy();
  return { received, keylog };
}

test.serial(
  'M6 probe: handshake bytes that are cut short, tampered with or paired with the wrong keys give nothing',
  async (t) => {
    const { pki } = t.context;
    const good = await capture(t, { cert: pki.fullchainPem, key: pki.leafKeyPem });
    const chain = servedCertificates([good.received], good.keylog);
    t.deepEqual(
      chain?.map((d) => sha256Fingerprint(d)),
      [fp(pki.leafPem), fp(pki.intermediatePem)]
    );
    // a HelloRetryRequest is a ServerHello with this random (RFC 8446 §4.1.3): the server did ask for P-384
    const hrr = await capture(t, { cert: pki.fullchainPem, key: pki.leafKeyPem, ecdhCurve: 'P-384' });
    const hrrRandom = Buffer.from('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c', 'hex');
    t.true(hrr.received.includes(hrrRandom), 'the server sent a HelloRetryRequest');
    t.deepEqual(servedCertificates([hrr.received], hrr.keylog), chain);
    // split anywhere: the same result
    const cut = Math.floor(good.received.length / 3);
    t.deepEqual(servedCertificates([good.received.subarray(0, cut), good.received.subarray(cut)], good.keylog), chain);

    // the first encrypted record (TLS 1.3: EncryptedExtensions; the Certificate follows it)
    let first = 0;
    while (good.received[first] !== 23) first += 5 + good.received.readUInt16BE(first + 3);
    t.is(servedCertificates([good.received.subarray(0, first + 10)], good.keylog), undefined, 'cut short');
    const tampered = Buffer.from(good.received);
    tampered[first + 8] = (tampered[first + 8] as number) ^ 0x01;
    t.is(servedCertificates([tampered], good.keylog), undefined, 'tampered ciphertext fails authentication');
    const other = await capture(t, { cert: pki.fullchainPem, key: pki.leafKeyPem });
    t.is(servedCertificates([good.received], other.keylog), undefined, "another connection's keys");
    t.is(servedCertificates([good.received], []), undefined, 'no key log');
    t.is(servedCertificates([], good.keylog), undefined, 'nothing received');
    t.is(servedCertificates([Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')], []), undefined, 'not TLS');
    const oversized = Buffer.from([22, 3, 3, 0xff, 0xff]);
    t.is(servedCertificates([oversized], []), undefined, 'a record longer than TLS allows');
  }
);

test.serial('M1 probe: when the handshake bytes give nothing usable, the chain comes from Node instead', async (t) => {
  const { pki } = t.context;
  const port = await serve(t, { cert: pki.fullchainPem, key: pki.leafKeyPem });
  const expected = [fp(pki.leafPem), fp(pki.intermediatePem)];
  // Node's reading is destructive (it takes the certificates out of the connection), so one connection per case
  for (const tapped of [undefined, [Buffer.from('not a certificate'), Buffer.from('nor this')]]) {
    const secure = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
    const before = t.context.peerX509Calls();
    const chain = servedChain(secure, tapped);
    secure.destroy();
    t.deepEqual(
      chain.map((d) => sha256Fingerprint(d)),
      expected,
      tapped ? 'undecodable tapped bytes' : 'nothing tapped'
    );
    t.is(t.context.peerX509Calls(), before + 1);
  }
});
