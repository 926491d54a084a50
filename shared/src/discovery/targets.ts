/**
 * Discovery targets and ports (SPEC S1): what a scan may touch, parsed strictly and bounded before any packet is
 * sent. A scan never probes anything outside what these functions return.
 *
 * Target syntax (one per entry; entries may also be comma- or whitespace-separated):
 * - IPv4 address `192.0.2.10`
 * - IPv4 CIDR `192.0.2.0/24` (prefix /16 to /32; every address of the block, network and broadcast included, as
 *   nmap does); larger blocks are refused with CF_VALIDATION
 * - IPv4 range `192.0.2.10-20` (last octet) or `192.0.2.250-192.0.3.5`
 * - IPv6 literal `2001:db8::1` or `[2001:db8::1]` (a `/128` suffix is accepted; wider IPv6 prefixes are refused)
 * - DNS host name `mail.example.com`
 *
 * Port syntax: `443`, `8000-8010`, `587/smtp` (STARTTLS protocol after a slash); a bare port in
 * {@link DEFAULT_STARTTLS_PORTS} gets its STARTTLS protocol unless written `port/tls`.
 */
import net from 'node:net';
import { CertFleetError } from '../errors';
import { STARTTLS_PROTOCOLS, type StartTlsProtocol } from '../probe';

/** One host to scan. */
export interface Target {
  /** IPv4/IPv6 literal (no brackets) or DNS name (lowercase). */
  host: string;
  kind: 'ipv4' | 'ipv6' | 'name';
}

/** One port to scan on every target, with the plain-text dialogue it needs first (if any). */
export interface PortSpec {
  port: number;
  starttls: StartTlsProtocol | null;
}

/** Implicit-TLS ports scanned by default (SPEC S1): HTTPS, SMTPS, LDAPS, IMAPS, POP3S, alternative HTTPS. */
export const DEFAULT_TLS_PORTS: readonly number[] = [443, 465, 636, 993, 995, 8443];

/** STARTTLS ports scanned by default, with their protocol (SPEC S1). */
export const DEFAULT_STARTTLS_PORTS: Readonly<Record<number, StartTlsProtocol>> = {
  25: 'smtp',
  110: 'pop3',
  143: 'imap',
  587: 'smtp',
};

/** The default port list: {@link DEFAULT_TLS_PORTS} then {@link DEFAULT_STARTTLS_PORTS}, ascending. */
export const DEFAULT_PORTS: readonly PortSpec[] = [
  ...DEFAULT_TLS_PORTS.map((port) => ({ port, starttls: null })),
  ...Object.entries(DEFAULT_STARTTLS_PORTS).map(([port, starttls]) => ({ port: Number(port), starttls })),
].sort((a, b) => a.port - b.port);

/** Widest IPv4 block accepted (a /16: 65,536 addresses). */
export const MIN_IPV4_PREFIX = 16;
/** Most distinct hosts one target list may expand to. */
export const MAX_TARGETS = 65_536;
/** Most entries one port list may expand to. */
export const MAX_PORTS = 1_024;

const invalid = (message: string): CertFleetError => new CertFleetError('CF_VALIDATION', `discovery: ${message}`);

const DNS_NAME =
  /^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?)(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?)*\.?$/i;

function ipv4ToInt(text: string): number | undefined {
  if (net.isIPv4(text) === false) return undefined;
  const parts = text.split('.').map(Number);
  return (
    (((parts[0] as number) << 24) |
      ((parts[1] as number) << 16) |
      ((parts[2] as number) << 8) |
      (parts[3] as number)) >>>
    0
  );
}

/** `3221225985` → `192.0.2.1`. */
export function intToIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/** Splits entries on commas and whitespace, dropping empties. */
function tokens(spec: readonly string[]): string[] {
  return spec.flatMap((entry) => String(entry).split(/[\s,]+/)).filter((t) => t !== '');
}

/** Expands one token to [first, last] IPv4 integers, or undefined when it is not IPv4 syntax. */
function ipv4Block(token: string): [number, number] | undefined {
  const cidr = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(token);
  if (cidr) {
    const base = ipv4ToInt(cidr[1] as string);
    const bits = Number(cidr[2]);
    if (base === undefined) throw invalid(`${token}: not an IPv4 address`);
    if (bits > 32) throw invalid(`${token}: prefix length must be 0-32`);
    if (bits < MIN_IPV4_PREFIX)
      throw invalid(`${token}: a /${bits} is ${2 ** (32 - bits)} addresses; the widest block is /${MIN_IPV4_PREFIX}`);
    const size = 2 ** (32 - bits);
    const first = Math.floor(base / size) * size;
    return [first, first + size - 1];
  }
  const short = /^(\d{1,3}(?:\.\d{1,3}){3})-(\d{1,3})$/.exec(token);
  const long = /^(\d{1,3}(?:\.\d{1,3}){3})-(\d{1,3}(?:\.\d{1,3}){3})$/.exec(token);
  if (short || long) {
    const m = (short ?? long) as RegExpExecArray;
    const first = ipv4ToInt(m[1] as string);
    if (first === undefined) throw invalid(`${token}: not an IPv4 address`);
    let last: number | undefined;
    if (short) {
      const octet = Number(m[2]);
      if (octet > 255) throw invalid(`${token}: range end must be 0-255`);
      last = ((first & 0xffffff00) | octet) >>> 0;
    } else {
      last = ipv4ToInt(m[2] as string);
      if (last === undefined) throw invalid(`${token}: not an IPv4 address`);
    }
    if (last < first) throw invalid(`${token}: range end is before its start`);
    if (last - first + 1 > 2 ** (32 - MIN_IPV4_PREFIX))
      throw invalid(`${token}: ${last - first + 1} addresses; at most ${2 ** (32 - MIN_IPV4_PREFIX)} per range`);
    return [first, last];
  }
  if (net.isIPv4(token)) {
    const v = ipv4ToInt(token) as number;
    return [v, v];
  }
  if (/^\d{1,3}(?:\.\d{1,3}){3}(?:[/-].*)?$/.test(token))
    throw invalid(`${token}: not a valid IPv4 address, CIDR or range`);
  return undefined;
}

/**
 * Expands target entries (SPEC S1) into distinct hosts, in input order. Nothing is resolved here.
 * @throws CertFleetError CF_VALIDATION on a malformed entry, a block wider than /16, or more than
 * {@link MAX_TARGETS} hosts in total
 * @example expandTargets(['192.0.2.0/30', 'mail.example.com']) // 4 IPv4 targets then one name
 */
export function expandTargets(spec: readonly string[]): Target[] {
  const out: Target[] = [];
  const seen = new Set<string>();
  const push = (target: Target): void => {
    if (seen.has(target.host)) return;
    if (out.length >= MAX_TARGETS) throw invalid(`more than ${MAX_TARGETS} targets`);
    seen.add(target.host);
    out.push(target);
  };
  const list = tokens(spec);
  if (list.length === 0) throw invalid('no targets given');
  // Counted before de-duplication, so that repeated wide blocks cannot make this loop long.
  let expanded = 0;
  for (const token of list) {
    const block = ipv4Block(token);
    if (block) {
      const [first, last] = block;
      expanded += last - first + 1;
      if (expanded > MAX_TARGETS) throw invalid(`more than ${MAX_TARGETS} target addresses`);
      for (let v = first; v <= last; v++) push({ host: intToIpv4(v), kind: 'ipv4' });
      continue;
    }
    let v6 = token.startsWith('[') && token.endsWith(']') ? token.slice(1, -1) : token;
    if (v6.includes(':')) {
      const prefix = /^(.*)\/(\d{1,3})$/.exec(v6);
      if (prefix) {
        if (prefix[2] !== '128') throw invalid(`${token}: IPv6 prefixes cannot be scanned; give addresses`);
        v6 = prefix[1] as string;
      }
      if (!net.isIPv6(v6)) throw invalid(`${token}: not an IPv6 address`);
      push({ host: canonicalIpv6(v6), kind: 'ipv6' });
      continue;
    }
    if (/^\d+$/.test(token) || !DNS_NAME.test(token) || /^[\d.]+$/.test(token))
      throw invalid(`${token}: not an address, CIDR, range or host name`);
    push({ host: token.toLowerCase().replace(/\.$/, ''), kind: 'name' });
  }
  return out;
}

/** Lowercase, compressed form of an IPv6 literal (so duplicates written differently collapse). */
function canonicalIpv6(text: string): string {
  try {
    return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return text.toLowerCase();
  }
}

/**
 * Parses a port list (`443,8443`, `8000-8010`, `587/smtp`, `25/tls`). Ports listed in
 * {@link DEFAULT_STARTTLS_PORTS} get their STARTTLS protocol unless a suffix says otherwise. Duplicate ports keep
 * their first spelling.
 * @throws CertFleetError CF_VALIDATION on a malformed entry or more than {@link MAX_PORTS} ports
 */
export function parsePorts(spec: readonly (string | number)[]): PortSpec[] {
  const out: PortSpec[] = [];
  const seen = new Set<number>();
  const push = (port: number, starttls: StartTlsProtocol | null): void => {
    if (seen.has(port)) return;
    if (out.length >= MAX_PORTS) throw invalid(`more than ${MAX_PORTS} ports`);
    seen.add(port);
    out.push({ port, starttls });
  };
  const list = tokens(spec.map(String));
  if (list.length === 0) throw invalid('no ports given');
  for (const token of list) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/([a-z0-9]+))?$/i.exec(token);
    if (!m) throw invalid(`port ${token}: expected PORT, FIRST-LAST or PORT/PROTOCOL`);
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    if (first < 1 || last > 65535 || last < first) throw invalid(`port ${token}: ports are 1-65535`);
    if (last - first + 1 > MAX_PORTS) throw invalid(`port ${token}: more than ${MAX_PORTS} ports`);
    const suffix = m[3]?.toLowerCase();
    if (suffix !== undefined && suffix !== 'tls' && !(STARTTLS_PROTOCOLS as readonly string[]).includes(suffix))
      throw invalid(`port ${token}: protocol must be tls or one of ${STARTTLS_PROTOCOLS.join(', ')}`);
    for (let port = first; port <= last; port++) {
      const starttls =
        suffix === 'tls'
          ? null
          : suffix !== undefined
            ? (suffix as StartTlsProtocol)
            : (DEFAULT_STARTTLS_PORTS[port] ?? null);
      push(port, starttls);
    }
  }
  return out;
}
