/**
 * subjectAltName decoding to the CertFleet vocabulary: `DNS:…`, `IP:…`, `email:…`, `URI:…`, in certificate order.
 * IPv6 addresses use the RFC 5952 text form (`2001:db8::1`). Other GeneralName kinds (otherName, directoryName,
 * registeredID…) are not listed because nothing in CertFleet matches on them.
 */
import { malformed } from './decode-error';
import { type Asn1Node, TagClass, contentOf, parseAsn1, sequenceOf } from './der';

/** Decodes the `extnValue` octets of a subjectAltName extension. */
export function decodeSubjectAltNames(extnValue: Buffer): string[] {
  const names = sequenceOf(parseAsn1(extnValue), 'subjectAltName');
  const out: string[] = [];
  for (const name of names) {
    const text = formatGeneralName(name);
    if (text !== undefined) out.push(text);
  }
  return out;
}

function formatGeneralName(node: Asn1Node): string | undefined {
  if (node.tagClass !== TagClass.context) throw malformed('subjectAltName: GeneralName must be context-tagged');
  switch (node.tagNumber) {
    case 1:
      return `email:${ia5(node)}`;
    case 2:
      return `DNS:${ia5(node)}`;
    case 6:
      return `URI:${ia5(node)}`;
    case 7:
      if (node.constructed) throw malformed('subjectAltName: constructed iPAddress');
      return `IP:${formatIpAddress(contentOf(node))}`;
    case 0:
    case 3:
    case 4:
    case 5:
    case 8:
      return undefined;
    default:
      throw malformed(`subjectAltName: unknown GeneralName [${node.tagNumber}]`);
  }
}

function ia5(node: Asn1Node): string {
  if (node.constructed) throw malformed('subjectAltName: constructed IA5String');
  return contentOf(node).toString('latin1');
}

/** IPv4 dotted quad or RFC 5952 IPv6. */
export function formatIpAddress(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  if (bytes.length !== 16) throw malformed(`subjectAltName: iPAddress of ${bytes.length} bytes`);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i));
  // Longest run (length >= 2) of zero groups, first one on ties, becomes "::".
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}
