/**
 * IP addresses and CIDR blocks for the console's IP allow-list (SPEC U2): IPv4 and IPv6, pure (no I/O).
 *
 * Addresses are held as a family plus a bigint so one comparison works for both families. An IPv4-mapped IPv6
 * address (`::ffff:192.0.2.1`, what a dual-stack socket reports for an IPv4 client) is treated as the IPv4 address,
 * so a list of IPv4 blocks also matches clients of a server listening on `::`.
 */

export type IpFamily = 4 | 6;

export interface IpAddress {
  family: IpFamily;
  value: bigint;
}

export interface Cidr {
  family: IpFamily;
  /** Network address (host bits zero). */
  network: bigint;
  prefix: number;
}

export type CidrParse = { ok: true; cidr: Cidr } | { ok: false; reason: string };

const BITS: Readonly<Record<IpFamily, number>> = { 4: 32, 6: 128 };
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const MAPPED_PREFIX = 0xffffn << 32n;

function parseIpv4(s: string): bigint | null {
  const m = IPV4.exec(s);
  if (!m) return null;
  let v = 0n;
  for (const part of m.slice(1)) {
    if (part.length > 1 && part.startsWith('0')) return null; // leading zeros are ambiguous (octal in some parsers)
    const n = Number(part);
    if (n > 255) return null;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseIpv6(s: string): bigint | null {
  if (s.length > 45 || !/^[0-9A-Fa-f:.]+$/.test(s)) return null;
  let head = s;
  let tailV4: bigint | null = null;
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.')) {
    tailV4 = parseIpv4(s.slice(lastColon + 1));
    if (tailV4 === null) return null;
    head = s.slice(0, lastColon + 1) + '0:0'; // two placeholder groups, replaced below
  }
  const halves = head.split('::');
  if (halves.length > 2) return null;
  const groups = (part: string): string[] | null => {
    if (part === '') return [];
    const g = part.split(':');
    return g.every((x) => /^[0-9A-Fa-f]{1,4}$/.test(x)) ? g : null;
  };
  const left = groups(halves[0] ?? '');
  const right = halves.length === 2 ? groups(halves[1] ?? '') : [];
  if (!left || !right) return null;
  const missing = 8 - left.length - right.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...left, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...right];
  let v = 0n;
  for (const g of all) v = (v << 16n) | BigInt(parseInt(g, 16));
  if (tailV4 !== null) v = (v & ~0xffffffffn) | tailV4;
  return v;
}

/** Parses an IPv4 or IPv6 address (no zone id, no brackets); IPv4-mapped IPv6 becomes IPv4. Null when invalid. */
export function parseIp(s: string): IpAddress | null {
  const v4 = parseIpv4(s);
  if (v4 !== null) return { family: 4, value: v4 };
  const v6 = parseIpv6(s);
  if (v6 === null) return null;
  if (v6 >> 32n === MAPPED_PREFIX >> 32n) return { family: 4, value: v6 & 0xffffffffn };
  return { family: 6, value: v6 };
}

function mask(family: IpFamily, prefix: number): bigint {
  const bits = BITS[family];
  return ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - prefix)) - 1n);
}

/**
 * Parses `address/prefix` (a bare address means a single host: /32 or /128). Refuses host bits set below the prefix
 * (`10.1.2.3/8`) instead of silently widening, since that is almost always a typo; the reason names the fix.
 */
export function parseCidr(input: string): CidrParse {
  const s = input.trim();
  const slash = s.indexOf('/');
  const addrText = slash < 0 ? s : s.slice(0, slash);
  const ip = parseIp(addrText);
  if (!ip) return { ok: false, reason: `${JSON.stringify(input)}: "${addrText}" is not an IPv4 or IPv6 address` };
  if (ip.family === 4 && addrText.includes(':') && slash >= 0) {
    // `::ffff:a.b.c.d/n` would mix the prefix lengths of two families: IPv4 blocks are written as plain IPv4.
    return { ok: false, reason: `${JSON.stringify(input)}: write IPv4-mapped blocks as plain IPv4 (a.b.c.d/n)` };
  }
  const bits = BITS[ip.family];
  let prefix = bits;
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > bits) {
      return { ok: false, reason: `${JSON.stringify(input)}: prefix must be a number from 0 to ${bits}` };
    }
    prefix = Number(p);
  }
  const network = ip.value & mask(ip.family, prefix);
  if (network !== ip.value) {
    const fixed = formatCidr({ family: ip.family, network, prefix });
    return {
      ok: false,
      reason: `${JSON.stringify(input)}: host bits are set below /${prefix}; did you mean ${fixed}?`,
    };
  }
  return { ok: true, cidr: { family: ip.family, network, prefix } };
}

/** Formats an address canonically (IPv6 per RFC 5952: lower case, longest zero run compressed). */
export function formatIp(ip: IpAddress): string {
  if (ip.family === 4) {
    return [24n, 16n, 8n, 0n].map((sh) => String((ip.value >> sh) & 0xffn)).join('.');
  }
  const g = Array.from({ length: 8 }, (_, i) => Number((ip.value >> BigInt(112 - 16 * i)) & 0xffffn));
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > best.len && j - i >= 2) best = { at: i, len: j - i };
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best.at < 0) return hex.join(':');
  return `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.len).join(':')}`;
}

export function formatCidr(c: Cidr): string {
  return `${formatIp({ family: c.family, value: c.network })}/${c.prefix}`;
}

export function cidrContains(c: Cidr, ip: IpAddress): boolean {
  return c.family === ip.family && (ip.value & mask(c.family, c.prefix)) === c.network;
}

/**
 * The allow-list decision: an empty list allows everyone; otherwise the address must be inside one block. An
 * address that does not parse is refused (never allowed by accident).
 */
export function isAllowedByList(list: readonly Cidr[], address: string): boolean {
  if (list.length === 0) return true;
  const ip = parseIp(address);
  return ip !== null && list.some((c) => cidrContains(c, ip));
}
