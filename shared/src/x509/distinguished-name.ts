/**
 * X.501 Name → RFC 4514 string (`CN=leaf, O=Example, C=US`).
 *
 * RDNs are printed most-specific first (the reverse of the encoding, as RFC 4514 and `openssl -nameopt RFC2253`
 * do), separated by `, `; multi-valued RDNs are joined with `+`. Known attribute types use their short names;
 * others print as the dotted OID with a `#hex` DER value (RFC 4514 §2.4). Non-ASCII text is kept as UTF-8.
 */
import { DecodeError, malformed } from './decode-error';
import { type Asn1Node, TagClass, UniversalTag, contentOf, encodingOf, readOid, sequenceOf, setOf } from './der';

/** Short names for attribute types, as printed by OpenSSL and RFC 4514. */
const ATTRIBUTE_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'street',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.13': 'description',
  '2.5.4.15': 'businessCategory',
  '2.5.4.17': 'postalCode',
  '2.5.4.42': 'GN',
  '2.5.4.43': 'initials',
  '2.5.4.44': 'generationQualifier',
  '2.5.4.46': 'dnQualifier',
  '2.5.4.65': 'pseudonym',
  '2.5.4.97': 'organizationIdentifier',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'emailAddress',
  '1.3.6.1.4.1.311.60.2.1.1': 'jurisdictionL',
  '1.3.6.1.4.1.311.60.2.1.2': 'jurisdictionST',
  '1.3.6.1.4.1.311.60.2.1.3': 'jurisdictionC',
};

/** Formats a DER-encoded `Name` (a SEQUENCE of RDN SETs). */
export function formatName(node: Asn1Node, what: string): string {
  const rdns = sequenceOf(node, what).map((rdn) => {
    const atvs = setOf(rdn, what);
    if (atvs.length === 0) throw malformed(`${what}: empty RDN`);
    return atvs.map((atv) => formatAttribute(atv, what)).join('+');
  });
  return rdns.reverse().join(', ');
}

function formatAttribute(atv: Asn1Node, what: string): string {
  const parts = sequenceOf(atv, what);
  if (parts.length !== 2) throw malformed(`${what}: bad AttributeTypeAndValue`);
  const oid = readOid(parts[0], what);
  const value = parts[1] as Asn1Node;
  const name = ATTRIBUTE_NAMES[oid];
  const text = name === undefined ? undefined : decodeDirectoryString(value);
  if (name === undefined || text === undefined) return `${name ?? oid}=#${encodingOf(value).toString('hex')}`;
  return `${name}=${escapeValue(text)}`;
}

/** Decodes the string types allowed in names; `undefined` for anything else (printed as `#hex`). */
export function decodeDirectoryString(node: Asn1Node): string | undefined {
  if (node.tagClass !== TagClass.universal || node.constructed) return undefined;
  const bytes = contentOf(node);
  switch (node.tagNumber) {
    case UniversalTag.utf8String:
      return strictUtf8(bytes);
    case UniversalTag.printableString:
    case UniversalTag.ia5String:
    case UniversalTag.numericString:
    case UniversalTag.visibleString:
    case UniversalTag.teletexString: // T.61 in practice carries Latin-1
      return bytes.toString('latin1');
    case UniversalTag.bmpString:
      if (bytes.length % 2 !== 0) throw malformed('BMPString with an odd length');
      return Buffer.from(bytes).swap16().toString('utf16le');
    case UniversalTag.universalString: {
      if (bytes.length % 4 !== 0) throw malformed('UniversalString length not a multiple of 4');
      let out = '';
      for (let i = 0; i < bytes.length; i += 4) {
        const cp = bytes.readUInt32BE(i);
        if (cp > 0x10ffff) throw malformed('UniversalString code point out of range');
        out += String.fromCodePoint(cp);
      }
      return out;
    }
    default:
      return undefined;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function strictUtf8(bytes: Buffer): string {
  try {
    return utf8.decode(bytes);
  } catch (cause) {
    throw new DecodeError('malformed', 'invalid UTF-8 in a UTF8String', { cause });
  }
}

/** RFC 4514 §2.4 escaping, plus control characters as `\XX`. */
export function escapeValue(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] as string;
    const code = ch.charCodeAt(0);
    if (code < 0x20 || code === 0x7f) {
      out += `\\${code.toString(16).toUpperCase().padStart(2, '0')}`;
    } else if (
      ',+"\\<>;'.includes(ch) ||
      (i === 0 && (ch === '#' || ch === ' ')) ||
      (i === value.length - 1 && ch === ' ')
    ) {
      out += `\\${ch}`;
    } else {
      out += ch;
    }
  }
  return out;
}
