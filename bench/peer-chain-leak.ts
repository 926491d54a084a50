/**
 * `node --import tsx bench/peer-chain-leak.ts [--connections N] [--rounds R]`: shows whether this Node's
 * `tlsSocket.getPeerX509Certificate()` leaks native memory (see bench/README.md § monitor-sweep, "Memory over many
 * runs"). A diagnostic, not a benchmark: it reports figures and asserts nothing.
 *
 * One loopback TLS server (127.0.0.1, a free port) serves leaf + intermediate (the probe tests' PKI, made with the
 * openssl CLI in a temporary directory). For each way of reading the served chain, a child process makes R rounds of N handshakes
 * and prints its RSS after each round, with a full GC first:
 *   none    — handshake only
 *   x509    — getPeerX509Certificate() (the served chain as X509Certificate objects; the probe engine used it)
 *   legacy  — getPeerCertificate(true) (the legacy objects, with each certificate's DER as `raw`)
 *   probe   — CertFleet's probeEndpoint() (reads the chain from the handshake bytes: shared/src/probe/handshake-tap.ts)
 * In Node 20 the X509Certificate constructor X509_dup()s each served issuer and removes the original from the
 * SSL's peer chain without freeing it (src/crypto/crypto_x509.cc), so `x509` grows by about one decoded
 * certificate per served intermediate and handshake, while `none`, `legacy` and `probe` level off.
 */
import { fork } from 'node:child_process';
import tls from 'node:tls';
import { probeEndpoint } from '@certfleet/shared';
import { makeProbePki } from '../test/_helpers/probe-pki';

const MODES = ['none', 'x509', 'legacy', 'probe'] as const;
type Mode = (typeof MODES)[number];

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1 || v > 100_000) throw new Error(`--${name} must be an integer 1…100000`);
  return v;
}

async function child(mode: Mode, port: number, connections: number, rounds: number): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  const context = tls.createSecureContext({ ca: [] });
  const once = async (): Promise<void> => {
    if (mode === 'probe') {
      const o = await probeEndpoint({ host: '127.0.0.1', port, timeoutMs: 5000 });
      issuers += o.chain.length > 1 ? 1 : 0;
      return;
    }
    await new Promise<void>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, secureContext: context });
      s.once('secureConnect', () => {
        if (mode === 'x509') issuers += s.getPeerX509Certificate()?.issuerCertificate?.raw.length ? 1 : 0;
        if (mode === 'legacy') issuers += s.getPeerCertificate(true).issuerCertificate?.raw.length ? 1 : 0;
        s.destroy();
        resolve();
      });
      s.once('error', () => resolve());
    });
  };
  const sizes: number[] = [];
  let issuers = 0;
  for (let r = 0; r < rounds; r++) {
    let left = connections;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (left-- > 0) await once();
      })
    );
    gc?.();
    sizes.push(Math.round(process.memoryUsage.rss() / 1048576));
  }
  process.send?.({ mode, sizes, issuers });
}

async function main(): Promise<void> {
  const connections = flag('connections', 2000);
  const rounds = flag('rounds', 6);
  const pki = await makeProbePki();
  const server = tls.createServer({ cert: pki.fullchainPem, key: pki.leafKeyPem }, (s) => s.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  process.stdout.write(`${process.version}: RSS (MB) after each round of ${connections} handshakes\n`);
  try {
    for (const mode of MODES) {
      const proc = fork(__filename, ['--child', mode, String(port), String(connections), String(rounds)], {
        execArgv: [...process.execArgv, '--expose-gc'],
      });
      const reply = await new Promise<{ sizes: number[] }>((resolve, reject) => {
        proc.once('message', (m) => resolve(m as { sizes: number[] }));
        proc.once('exit', (code) => reject(new Error(`${mode} child exited with ${code}`)));
      });
      proc.kill();
      const growth = (reply.sizes.at(-1) ?? 0) - (reply.sizes[1] ?? 0);
      const perHandshake = (growth * 1048576) / (connections * Math.max(1, rounds - 2));
      process.stdout.write(
        `${mode.padEnd(7)} ${reply.sizes.join(' ')}   after round 2: ${growth >= 0 ? '+' : ''}${growth} MB ≈ ${Math.round(perHandshake)} bytes per handshake\n`
      );
    }
  } finally {
    server.close();
    await pki.cleanup();
  }
}

if (process.argv[2] === '--child') {
  const [, , , mode, port, connections, rounds] = process.argv;
  void child(mode as Mode, Number(port), Number(connections), Number(rounds));
} else {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
