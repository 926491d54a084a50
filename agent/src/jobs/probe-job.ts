/**
 * A probe job (SPEC M4, G4): the controller asks the agent to look at TLS endpoints it cannot reach itself. The
 * agent connects with the shared probe engine (the same one the controller uses) and reports what each endpoint
 * served; verdicts are computed by the controller, which also checks that every observation answers an endpoint
 * of this job (an agent may only report for endpoints assigned to it).
 */
import { STARTTLS_PROTOCOLS, probeEndpoint, type ProbeObservation, type StartTlsProtocol } from '@certfleet/shared';
import type { EndpointObservation, ProbeEndpoints } from '@certfleet/proto';

/** Endpoints per job and concurrent probes: bounded, so a job can never turn the agent into a scanner. */
export const MAX_PROBE_ENDPOINTS = 500;
const CONCURRENCY = 16;

export async function runProbeJob(
  job: ProbeEndpoints,
  probe: (o: Parameters<typeof probeEndpoint>[0]) => Promise<ProbeObservation> = probeEndpoint
): Promise<EndpointObservation[]> {
  const endpoints = job.endpoints.slice(0, MAX_PROBE_ENDPOINTS);
  const out: EndpointObservation[] = new Array<EndpointObservation>(endpoints.length);
  let next = 0;
  const worker = async () => {
    while (next < endpoints.length) {
      const i = next++;
      const e = endpoints[i]!;
      const valid = e.host.length > 0 && e.host.length <= 253 && e.port >= 1 && e.port <= 65535;
      if (!valid) {
        out[i] = {
          endpoint: e,
          error: 'InvalidEndpoint',
          certificateChain: [],
          protocol: '',
          cipher: '',
          handshakeMs: 0,
        };
        continue;
      }
      const starttls = (STARTTLS_PROTOCOLS as readonly string[]).includes(e.starttls)
        ? (e.starttls as StartTlsProtocol)
        : undefined;
      if (e.starttls && !starttls) {
        out[i] = {
          endpoint: e,
          error: 'InvalidEndpoint',
          certificateChain: [],
          protocol: '',
          cipher: '',
          handshakeMs: 0,
        };
        continue;
      }
      const o = await probe({
        host: e.host,
        port: e.port,
        ...(e.serverName ? { serverName: e.serverName } : {}),
        ...(starttls ? { starttls } : {}),
        timeoutMs: 10_000,
      });
      out[i] = {
        endpoint: e,
        error: o.ok ? '' : `${o.error?.code ?? 'Failed'}: ${o.error?.message ?? ''}`.slice(0, 500),
        certificateChain: o.chain.slice(0, 10),
        protocol: o.protocol ?? '',
        cipher: o.cipher ?? '',
        handshakeMs: Math.round(o.timings.handshakeMs ?? o.timings.totalMs),
      };
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, endpoints.length) }, worker));
  return out;
}
