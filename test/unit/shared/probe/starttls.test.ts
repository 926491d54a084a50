/**
 * STARTTLS dialogues of the shared probe engine (SPEC M6, S1) against small in-test fake servers: SMTP, IMAP, POP3
 * and FTP succeed and give the served chain; refusals, injected bytes, over-long lines and silent servers give
 * StartTlsRefused / Timeout within the budget.
 */
import net from 'node:net';
import tls from 'node:tls';
import anyTest, { type TestFn } from 'ava';
import { STARTTLS_PROTOCOLS, probeEndpoint, sha256Fingerprint } from '@certfleet/shared';
import {
  FAKE_DIALOGUES,
  type FakeDialogue,
  closeAll,
  fakeStartTlsServer,
  listenOn,
  makeProbePki,
  pemToDer,
  type ProbePki,
} from '../../../_helpers/probe-pki';

const test = anyTest as TestFn<{ pki: ProbePki; ctx: tls.SecureContext; servers: net.Server[] }>;

test.before(async (t) => {
  const pki = await makeProbePki();
  t.context = { pki, ctx: tls.createSecureContext({ cert: pki.fullchainPem, key: pki.leafKeyPem }), servers: [] };
});
test.after.always(async (t) => {
  closeAll(t.context.servers);
  await t.context.pki.cleanup();
});

async function fake(
  t: { context: { ctx: tls.SecureContext; servers: net.Server[] } },
  d: FakeDialogue
): Promise<number> {
  return listenOn(t.context.servers, fakeStartTlsServer(d, t.context.ctx));
}

for (const protocol of STARTTLS_PROTOCOLS) {
  test(`M6 S1 probe: STARTTLS ${protocol} dialogue, then the served chain`, async (t) => {
    const port = await fake(t, FAKE_DIALOGUES[protocol]);
    const o = await probeEndpoint({ host: '127.0.0.1', port, starttls: protocol, timeoutMs: 3000 });
    t.true(o.ok, o.error?.message);
    t.deepEqual(
      o.chain.map((d) => sha256Fingerprint(d)),
      [t.context.pki.leafPem, t.context.pki.intermediatePem].map((p) => sha256Fingerprint(pemToDer(p)))
    );
    t.truthy(o.protocol);
  });
}

test('M6 S1 probe: STARTTLS smtp to a server that asks for another key share — the dialogue is repeated for Node’s client', async (t) => {
  const { pki } = t.context;
  // P-384 only: the grab's X25519 share gets a HelloRetryRequest, and the probe falls back on a second connection
  const ctx = tls.createSecureContext({ cert: pki.fullchainPem, key: pki.leafKeyPem, ecdhCurve: 'P-384' });
  const server = fakeStartTlsServer(FAKE_DIALOGUES.smtp, ctx);
  let connections = 0;
  server.on('connection', () => connections++);
  const port = await listenOn(t.context.servers, server);
  const o = await probeEndpoint({ host: '127.0.0.1', port, starttls: 'smtp', timeoutMs: 3000 });
  t.true(o.ok, o.error?.message);
  t.is(connections, 2);
  t.is(o.protocol, 'TLSv1.3');
  t.deepEqual(
    o.chain.map((d) => sha256Fingerprint(d)),
    [pki.leafPem, pki.intermediatePem].map((p) => sha256Fingerprint(pemToDer(p)))
  );
});

const REFUSALS: Record<(typeof STARTTLS_PROTOCOLS)[number], [FakeDialogue, RegExp]> = {
  smtp: [
    {
      greet: '220 mail ESMTP\r\n',
      replies: [
        [/^EHLO /, '250-mail\r\n250 PIPELINING\r\n'],
        [/^STARTTLS$/, '454 4.7.0 TLS not available\r\n'],
      ],
    },
    /smtp STARTTLS: server replied "454 4\.7\.0 TLS not available" \(EHLO did not offer STARTTLS\)/,
  ],
  imap: [
    { greet: '* OK ready\r\n', replies: [[/^a1 STARTTLS$/, 'a1 NO STARTTLS disabled\r\n']] },
    /imap STARTTLS: server replied "a1 NO STARTTLS disabled"/,
  ],
  pop3: [
    { greet: '+OK ready\r\n', replies: [[/^STLS$/, '-ERR command not permitted\r\n']] },
    /pop3 STLS: server replied "-ERR command not permitted"/,
  ],
  ftp: [
    { greet: '220 ftp ready\r\n', replies: [[/^AUTH TLS$/, '530 Please login with USER and PASS.\r\n']] },
    /ftp AUTH TLS: server replied "530 Please login/,
  ],
};

for (const protocol of STARTTLS_PROTOCOLS) {
  test(`M6 probe: a ${protocol} server that declines STARTTLS gives StartTlsRefused with its reply`, async (t) => {
    const [dialogue, message] = REFUSALS[protocol];
    const port = await fake(t, dialogue);
    const o = await probeEndpoint({ host: '127.0.0.1', port, starttls: protocol, timeoutMs: 3000 });
    t.false(o.ok);
    t.is(o.error?.code, 'StartTlsRefused');
    t.regex(o.error?.message ?? '', message);
  });
}

test('M6 probe: a wrong greeting (a 554 SMTP banner, an IMAP BYE) is StartTlsRefused', async (t) => {
  const smtp = await fake(t, { greet: '554 no service\r\n', replies: [] });
  const o = await probeEndpoint({ host: '127.0.0.1', port: smtp, starttls: 'smtp', timeoutMs: 3000 });
  t.is(o.error?.code, 'StartTlsRefused');
  t.regex(o.error?.message ?? '', /smtp greeting: server replied "554 no service"/);
  const imap = await fake(t, { greet: '* BYE too many connections\r\n', replies: [] });
  const i = await probeEndpoint({ host: '127.0.0.1', port: imap, starttls: 'imap', timeoutMs: 3000 });
  t.is(i.error?.code, 'StartTlsRefused');
});

test('M6 probe: bytes injected after the STARTTLS go-ahead are refused (no plaintext read as TLS)', async (t) => {
  const port = await fake(t, { ...FAKE_DIALOGUES.pop3, inject: '+OK injected\r\n' });
  const o = await probeEndpoint({ host: '127.0.0.1', port, starttls: 'pop3', timeoutMs: 3000 });
  t.is(o.error?.code, 'StartTlsRefused');
  t.regex(o.error?.message ?? '', /data after its STARTTLS go-ahead/);
});

test('M6 probe: an endless server line is cut at 4 KiB (bounded line reads)', async (t) => {
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.write(`220 ${'x'.repeat(10_000)}`);
  });
  const port = await listenOn(t.context.servers, server);
  const o = await probeEndpoint({ host: '127.0.0.1', port, starttls: 'smtp', timeoutMs: 3000 });
  t.is(o.error?.code, 'StartTlsRefused');
  t.regex(o.error?.message ?? '', /longer than 4096 bytes/);
});

test('M6 probe: an endless multi-line reply is cut at 100 lines', async (t) => {
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.write('220-hello\r\n'.repeat(200));
  });
  const port = await listenOn(t.context.servers, server);
  const o = await probeEndpoint({ host: '127.0.0.1', port, starttls: 'ftp', timeoutMs: 3000 });
  t.is(o.error?.code, 'StartTlsRefused');
  t.regex(o.error?.message ?? '', /over 100 lines/);
});

test('M6 probe: a server that never greets gives Timeout within the budget; one that hangs up is refused', async (t) => {
  const silent = net.createServer((s) => s.on('error', () => undefined));
  const port = await listenOn(t.context.servers, silent);
  const started = Date.now();
  const o = await probeEndpoint({ host: '127.0.0.1', port, starttls: 'imap', timeoutMs: 300 });
  t.is(o.error?.code, 'Timeout');
  t.regex(o.error?.message ?? '', /starttls did not finish within 300 ms/);
  t.true(Date.now() - started < 1000);
  const hangup = net.createServer((s) => s.end('+OK hi\r\n'));
  const hp = await listenOn(t.context.servers, hangup);
  const h = await probeEndpoint({ host: '127.0.0.1', port: hp, starttls: 'pop3', timeoutMs: 3000 });
  t.is(h.error?.code, 'StartTlsRefused');
  t.regex(h.error?.message ?? '', /closed the connection/);
});
