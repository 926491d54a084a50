/**
 * The monitored endpoint of a deploy target (SPEC D1 "check/monitor host:port (defaults to the CN)", D6, M2, M4):
 * every deploy target of a Lifecycle-Managed definition is watched by scheduled monitoring unless an operator
 * disables its endpoint. Pure: from a definition to the endpoints it implies. No I/O.
 */
import net from 'node:net';
import type { CertificateDefinition, DeployTarget } from './definition';
import { isDnsName } from './definition';
import { deliveryMethodOf } from './deployment';
import type { MonitoredEndpoint } from './monitoring';

/** What a deploy target implies for its monitored endpoint. */
export type DerivedEndpoint = Pick<
  MonitoredEndpoint,
  'host' | 'port' | 'serverName' | 'starttls' | 'probeFrom' | 'agentId'
> & { deployTargetIndex: number };

export interface DeriveOptions {
  /** The controller's own HTTPS port (for `this-controller` targets); unknown → 443. */
  controllerHttpsPort?: number | undefined;
}

/** STARTTLS ports of a submission/relay MTA. */
const SMTP_STARTTLS_PORTS = new Set([25, 587]);

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
 * Default STARTTLS dialect and port of a target by server type: postfix 25 with STARTTLS smtp, dovecot 993
 * (143 with STARTTLS imap, 110 with pop3), this-controller the controller's HTTPS port, everything else 443.
 */
export function checkPortAndStarttls(
  target: DeployTarget,
  opts: DeriveOptions = {}
): { port: number; starttls: MonitoredEndpoint['starttls'] } {
  const given = target.starttls ?? null;
  switch (target.serverType) {
    case 'postfix': {
      const port = target.checkPort ?? (given === 'smtp' || given === null ? 25 : given === 'imap' ? 143 : 110);
      const starttls = given ?? (SMTP_STARTTLS_PORTS.has(port) ? 'smtp' : null);
      return { port, starttls };
    }
    case 'dovecot': {
      const port = target.checkPort ?? (given === 'imap' ? 143 : given === 'pop3' ? 110 : given === 'smtp' ? 25 : 993);
      return { port, starttls: given };
    }
    case 'this-controller':
      return { port: target.checkPort ?? opts.controllerHttpsPort ?? 443, starttls: given };
    default: {
      const port = target.checkPort ?? (given === 'smtp' ? 25 : given === 'imap' ? 143 : given === 'pop3' ? 110 : 443);
      return { port, starttls: given };
    }
  }
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
