/**
 * internal-ca: DER encodings of distinguished names, subject alternative names and the certificate extensions
 * the CA writes itself (C3: CRL distribution point, authority information access).
 *
 * Names use the same conventions as the certificates @peculiar/x509 builds for us ({@link buildName}): RDNs in
 * the order C, ST, L, O, OU, CN, one attribute each, C as PrintableString and everything else as UTF8String.
 */
import { isIP } from 'node:net';
import { der, extension } from './der-writer';

/** The subject fields a CSR or certificate may carry (already validated by the caller). */
export interface NameAttributes {
  commonName?: string | undefined;
  organization?: string | undefined;
  organizationalUnit?: string | undefined;
  country?: string | undefined;
  locality?: string | undefined;
  state?: string | undefined;
}

const ATTRIBUTES = [
  ['country', '2.5.4.6'],
  ['state', '2.5.4.8'],
  ['locality', '2.5.4.7'],
  ['organization', '2.5.4.10'],
  ['organizationalUnit', '2.5.4.11'],
  ['commonName', '2.5.4.3'],
] as const;

/** DER `Name` (RDNSequence) of the given attributes. */
export function encodeName(attrs: NameAttributes): Buffer {
  const rdns: Buffer[] = [];
  for (const [field, oid] of ATTRIBUTES) {
    const value = attrs[field];
    if (value === undefined) continue;
    const encoded = field === 'country' ? der.printableString(value) : der.utf8String(value);
    rdns.push(der.setOf(der.sequence(der.oid(oid), encoded)));
  }
  return der.sequence(...rdns);
}

/** The 4 or 16 octets of an IPv4/IPv6 address (as an iPAddress GeneralName carries it). */
export function ipToBytes(ip: string): Buffer {
  const family = isIP(ip);
  if (family === 4) return Buffer.from(ip.split('.').map(Number));
  if (family !== 6) throw new TypeError(`not an IP address: ${ip}`);
  let text = ip;
  const tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    tail.push(...(v4[1] as string).split('.').map(Number));
    text = `${text.slice(0, -(v4[1] as string).length)}0:0`;
  }
  const [head = '', rest] = text.split('::') as [string, string | undefined];
  const groups = (s: string): string[] => (s === '' ? [] : s.split(':'));
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const zeros = rest === undefined ? 0 : 8 - left.length - right.length;
  const all = [...left, ...Array<string>(zeros).fill('0'), ...right];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  if (tail.length) Buffer.from(tail).copy(out, 12);
  return out;
}

/** DER `GeneralNames` of DNS names ([2] IA5String) and IP addresses ([7] OCTET STRING). */
export function encodeGeneralNames(sans: ReadonlyArray<{ type: 'dns' | 'ip'; value: string }>): Buffer {
  return der.sequence(
    ...sans.map((san) =>
      san.type === 'dns'
        ? der.implicitPrimitive(2, Buffer.from(san.value, 'latin1'))
        : der.implicitPrimitive(7, ipToBytes(san.value))
    )
  );
}

/** A uniformResourceIdentifier GeneralName (`[6] IMPLICIT IA5String`). */
function uriName(url: string): Buffer {
  if (!/^[\x21-\x7e]+$/.test(url)) throw new TypeError('URI must be printable ASCII without spaces');
  return der.implicitPrimitive(6, Buffer.from(url, 'latin1'));
}

export const ExtensionOid = {
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  crlDistributionPoints: '2.5.29.31',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  authorityKeyIdentifier: '2.5.29.35',
  subjectKeyIdentifier: '2.5.29.14',
  crlNumber: '2.5.29.20',
  crlReason: '2.5.29.21',
} as const;

/**
 * The extnValue of a cRLDistributionPoints extension with one distribution point whose fullName is `url`:
 * `SEQUENCE { DistributionPoint { [0] { [0] IMPLICIT GeneralNames { [6] url } } } }`.
 */
export function crlDistributionPointsValue(url: string): Buffer {
  return der.sequence(der.sequence(der.explicit(0, der.implicitConstructed(0, uriName(url)))));
}

/** The extnValue of an authorityInfoAccess extension (OCSP first, then caIssuers, as is customary). */
export function authorityInfoAccessValue(access: { ocspUrl?: string; caIssuersUrl?: string }): Buffer {
  const items: Buffer[] = [];
  if (access.ocspUrl) items.push(der.sequence(der.oid('1.3.6.1.5.5.7.48.1'), uriName(access.ocspUrl)));
  if (access.caIssuersUrl) items.push(der.sequence(der.oid('1.3.6.1.5.5.7.48.2'), uriName(access.caIssuersUrl)));
  return der.sequence(...items);
}

/** basicConstraints CA:TRUE (critical), with an optional pathLenConstraint. */
export function caBasicConstraints(pathLength?: number): Buffer {
  const value =
    pathLength === undefined
      ? der.sequence(der.boolean(true))
      : der.sequence(der.boolean(true), der.integer(pathLength));
  return extension(ExtensionOid.basicConstraints, true, value);
}

/** keyUsage keyCertSign + cRLSign (bits 5 and 6), critical: what a CA key is for. */
export function caKeyUsage(): Buffer {
  return extension(ExtensionOid.keyUsage, true, der.namedBits([5, 6]));
}
