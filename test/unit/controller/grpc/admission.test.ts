/**
 * Connection admission (controller/src/grpc/admission.ts): connections beyond the burst wait in the queue and must
 * still complete their TLS handshake once admitted (the ClientHello that arrived while they waited is not lost).
 */
import net from 'node:net';
import tls from 'node:tls';
import test from 'ava';
import { ConnectionAdmission } from '../../../../controller/src/grpc/admission';
import { issueLeaf } from '../../../_helpers/install-bundles';

test('queued connections complete their TLS handshake after admission', async (t) => {
  const leaf = await issueLeaf();
  const tlsServer = tls.createServer({ key: leaf.keyPem, cert: leaf.certPem }, (s) => s.end());
  const admission = new ConnectionAdmission({ ratePerSecond: 4 }, (socket) => tlsServer.emit('connection', socket));
  const listener = net.createServer((socket) => {
    socket.on('error', () => undefined);
    admission.offer(socket);
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const port = (listener.address() as net.AddressInfo).port;
  try {
    const outcomes = await Promise.all(
      Array.from(
        { length: 8 },
        () =>
          new Promise<string>((resolve) => {
            const c = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => {
              c.destroy();
              resolve('ok');
            });
            c.setTimeout(5000, () => {
              c.destroy();
              resolve('timeout');
            });
            c.on('error', (err) => resolve(err.message));
          })
      )
    );
    t.deepEqual(outcomes, Array<string>(8).fill('ok'));
    t.true(admission.stats.queuedPeak >= 1, 'some connections were queued');
    t.is(admission.stats.dropped, 0);
  } finally {
    admission.close();
    listener.close();
  }
});
