/**
 * What a monitoring run observes per endpoint (SPEC M1, M4): the probe target (where, and who probes it) and the
 * observation — or why there is none, which becomes a failing verdict with that reason.
 */
import type { ObservedEndpoint, StartTlsProtocol } from '@certfleet/shared';
import type { ProbeFrom } from '../../domain/monitoring';
import type { ProbeObservationRecord } from '../agents/probe-jobs';

/** What to probe and from where. */
export interface ProbeTarget {
  host: string;
  port: number;
  serverName: string | null;
  starttls: StartTlsProtocol | null;
  probeFrom: ProbeFrom;
  /** The probing agent (`probeFrom: 'agent'`). */
  agentId: string | null;
  /** The site whose connected agents may probe it (`probeFrom: 'site'`). */
  site?: string | null;
}

/** An observation, or why there is none (the verdict is then failing with that reason). */
export type Observed =
  | { kind: 'observed'; observation: ObservedEndpoint & { protocol?: string; cipher?: string }; probedBy: string }
  | { kind: 'missing'; reason: string; message: string; probedBy: string };

/** `host:port`, IPv6 in brackets. */
export function endpointLabel(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** `controller`, `agent:<id>`, or `site:<name>` while no agent of the site was chosen. */
export function probedByOf(t: ProbeTarget): string {
  if (t.probeFrom === 'controller') return 'controller';
  if (t.probeFrom === 'site' && !t.agentId) return `site:${t.site ?? '?'}`;
  return `agent:${t.agentId ?? '?'}`;
}

/** Agent reports carry `Code: message`; the checks want a code and a message. */
export function fromAgentRecord(rec: ProbeObservationRecord, target: ProbeTarget, probedBy: string): Observed {
  const m = /^([A-Za-z]+):\s*([\s\S]*)$/.exec(rec.error);
  const observation: ObservedEndpoint & { protocol?: string; cipher?: string } = {
    host: target.host,
    port: target.port,
    serverName: rec.serverName || null,
    ok: rec.error === '',
    chain: rec.chain.map((b) => Buffer.from(b, 'base64')),
    ...(rec.protocol ? { protocol: rec.protocol } : {}),
    ...(rec.cipher ? { cipher: rec.cipher } : {}),
  };
  if (rec.error !== '') observation.error = { code: m?.[1] ?? 'Unreachable', message: m?.[2] ?? rec.error };
  return { kind: 'observed', observation, probedBy };
}
