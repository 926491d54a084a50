/**
 * Node farm server (forked by bench/monitor-farm.ts when nginx is not installed, and by the monitor-sweep smoke
 * test): one TLS listener per endpoint, each with its own served chain and key. IPC:
 *   parent → { type: 'serve', endpoints: [{ id, host, port, chainFile, keyFile }] }   (port 0 = any free port)
 *   child  → { type: 'served', bound: [{ id, host, port }], failed: string[] }
 * The child closes everything and exits when the parent disconnects or sends { type: 'close' }.
 */
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

interface ServeRequest {
  type: 'serve';
  /** `plain`: a TCP listener that answers like a non-TLS HTTP server (chainFile/keyFile unused). */
  endpoints: Array<{ id: string; host: string; port: number; chainFile: string; keyFile: string; plain?: boolean }>;
}

const servers: net.Server[] = [];

async function serve(req: ServeRequest): Promise<void> {
  const bound: Array<{ id: string; host: string; port: number }> = [];
  const failed: string[] = [];
  for (const ep of req.endpoints) {
    const server = ep.plain
      ? net.createServer((s) => {
          s.on('error', () => undefined);
          s.end('HTTP/1.0 400 not TLS\r\n\r\n');
        })
      : tls
          .createServer({ cert: fs.readFileSync(ep.chainFile), key: fs.readFileSync(ep.keyFile) }, (s) => {
            s.on('error', () => undefined);
            s.end();
          })
          .on('tlsClientError', () => undefined);
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen({ host: ep.host, port: ep.port, backlog: 511, exclusive: true }, () => resolve(true));
    });
    if (ok) {
      servers.push(server);
      bound.push({ id: ep.id, host: ep.host, port: (server.address() as { port: number }).port });
    } else failed.push(ep.id);
  }
  process.send?.({ type: 'served', bound, failed });
}

function closeAll(): void {
  for (const s of servers) s.close();
  servers.length = 0;
}

process.on('message', (msg: { type: string }) => {
  if (msg.type === 'serve') void serve(msg as ServeRequest);
  else if (msg.type === 'close') {
    closeAll();
    process.exit(0);
  }
});
process.on('disconnect', () => {
  closeAll();
  process.exit(0);
});
