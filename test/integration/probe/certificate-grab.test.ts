/**
 * The probe's own certificate grab (shared/src/probe/certificate-grab.ts) against real TLS servers on loopback
 * (Node's OpenSSL server): it offers what Node's client offers, sees what Node's client sees (chain, protocol,
 * cipher) over TLS 1.3 and 1.2/1.0 with RSA, RSA-PSS, ECDSA and EdDSA keys, uses one connection (a second one only
 * where Node's client must finish: a HelloRetryRequest), and refuses what a TLS client refuses — an alert, a tampered
 * record, a CertificateVerify or Finished that does not verify (a man in the middle who knows the grab's key share
 * re-encrypts the server's flight), bytes that are not TLS, a flight that never ends.
 */
import { execFile } from 'node:child_process';
import { createCipheriv, createHash, diffieHellman, createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import anyTest, { type TestFn } from 'ava';
import { probeEndpoint, sha256Fingerprint, type ProbeObservation } from '@certfleet/shared';
import { grabCertificates, x25519KeyShare } from '../../../shared/src/probe/certificate-grab';
import {
  TLS13_SUITES,
  type Tls13Suite,
  expandLabel,
  handshakeSecret,
  recordDecrypter,
} from '../../../shared/src/probe/tls13-keys';
import { closeAll, listenOn, makeProbePki, pemToDer, type ProbePki } from '../../_helpers/probe-pki';

const run = promisify(execFile);

interface Leaf {
  certPem: string;
  keyPem: string;
}
interface Ctx {
  pki: ProbePki;
  servers: net.Server[];
  leaves: Record<'rsa' | 'rsaPss' | 'p384' | 'ed25519', Leaf>;
}
const test = anyTest as TestFn<Ctx>;

async function selfSigned(dir: string, name: string, keyArgs: string[]): Promise<Leaf> {
  await run('openssl', ['genpkey', ...keyArgs, '-out', `${name}.key`], { cwd: dir });
  await run(
    'openssl',
    ['req', '-x509', '-key', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}.grab.test`],
    { cwd: dir }
  );
  return {
    certPem: await readFile(join(dir, `${name}.pem`), 'utf8'),
    keyPem: await readFile(join(dir, `${name}.key`), 'utf8'),
  };
}

test.before(async (t) => {
  const pki = await makeProbePki();
  const leaves = {
    rsa: await selfSigned(pki.dir, 'rsa', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']),
    rsaPss: await selfSigned(pki.dir, 'rsapss', ['-algorithm', 'RSA-PSS', '-pkeyopt', 'rsa_keygen_bits:2048']),
    p384: await selfSigned(pki.dir, 'p384', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384']),
    ed25519: await selfSigned(pki.dir, 'ed25519', ['-algorithm', 'ED25519']),
  };
  t.context = { pki, servers: [], leaves };
});

test.after.always(async (t) => {
  closeAll(t.context.servers);
  await t.context.pki.cleanup();
});

/** A TLS server that counts the TCP connections it accepts. */
async function serve(
  t: { context: Ctx },
  options: tls.TlsOptions
): Promise<{ port: number; connections: () => number }> {
  let connections = 0;
  const server = tls.createServer(options, (s) => {
    s.on('error', () => undefined);
    s.end();
  });
  server.on('connection', () => connections++);
  server.on('tlsClientError', () => undefined);
  return { port: await listenOn(t.context.servers, server), connections: () => connections };
}

const seen = (o: ProbeObservation): unknown => ({
  ok: o.ok,
  protocol: o.protocol,
  cipher: o.cipher,
  chain: o.chain.map((d) => sha256Fingerprint(d)),
});

// ---------------------------------------------------------------------------------------------------------------
// The offer

/** The first record a client sends to a plain TCP listener, parsed into the parts a server decides by. */
async function clientHelloOf(t: { context: Ctx }, handshake: 'grab' | 'node'): Promise<Record<string, unknown>> {
  let hello: Buffer | undefined;
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', (d: Buffer) => {
      hello = d;
      s.destroy();
    });
  });
  const port = await listenOn(t.context.servers, server);
  await probeEndpoint({ host: '127.0.0.1', port, serverName: 'offer.grab.test', timeoutMs: 3000, handshake });
  if (!hello) throw new Error('no ClientHello');
  const body = hello.subarray(9);
  let p = 34;
  const sessionIdLength = body[p] as number;
  p += 1 + sessionIdLength;
  const suites = body.subarray(p + 2, p + 2 + body.readUInt16BE(p)).toString('hex');
  p += 2 + body.readUInt16BE(p);
  const compression = body.subarray(p, p + 1 + (body[p] as number)).toString('hex');
  p += 1 + (body[p] as number);
  const extensions: Array<[number, string]> = [];
  const end = p + 2 + body.readUInt16BE(p);
  for (p += 2; p < end;) {
    const type = body.readUInt16BE(p);
    const data = body.subarray(p + 4, p + 4 + body.readUInt16BE(p + 2));
    // a key share differs per connection: keep its group and length
    extensions.push([
      type,
      type === 51 ? `${data.subarray(2, 4).toString('hex')}/${data.length}` : data.toString('hex'),
    ]);
    p += 4 + data.length;
  }
  return {
    record: hello.subarray(0, 3).toString('hex'),
    legacyVersion: body.subarray(0, 2).toString('hex'),
    sessionIdLength,
    suites,
    compression,
    extensions,
  };
}

test.serial(
  'M1 probe: the grab offers exactly what Node’s TLS client offers (suites, groups, signature schemes, versions, extensions in order)',
  async (t) => {
    const node = await clientHelloOf(t, 'node');
    const grab = await clientHelloOf(t, 'grab');
    t.deepEqual(grab, node);
    t.true(
      (node.extensions as Array<[number, string]>).some(([type]) => type === 0),
      'SNI was sent'
    );
  }
);

// ---------------------------------------------------------------------------------------------------------------
// What is seen

const variants: Array<{ title: string; options: (c: Ctx) => tls.TlsOptions; protocol: string; cipher: string }> = [
  {
    title: 'TLS 1.3, ECDSA P-256 leaf + intermediate',
    options: (c) => ({ cert: c.pki.fullchainPem, key: c.pki.leafKeyPem }),
    protocol: 'TLSv1.3',
    cipher: 'TLS_AES_256_GCM_SHA384',
  },
  {
    title: 'TLS 1.3, RSA leaf (rsa_pss_rsae_sha256)',
    options: (c) => ({ cert: c.leaves.rsa.certPem + c.pki.rootPem, key: c.leaves.rsa.keyPem }),
    protocol: 'TLSv1.3',
    cipher: 'TLS_AES_256_GCM_SHA384',
  },
  {
    title: 'TLS 1.3, RSA-PSS leaf (rsa_pss_pss_sha256)',
    options: (c) => ({ cert: c.leaves.rsaPss.certPem, key: c.leaves.rsaPss.keyPem }),
    protocol: 'TLSv1.3',
    cipher: 'TLS_AES_256_GCM_SHA384',
  },
  {
    title: 'TLS 1.3, ECDSA P-384 leaf, ChaCha20',
    options: (c) => ({
      cert: c.leaves.p384.certPem,
      key: c.leaves.p384.keyPem,
      ciphers: 'TLS_CHACHA20_POLY1305_SHA256',
    }),
    protocol: 'TLSv1.3',
    cipher: 'TLS_CHACHA20_POLY1305_SHA256',
  },
  {
    title: 'TLS 1.3, Ed25519 leaf, AES-128',
    options: (c) => ({
      cert: c.leaves.ed25519.certPem,
      key: c.leaves.ed25519.keyPem,
      ciphers: 'TLS_AES_128_GCM_SHA256',
    }),
    protocol: 'TLSv1.3',
    cipher: 'TLS_AES_128_GCM_SHA256',
  },
  {
    title: 'TLS 1.3, the server asks for a client certificate (CertificateRequest)',
    options: (c) => ({ cert: c.pki.fullchainPem, key: c.pki.leafKeyPem, requestCert: true, rejectUnauthorized: false }),
    protocol: 'TLSv1.3',
    cipher: 'TLS_AES_256_GCM_SHA384',
  },
  {
    title: 'TLS 1.2, ECDHE-RSA with AES-128-GCM',
    options: (c) => ({
      cert: c.leaves.rsa.certPem,
      key: c.leaves.rsa.keyPem,
      maxVersion: 'TLSv1.2',
      ciphers: 'ECDHE-RSA-AES128-GCM-SHA256',
    }),
    protocol: 'TLSv1.2',
    cipher: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
  },
  {
    title: 'TLS 1.2, RSA key exchange (AES128-SHA)',
    options: (c) => ({
      cert: c.leaves.rsa.certPem,
      key: c.leaves.rsa.keyPem,
      maxVersion: 'TLSv1.2',
      ciphers: 'AES128-SHA',
    }),
    protocol: 'TLSv1.2',
    cipher: 'TLS_RSA_WITH_AES_128_CBC_SHA',
  },
  {
    title: 'TLS 1.2, DHE-RSA with AES-256-GCM',
    options: (c) => ({
      cert: c.leaves.rsa.certPem,
      key: c.leaves.rsa.keyPem,
      maxVersion: 'TLSv1.2',
      ciphers: 'DHE-RSA-AES256-GCM-SHA384',
      dhparam: 'auto',
    }),
    protocol: 'TLSv1.2',
    cipher: 'TLS_DHE_RSA_WITH_AES_256_GCM_SHA384',
  },
  {
    title: 'TLS 1.2, ECDHE-ECDSA with a P-384 key (SHA-384 pair)',
    options: (c) => ({ cert: c.leaves.p384.certPem, key: c.leaves.p384.keyPem, maxVersion: 'TLSv1.2' }),
    protocol: 'TLSv1.2',
    cipher: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
  },
  {
    title: 'TLS 1.1, ECDHE-RSA (RSA over MD5 ‖ SHA-1)',
    options: (c) => ({
      cert: c.leaves.rsa.certPem,
      key: c.leaves.rsa.keyPem,
      minVersion: 'TLSv1.1',
      maxVersion: 'TLSv1.1',
      ciphers: 'ECDHE-RSA-AES256-SHA:@SECLEVEL=0',
    }),
    protocol: 'TLSv1.1',
    cipher: 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA',
  },
  {
    title: 'TLS 1.0, ECDHE-ECDSA with AES-128-CBC-SHA',
    options: (c) => ({
      cert: c.pki.fullchainPem,
      key: c.pki.leafKeyPem,
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1',
      ciphers: 'ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0',
    }),
    protocol: 'TLSv1',
    cipher: 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA',
  },
];

for (const v of variants) {
  test.serial(`M1 probe: ${v.title} — the grab sees what Node’s client sees, on one connection`, async (t) => {
    const server = await serve(t, v.options(t.context));
    const grab = await probeEndpoint({ host: '127.0.0.1', port: server.port, timeoutMs: 3000 });
    t.is(server.connections(), 1, 'no second connection');
    const node = await probeEndpoint({ host: '127.0.0.1', port: server.port, timeoutMs: 3000, handshake: 'node' });
    t.true(grab.ok, grab.error?.message);
    t.is(grab.protocol, v.protocol);
    t.is(grab.cipher, v.cipher);
    t.deepEqual(seen(grab), seen(node));
  });
}

test.serial('M1 probe: a HelloRetryRequest is completed by Node’s client on a second connection', async (t) => {
  const { pki } = t.context;
  const server = await serve(t, { cert: pki.fullchainPem, key: pki.leafKeyPem, ecdhCurve: 'P-384' });
  const grab = await probeEndpoint({ host: '127.0.0.1', port: server.port, timeoutMs: 3000 });
  t.is(server.connections(), 2);
  const node = await probeEndpoint({ host: '127.0.0.1', port: server.port, timeoutMs: 3000, handshake: 'node' });
  t.true(grab.ok, grab.error?.message);
  t.deepEqual(seen(grab), seen(node));
});

// ---------------------------------------------------------------------------------------------------------------
// What is refused

test.serial('M6 probe: a server alert fails the grab with the alert’s name, as it fails Node’s client', async (t) => {
  const { pki } = t.context;
  // an ECDSA certificate and only RSA suites: no shared cipher
  const server = await serve(t, {
    cert: pki.fullchainPem,
    key: pki.leafKeyPem,
    maxVersion: 'TLSv1.2',
    ciphers: 'ECDHE-RSA-AES128-GCM-SHA256',
  });
  const grab = await probeEndpoint({ host: '127.0.0.1', port: server.port, timeoutMs: 3000 });
  const node = await probeEndpoint({ host: '127.0.0.1', port: server.port, timeoutMs: 3000, handshake: 'node' });
  t.is(grab.error?.code, 'HandshakeFailed');
  t.regex(grab.error?.message ?? '', /alert handshake_failure \(40\)/);
  t.is(node.error?.code, 'HandshakeFailed');
  t.is(server.connections(), 2, 'one each: a failed grab is not retried with Node');
});

/** A proxy to `upstream` that sends `prefix` to the client before the server's first bytes. */
async function prefixingProxy(t: { context: Ctx }, upstream: number, prefix: Buffer): Promise<number> {
  const proxy = net.createServer((client) => {
    client.on('error', () => undefined);
    const server = net.connect({ host: '127.0.0.1', port: upstream });
    server.on('error', () => client.destroy());
    client.on('close', () => server.destroy());
    client.on('data', (d: Buffer) => server.write(d));
    let first = true;
    server.on('data', (d: Buffer) => {
      client.write(first ? Buffer.concat([prefix, d]) : d);
      first = false;
    });
  });
  return listenOn(t.context.servers, proxy);
}

test.serial(
  'M6 probe: a warning alert before the ServerHello (Apache’s unrecognized_name) is passed over, a fatal one fails — as in Node’s client',
  async (t) => {
    const { pki } = t.context;
    for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
      const upstream = await serve(t, { cert: pki.fullchainPem, key: pki.leafKeyPem, maxVersion });
      const warned = await prefixingProxy(t, upstream.port, Buffer.from([21, 3, 3, 0, 2, 1, 112]));
      const grab = await probeEndpoint({ host: '127.0.0.1', port: warned, timeoutMs: 3000 });
      const node = await probeEndpoint({ host: '127.0.0.1', port: warned, timeoutMs: 3000, handshake: 'node' });
      t.true(grab.ok, `${maxVersion}: ${grab.error?.message ?? ''}`);
      t.deepEqual(seen(grab), seen(node), maxVersion);
      const fatal = await prefixingProxy(t, upstream.port, Buffer.from([21, 3, 3, 0, 2, 2, 112]));
      const failed = await probeEndpoint({ host: '127.0.0.1', port: fatal, timeoutMs: 3000 });
      t.is(failed.error?.code, 'HandshakeFailed', maxVersion);
      t.regex(failed.error?.message ?? '', /alert unrecognized_name \(112\)/);
      const nodeFailed = await probeEndpoint({ host: '127.0.0.1', port: fatal, timeoutMs: 3000, handshake: 'node' });
      t.false(nodeFailed.ok, maxVersion);
    }
  }
);

/** A TCP server that sends `reply` to whatever it receives first, then does `after`. */
async function raw(t: { context: Ctx }, reply: Buffer, after: 'end' | 'stay'): Promise<number> {
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', () => {
      s.write(reply);
      if (after === 'end') s.end();
    });
    setTimeout(() => s.destroy(), 5000).unref();
  });
  return listenOn(t.context.servers, server);
}

test.serial('M6 probe: bytes that are not TLS, a cut flight and an endless flight fail the grab', async (t) => {
  const http = await raw(t, Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'), 'end');
  const o1 = await probeEndpoint({ host: '127.0.0.1', port: http, timeoutMs: 3000 });
  t.is(o1.error?.code, 'HandshakeFailed');
  t.regex(o1.error?.message ?? '', /did not answer with TLS/);
  // a ServerHello record header announcing more than is sent, then the end
  const cut = await raw(t, Buffer.from([22, 3, 3, 0, 80, 2, 0, 0, 76]), 'end');
  const o2 = await probeEndpoint({ host: '127.0.0.1', port: cut, timeoutMs: 3000 });
  t.is(o2.error?.code, 'HandshakeFailed');
  t.regex(o2.error?.message ?? '', /closed the connection during the handshake/);
  // a handshake message announced as 16 MB, fed in full records: refused at the flight bound, not after 16 MB
  const record = Buffer.concat([Buffer.from([22, 3, 3, 0x40, 0x00]), Buffer.alloc(0x4000)]);
  record.set([2, 0xff, 0xff, 0xff], 5);
  const endless = await raw(
    t,
    Buffer.concat([
      record,
      ...Array.from({ length: 20 }, () => Buffer.concat([Buffer.from([22, 3, 3, 0x40, 0]), Buffer.alloc(0x4000)])),
    ]),
    'stay'
  );
  const o3 = await probeEndpoint({ host: '127.0.0.1', port: endless, timeoutMs: 3000 });
  t.is(o3.error?.code, 'HandshakeFailed');
  t.regex(o3.error?.message ?? '', /more than 262144 bytes/);
});

// ---------------------------------------------------------------------------------------------------------------
// A man in the middle who knows the grab's key share

/** Runs the grab against `port`: the served certificates' SHA-256, the reason it gave up, or its failure. */
async function grabAt(port: number, keyShare?: ReturnType<typeof x25519KeyShare>): Promise<Error | string[]> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  try {
    const result = await grabCertificates(socket, 'a.probe.test', keyShare);
    return result.served ? result.certificates.map((d) => sha256Fingerprint(d)) : new Error(result.reason);
  } catch (err) {
    return err as Error;
  } finally {
    socket.destroy();
  }
}

type Tamper = 'none' | 'record' | 'certificateVerify' | 'finished';

/** Re-encrypts TLS 1.3 records under a server handshake traffic secret, in order (RFC 8446 §5.2). */
function recordEncrypter(suite: Tls13Suite, secret: Buffer): (type: number, content: Buffer) => Buffer {
  const key = expandLabel(suite.hash, secret, 'key', suite.keyLength);
  const iv = expandLabel(suite.hash, secret, 'iv', 12);
  let sequence = 0;
  return (type, content) => {
    const inner = Buffer.concat([content, Buffer.from([type])]);
    const header = Buffer.from([23, 3, 3, (inner.length + 16) >> 8, (inner.length + 16) & 0xff]);
    const nonce = Buffer.from(iv);
    nonce.writeUInt32BE((nonce.readUInt32BE(8) ^ sequence++) >>> 0, 8);
    const cipher = createCipheriv(suite.aead as 'aes-128-gcm', key, nonce, { authTagLength: 16 });
    cipher.setAAD(header);
    const body = Buffer.concat([cipher.update(inner), cipher.final(), cipher.getAuthTag()]);
    return Buffer.concat([header, body]);
  };
}

/**
 * Grabs through a proxy that decrypts the server's TLS 1.3 flight with the grab's key share, changes one message
 * (or nothing) and re-encrypts it, so that only the grab's own checks can notice.
 */
async function grabThrough(t: { context: Ctx }, tamper: Tamper): Promise<Error | string[]> {
  const { pki } = t.context;
  const upstream = await serve(t, { cert: pki.fullchainPem, key: pki.leafKeyPem, ciphers: 'TLS_AES_128_GCM_SHA256' });
  const keyShare = x25519KeyShare();
  const proxy = net.createServer((client) => {
    client.on('error', () => undefined);
    const server = net.connect({ host: '127.0.0.1', port: upstream.port });
    server.on('error', () => client.destroy());
    client.on('close', () => server.destroy());
    let clientHello: Buffer | undefined;
    client.on('data', (d: Buffer) => {
      clientHello ??= d.subarray(5);
      server.write(d);
    });
    let pending = Buffer.alloc(0);
    let state:
      | { suite: Tls13Suite; decrypt: ReturnType<typeof recordDecrypter>; encrypt: ReturnType<typeof recordEncrypter> }
      | undefined;
    server.on('data', (d: Buffer) => {
      pending = Buffer.concat([pending, d]);
      while (pending.length >= 5 && pending.length >= 5 + pending.readUInt16BE(3)) {
        const record = pending.subarray(0, 5 + pending.readUInt16BE(3));
        pending = pending.subarray(record.length);
        if (record[0] === 22 && !state) {
          const hello = record.subarray(5);
          const body = hello.subarray(4);
          const p = 35 + (body[34] as number);
          const suite = TLS13_SUITES[body.readUInt16BE(p)] as Tls13Suite;
          const serverShare = body.subarray(body.length - 32);
          const shared = diffieHellman({
            privateKey: keyShare.privateKey,
            publicKey: createPublicKey({
              key: { kty: 'OKP', crv: 'X25519', x: serverShare.toString('base64url') },
              format: 'jwk',
            }),
          });
          const transcript = createHash(suite.hash)
            .update(clientHello as Buffer)
            .update(hello)
            .digest();
          const secret = expandLabel(
            suite.hash,
            handshakeSecret(suite, shared),
            's hs traffic',
            suite.hashLength,
            transcript
          );
          state = { suite, decrypt: recordDecrypter(suite, secret), encrypt: recordEncrypter(suite, secret) };
          client.write(record);
        } else if (record[0] === 23 && state) {
          const { type, content } = state.decrypt(record.subarray(0, 5), record.subarray(5));
          const changed = Buffer.from(content);
          // walk the handshake messages in this record and change the one asked for
          for (let p = 0; p + 4 <= changed.length; p += 4 + changed.readUIntBE(p + 1, 3)) {
            const last = p + 4 + changed.readUIntBE(p + 1, 3) - 1;
            if ((tamper === 'certificateVerify' && changed[p] === 15) || (tamper === 'finished' && changed[p] === 20))
              changed[last] = (changed[last] as number) ^ 0x01;
          }
          const out = state.encrypt(type, changed);
          if (tamper === 'record') out[out.length - 1] = (out[out.length - 1] as number) ^ 0x01;
          client.write(out);
        } else client.write(record);
      }
    });
  });
  return grabAt(await listenOn(t.context.servers, proxy), keyShare);
}

test.serial(
  'M6 probe: the grab verifies the server’s CertificateVerify and Finished (a man in the middle is caught)',
  async (t) => {
    const { pki } = t.context;
    const untouched = await grabThrough(t, 'none');
    t.deepEqual(
      untouched,
      [pki.leafPem, pki.intermediatePem].map((pem) => sha256Fingerprint(pemToDer(pem))),
      'the proxy itself changes nothing'
    );
    const record = await grabThrough(t, 'record');
    t.regex(String(record), /failed authentication/);
    const signature = await grabThrough(t, 'certificateVerify');
    t.regex(String(signature), /CertificateVerify signature does not verify/);
    const finished = await grabThrough(t, 'finished');
    t.regex(String(finished), /Finished does not verify/);
  }
);

/**
 * Grabs from a TLS 1.2 server through a proxy that changes one byte of the cleartext flight: the last byte of the
 * ServerKeyExchange (its signature), or of the leaf certificate (its signature, so the certificate still parses).
 */
async function grabTls12Through(
  t: { context: Ctx },
  tamper: 'none' | 'signature' | 'certificate'
): Promise<Error | string[]> {
  const { pki } = t.context;
  const upstream = await serve(t, { cert: pki.fullchainPem, key: pki.leafKeyPem, maxVersion: 'TLSv1.2' });
  const proxy = net.createServer((client) => {
    client.on('error', () => undefined);
    const server = net.connect({ host: '127.0.0.1', port: upstream.port });
    server.on('error', () => client.destroy());
    client.on('close', () => server.destroy());
    client.on('data', (d: Buffer) => server.write(d));
    let pending = Buffer.alloc(0);
    server.on('data', (d: Buffer) => {
      pending = Buffer.concat([pending, d]);
      while (pending.length >= 5 && pending.length >= 5 + pending.readUInt16BE(3)) {
        const record = Buffer.from(pending.subarray(0, 5 + pending.readUInt16BE(3)));
        pending = pending.subarray(record.length);
        // OpenSSL sends its TLS 1.2 flight one message per record
        if (
          record[0] === 22 &&
          ((tamper === 'signature' && record[5] === 12) || (tamper === 'certificate' && record[5] === 11))
        ) {
          const leafEnd = tamper === 'signature' ? record.length : 5 + 4 + 3 + 3 + record.readUIntBE(12, 3);
          record[leafEnd - 1] = (record[leafEnd - 1] as number) ^ 0x01;
        }
        client.write(record);
      }
    });
  });
  return grabAt(await listenOn(t.context.servers, proxy));
}

test.serial(
  'M6 probe: over TLS 1.2 the grab verifies the ServerKeyExchange signature with the served leaf',
  async (t) => {
    const { pki } = t.context;
    t.deepEqual(
      await grabTls12Through(t, 'none'),
      [pki.leafPem, pki.intermediatePem].map((pem) => sha256Fingerprint(pemToDer(pem)))
    );
    t.regex(String(await grabTls12Through(t, 'signature')), /ServerKeyExchange signature does not verify/);
    // a changed certificate signature leaves the key: still the server's (the checks judge the certificate)
    const changed = await grabTls12Through(t, 'certificate');
    t.true(Array.isArray(changed), String(changed));
    t.not((changed as string[])[0], sha256Fingerprint(pemToDer(pki.leafPem)));
  }
);
