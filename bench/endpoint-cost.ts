/**
 * `node --import tsx bench/endpoint-cost.ts [--count N] [--concurrency C] [--rounds R] [--modes native,probe,full,probe-node,full-node]`:
 * CPU time per endpoint of one process (one thread) against the running farm (`../shared/bench/farm.sh up 1000`,
 * `BENCH_DIR` as for the benchmarks). A diagnostic, not a benchmark: it reports figures and asserts nothing.
 *
 * The sweep's rate is bounded by CPU on this machine, and the host's speed drifts by ± 30 % within minutes, which
 * hides a 10 % change in whole sweeps; CPU per endpoint of the same code paths, measured in rounds that alternate
 * between modes, shows where the time goes:
 *   native — Node's TLS handshake on a plain socket, nothing read (Node's floor)
 *   probe  — CertFleet's probeEndpoint() (its own certificate grab, served chain, fingerprints)
 *   full   — probeEndpoint() + AIA completion + revocation lookup + the check chain, as a sweep worker does
 *            (Monitored-Only against a trust set holding the farm root; nothing stored)
 *   probe-node, full-node — the same with `handshake: 'node'` (Node's TLS client through the tap, as before the grab)
 * The first round of each mode is a warm-up; the median of the others is printed (user + system CPU / endpoint).
 */
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import {
  completeChainViaAia,
  evaluateChecks,
  type ProbeObservation,
  probeEndpoint,
  revocationStatus,
  trustSetFromCertificates,
} from '@certfleet/shared';
import { UsageError, parseFlags } from './args';

interface FarmEndpoint {
  host: string;
  port: number;
  servername: string;
}

const MODES = ['native', 'probe', 'full', 'probe-node', 'full-node'] as const;
type Mode = (typeof MODES)[number];

function farm(): { endpoints: FarmEndpoint[]; root: X509Certificate } {
  const dir = path.join(process.env.BENCH_DIR ?? '/tmp/certfleet-bench', 'farm');
  const truthFile = path.join(dir, 'truth.json');
  if (!fs.existsSync(truthFile))
    throw new UsageError(`no farm at ${dir}: run BENCH_DIR=${path.dirname(dir)} ../shared/bench/farm.sh up 1000`);
  const truth = JSON.parse(fs.readFileSync(truthFile, 'utf8')) as { endpoints?: FarmEndpoint[]; ca?: string };
  if (!Array.isArray(truth.endpoints) || truth.endpoints.length === 0 || !truth.ca)
    throw new UsageError(`${truthFile}: no endpoints`);
  return { endpoints: truth.endpoints, root: new X509Certificate(fs.readFileSync(truth.ca)) };
}

function runners(root: X509Certificate): Record<Mode, (ep: FarmEndpoint) => Promise<boolean>> {
  const trustSet = trustSetFromCertificates('farm', [root]);
  const probe = (ep: FarmEndpoint, handshake: 'grab' | 'node'): Promise<ProbeObservation> =>
    probeEndpoint({ host: ep.host, port: ep.port, serverName: ep.servername, handshake });
  const full = async (ep: FarmEndpoint, handshake: 'grab' | 'node'): Promise<boolean> => {
    const o = await probe(ep, handshake);
    const now = new Date();
    const aia = o.ok ? await completeChainViaAia(o.chain, { now, trustSet }) : undefined;
    const revocation = o.ok ? await revocationStatus(o.chain, { now, issuers: [...trustSet.roots] }) : undefined;
    const outcome = evaluateChecks(o, {
      now,
      mode: 'monitored',
      trustSet,
      ...(aia ? { aia } : {}),
      ...(revocation ? { revocation } : {}),
    });
    return o.ok && outcome.checks.length > 0;
  };
  const context = tls.createSecureContext({ ca: [], minVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' });
  return {
    native: (ep) =>
      new Promise((resolve) => {
        const plain = net.connect({ host: ep.host, port: ep.port });
        plain.setNoDelay(true);
        plain.once('error', () => resolve(false));
        plain.once('connect', () => {
          const secure = tls.connect({
            socket: plain,
            secureContext: context,
            rejectUnauthorized: false,
            checkServerIdentity: () => undefined,
            servername: ep.servername,
          });
          secure.once('secureConnect', () => {
            secure.destroy();
            resolve(true);
          });
          secure.once('error', () => resolve(false));
        });
      }),
    probe: async (ep) => (await probe(ep, 'grab')).ok,
    full: (ep) => full(ep, 'grab'),
    'probe-node': async (ep) => (await probe(ep, 'node')).ok,
    'full-node': (ep) => full(ep, 'node'),
  };
}

async function main(): Promise<void> {
  const options = parseFlags(process.argv.slice(2), {
    '--count': { key: 'count', int: [10, 100_000] },
    '--concurrency': { key: 'concurrency', int: [1, 1024] },
    '--rounds': { key: 'rounds', int: [2, 50] },
    '--modes': { key: 'modes', text: `a comma-separated list of ${MODES.join(', ')}` },
  });
  const count = (options.count as number | undefined) ?? 1000;
  const concurrency = (options.concurrency as number | undefined) ?? 48;
  const rounds = (options.rounds as number | undefined) ?? 5;
  const modes = ((options.modes as string | undefined) ?? MODES.join(',')).split(',') as Mode[];
  const bad = modes.find((m) => !MODES.includes(m));
  if (bad) throw new UsageError(`unknown mode ${bad} (${MODES.join(', ')})`);
  const { endpoints, root } = farm();
  const run = runners(root);
  const cpu: Record<string, number[]> = {};
  for (let round = 0; round < rounds; round++) {
    for (const mode of modes) {
      let next = 0;
      let failed = 0;
      const start = process.cpuUsage();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < count) {
            const ep = endpoints[next++ % endpoints.length] as FarmEndpoint;
            if (!(await run[mode](ep))) failed++;
          }
        })
      );
      const used = process.cpuUsage(start);
      if (failed > count / 10)
        throw new Error(`${mode}: ${failed} of ${count} endpoints failed — is the farm up? (farm.sh status)`);
      const perEndpoint = (used.user + used.system) / count;
      process.stderr.write(
        `[endpoint-cost] round ${round + 1} ${mode}: ${perEndpoint.toFixed(0)} µs CPU per endpoint` +
          `${failed ? `, ${failed} failed` : ''}${round === 0 ? ' (warm-up)' : ''}\n`
      );
      if (round > 0) (cpu[mode] ??= []).push(perEndpoint);
    }
  }
  for (const mode of modes) {
    const sorted = [...(cpu[mode] ?? [])].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? NaN;
    process.stdout.write(
      `${mode.padEnd(10)} ${median.toFixed(0)} µs CPU per endpoint (median of ${sorted.length}; ${sorted.map((v) => v.toFixed(0)).join(', ')})\n`
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof UsageError ? 2 : 1);
});
