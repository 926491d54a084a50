/**
 * Farm child process (forked by farm.test.ts): serves hundreds of loopback TLS listeners, one certificate chain
 * each. Protocol over IPC:
 *   parent → { type: 'serve', host, ports: number[], endpoints: [{ id, cert, key }] }   (cert = leaf + served chain PEM)
 *   child  → { type: 'served', bound: [{ id, host, port }], failed: number }
 * Ports are tried in the given order; a port another process holds (EADDRINUSE) is skipped. Listeners close when
 * the parent disconnects or sends { type: 'close' }; the child never outlives its parent (IPC disconnect → exit).
 */
import tls from 'node:tls';

interface ServeRequest {
  type: 'serve';
  host: string;
  ports: number[];
  endpoints: Array<{ id: number; cert: string; key: string }>;
}

const servers: tls.Server[] = [];

function listen(server: tls.Server, host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const onError = (): void => {
      // EADDRINUSE (another process's port) or EACCES: try the next port
      server.off('listening', onListening);
      resolve(false);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve(true);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port, backlog: 511, exclusive: true });
  });
}

async function serve(req: ServeRequest): Promise<void> {
  const bound: Array<{ id: number; host: string; port: number }> = [];
  const contexts = new Map<string, tls.SecureContext>();
  let next = 0;
  let failed = 0;
  for (const ep of req.endpoints) {
    const cacheKey = ep.cert;
    let secureContext = contexts.get(cacheKey);
    if (!secureContext) {
      secureContext = tls.createSecureContext({ cert: ep.cert, key: ep.key });
      contexts.set(cacheKey, secureContext);
    }
    const ctx = secureContext;
    // one shared context per distinct chain: SNI or not, every handshake gets it
    const server = tls.createServer({ cert: ep.cert, key: ep.key, SNICallback: (_name, cb) => cb(null, ctx) });
    server.on('tlsClientError', () => undefined);
    let ok = false;
    while (!ok && next < req.ports.length) {
      const port = req.ports[next++] as number;
      ok = await listen(server, req.host, port);
      if (ok) bound.push({ id: ep.id, host: req.host, port });
    }
    if (ok) servers.push(server);
    else failed++;
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
