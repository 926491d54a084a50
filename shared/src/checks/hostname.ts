/**
 * Does a certificate cover a host name? RFC 6125 §6 as browsers and OpenSSL (`X509_check_host`) apply it:
 * - IP addresses match `IP:` SANs only (never DNS names or the CN);
 * - DNS names match `DNS:` SANs case-insensitively, ignoring one trailing dot; the subject CN is consulted only
 *   when the certificate has no `DNS:` SAN at all (RFC 6125 §6.4.4, OpenSSL's default);
 * - a wildcard is accepted only as the complete left-most label (`*.example.com`), matches exactly one label,
 *   never an empty one, and needs at least two labels after it (`*.com` matches nothing); partial wildcards
 *   (`w*.example.com`) and wildcards in IDN A-labels are refused.
 */
import { isIP } from 'node:net';

/** How a name was (or was not) covered. */
export interface HostnameMatch {
  covered: boolean;
  /** The SAN or CN entry that matched. */
  matchedBy?: string;
  /** True when only the subject CN was consulted (no DNS SANs in the certificate). */
  viaCommonName?: boolean;
}

/** Canonical text of an IPv4/IPv6 address, or undefined when `text` is not one. */
export function canonicalIp(text: string): string | undefined {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const family = isIP(bare);
  if (family === 4)
    return bare
      .split('.')
      .map((o) => String(Number(o)))
      .join('.');
  if (family !== 6) return undefined;
  return expandIpv6(bare);
}

function expandIpv6(addr: string): string {
  let text = addr.toLowerCase();
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1]) {
    const o = v4[1].split('.').map(Number);
    text =
      text.slice(0, -v4[1].length) +
      (((o[0] ?? 0) << 8) | (o[1] ?? 0)).toString(16) +
      ':' +
      (((o[2] ?? 0) << 8) | (o[3] ?? 0)).toString(16);
  }
  const [head = '', tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail === undefined ? [] : tail ? tail.split(':') : [];
  const missing = 8 - h.length - t.length;
  const groups = tail === undefined ? h : [...h, ...Array<string>(missing).fill('0'), ...t];
  return groups.map((g) => parseInt(g, 16).toString(16)).join(':');
}

function normalizeDns(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** RFC 6125 §6.4.3 matching of one presented DNS identifier against the reference name. */
export function dnsNameMatches(presented: string, reference: string): boolean {
  const p = normalizeDns(presented);
  const r = normalizeDns(reference);
  if (!p || !r) return false;
  if (!p.includes('*')) return p === r;
  const pLabels = p.split('.');
  const rLabels = r.split('.');
  if (pLabels[0] !== '*') return false; // partial or non-left-most wildcards
  if (pLabels.slice(1).some((l) => l.includes('*'))) return false;
  if (pLabels.length < 3) return false; // `*.com`, `*.`
  if (pLabels.length !== rLabels.length) return false; // one label exactly
  if ((rLabels[0] ?? '') === '' || (rLabels[0] ?? '').startsWith('xn--')) return false;
  return pLabels.slice(1).join('.') === rLabels.slice(1).join('.');
}

/**
 * Checks `name` (a DNS name or an IP address) against the certificate's SANs (`DNS:…`, `IP:…`) and, as a
 * fallback for certificates without DNS SANs, its subject common names.
 */
export function hostnameCovered(
  name: string,
  sans: readonly string[],
  commonNames: readonly string[] = []
): HostnameMatch {
  const ip = canonicalIp(name);
  if (ip !== undefined) {
    for (const san of sans) {
      if (san.startsWith('IP:') && canonicalIp(san.slice(3)) === ip) return { covered: true, matchedBy: san };
    }
    return { covered: false };
  }
  const dnsSans = sans.filter((s) => s.startsWith('DNS:'));
  if (dnsSans.length > 0) {
    const hit = dnsSans.find((s) => dnsNameMatches(s.slice(4), name));
    return hit ? { covered: true, matchedBy: hit } : { covered: false };
  }
  const cn = commonNames.find((c) => dnsNameMatches(c, name));
  return cn ? { covered: true, matchedBy: `CN=${cn}`, viaCommonName: true } : { covered: false, viaCommonName: true };
}
