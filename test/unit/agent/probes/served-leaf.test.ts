import net from 'node:net';
import tls from 'node:tls';
import anyTest, { type TestFn } from 'ava';
import { probeServedLeaf, sniFor, type StartTls } from '../../../../agent/src/probes/served-leaf';
import { issueLeaf, type LeafMaterial } from '../../../_helpers/install-bundles';

const test = anyTest as TestFn<{ leaf: LeafMaterial; servers: net.Server[] }>;

test.before(async (t) => {
  t.context = { leaf: await issueLeaf('probe.example.test'), servers: [] };
});
test.after.always((t) => {
  for (const s of t.context.servers) s.close();
});

async function listen(t: { context: { servers: net.Server[] } }, server: net.Server): Promise<number> {
  t.context.servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

const DIALOGUES: Record<StartTls, { greet: string; replies: [RegExp, string][] }> = {
  smtp: {
    greet: '220-mail.test ESMTP\r\n220 ready\r\n',
    replies: [
      [/^EHLO /, '250-mail.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n'],
      [/^STARTTLS$/, '220 go ahead\r\n'],
    ],
  },
  imap: {
    greet: '* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n',
    replies: [[/^a1 STARTTLS$/, 'a1 OK begin TLS\r\n']],
  },
  pop3: { greet: '+OK POP3 ready\r\n', replies: [[/^STLS$/, '+OK begin TLS\r\n']] },
};

test('D2 probe: returns the SHA-256 of the served leaf DER, without trusting the chain', async (t) => {
  const { leaf } = t.context;
  const names: string[] = [];
  const server = tls.createServer(
    {
      cert: leaf.fullchainPem,
      key: leaf.keyPem,
      SNICallback: (name, cb) => {
        names.push(name);
        cb(null, undefined);
      },
    },
    (s) => s.end()
  );
  const port = await listen(t, server);
  const r = await probeServedLeaf({ host: '127.0.0.1', port, serverName: 'probe.example.test', timeoutMs: 3000 });
  t.true(r.ok);
  if (r.ok) t.is(r.sha256, leaf.leafSha256);
  t.deepEqual(names, ['probe.example.test']);
  const byIp = await probeServedLeaf({ host: '127.0.0.1', port, timeoutMs: 3000 });
  t.true(byIp.ok);
  t.deepEqual(names, ['probe.example.test'], 'an IP host sends no SNI');
});

test('D2 probe: SNI is omitted for IP literals', (t) => {
  t.is(sniFor('127.0.0.1'), undefined);
  t.is(sniFor('::1'), undefined);
  t.is(sniFor('127.0.0.1', 'www.example.test'), 'www.example.test');
  t.is(sniFor('mail.example.test'), 'mail.example.test');
});

for (const proto of ['smtp', 'imap', 'pop3'] as const) {
  test(`D2 probe: STARTTLS ${proto} dialogue, then the leaf fingerprint`, async (t) => {
    const { leaf } = t.context;
    const ctx = tls.createSecureContext({ cert: leaf.fullchainPem, key: leaf.keyPem });
    const server = net.createServer((socket) => {
      const dialogue = DIALOGUES[proto];
      socket.write(dialogue.greet);
      let buf = '';
      let step = 0;
      const onData = (chunk: Buffer): void => {
        buf += chunk.toString('latin1');
        let nl: number;
        while ((nl = buf.indexOf('\r\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 2);
          const [pattern, reply] = dialogue.replies[step] ?? [/$^/, ''];
          if (!pattern.test(line)) return void socket.end('500 unexpected\r\n');
          step++;
          socket.write(reply);
          if (step === dialogue.replies.length) {
            socket.off('data', onData);
            const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: ctx });
            secure.on('error', () => undefined);
          }
        }
      };
      socket.on('data', onData);
      socket.on('error', () => undefined);
    });
    const port = await listen(t, server);
    const r = await probeServedLeaf({ host: '127.0.0.1', port, starttls: proto, timeoutMs: 3000 });
    t.true(r.ok, r.ok ? '' : r.message);
    if (r.ok) t.is(r.sha256, leaf.leafSha256);
  });
}

test('D2 probe: a silent server or a refused port fail within the deadline', async (t) => {
  const silent = net.createServer((s) => s.on('error', () => undefined));
  const port = await listen(t, silent);
  const started = Date.now();
  const r = await probeServedLeaf({ host: '127.0.0.1', port, starttls: 'smtp', timeoutMs: 400 });
  t.false(r.ok);
  t.true(Date.now() - started < 2000);
  const closed = net.createServer();
  const closedPort = await listen(t, closed);
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const refused = await probeServedLeaf({ host: '127.0.0.1', port: closedPort, timeoutMs: 1000 });
  t.false(refused.ok);
  if (!refused.ok) t.regex(refused.message, /ECONNREFUSED/);
});
