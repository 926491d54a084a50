/**
 * The monitored endpoint of a deploy target (SPEC D1 "check/monitor host:port (defaults to the CN)", D6, M2, M4):
 * every deploy target of a Lifecycle-Managed definition is watched by scheduled monitoring unless an operator
 * disables its endpoint. Pure: from a definition to the endpoints it implies. No I/O.
 */
import net from 'node:net';
import type { CertificateDefinition, DeployTarget } from './definition';
import { isDnsName } from './definition';
import { type DeriveOptions, checkPortAndStarttls, deliveryMethodOf } from './deployment';
import type { MonitoredEndpoint } from './monitoring';

export { type DeriveOptions, checkPortAndStarttls };

/** What a deploy target implies for its monitored endpoint. */
export type DerivedEndpoint = Pick<
  MonitoredEndpoint,
  'host' | 'port' | 'serverName' | 'starttls' | 'probeFrom' | 'agentId'
> & { deployTargetIndex: number };

/** The certificate name a client asks for (SNI): the CN when it is a host name, else the first DNS SAN. */
export function nameOf(def: Pick<CertificateDefinition, 'subject' | 'sans'>): string | null {
  const cn = def.subject.commonName.replace(/\.$/, '');
  if (net.isIP(cn) !== 0 || (isDnsName(cn) && !cn.includes('*'))) return cn;
  const dns = def.sans.find((s) => s.type === 'dns' && !s.value.includes('*'));
  if (dns) return dns.value.replace(/\.$/, '');
  const ip = def.sans.find((s) => s.type === 'ip');
  return ip ? ip.value : null;
}

/**
 * The endpoint of one deploy target, or null when there is no host to check (no check host and a definition
 * without a host name). Host = checkHost ?? the certificate's name; SNI = that name (none for an IP); an `agent`
 * target is probed by its agent (the host is typically only reachable from there), others by the controller.
 */
export function derivedEndpointOf(
  def: Pick<CertificateDefinition, 'subject' | 'sans'>,
  target: DeployTarget,
  index: number,
  opts: DeriveOptions = {}
): DerivedEndpoint | null {
  const name = nameOf(def);
  const host = (target.checkHost ?? name)?.replace(/\.$/, '').toLowerCase() ?? null;
  if (!host || (net.isIP(host) === 0 && (!isDnsName(host) || host.includes('*')))) return null;
  const { port, starttls } = checkPortAndStarttls(target, opts);
  const viaAgent = deliveryMethodOf(target) === 'agent' && target.agentId !== undefined;
  return {
    deployTargetIndex: index,
    host,
    port,
    serverName: name && net.isIP(name) === 0 ? name.toLowerCase() : null,
    starttls,
    probeFrom: viaAgent ? 'agent' : 'controller',
    agentId: viaAgent ? (target.agentId ?? null) : null,
  };
}

/** Every endpoint a definition's deploy targets imply: none for Monitored-Only definitions. */
export function derivedEndpointsOf(
  def: Pick<CertificateDefinition, 'subject' | 'sans' | 'operationMode' | 'deployTargets'>,
  opts: DeriveOptions = {}
): DerivedEndpoint[] {
  if (def.operationMode !== 'managed') return [];
  return def.deployTargets
    .map((t, i) => derivedEndpointOf(def, t, i, opts))
    .filter((e): e is DerivedEndpoint => e !== null);
}
