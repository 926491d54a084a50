/**
 * A small, bounded ASN.1 BER/DER reader.
 *
 * It exists because the parsers built on it (certificates, PKCS#7, PKCS#12, PKCS#8) must reject hostile input
 * quickly and predictably: every length is checked against the enclosing element, nesting is limited to
 * {@link MAX_ASN1_DEPTH}, and every failure is a {@link DecodeError} (`malformed`). BER indefinite lengths and
 * constructed OCTET STRINGs are accepted because real PKCS#7/PKCS#12 files (Windows, Java) use them.
 */
import { malformed } from './decode-error';

/** The ASN.1 tag classes. */
export const TagClass = { universal: 0, application: 1, context: 2, private: 3 } as const;

/** Universal tag numbers used by CertFleet. */
export const UniversalTag = {
  boolean: 1,
  integer: 2,
  bitString: 3,
  octetString: 4,
  null: 5,
  objectIdentifier: 6,
  utf8String: 12,
  sequence: 16,
  set: 17,
  numericString: 18,
  printableString: 19,
  teletexString: 20,
  ia5String: 22,
  utcTime: 23,
  generalizedTime: 24,
  visibleString: 26,
  universalString: 28,
  bmpString: 30,
} as const;

/** Elements nested deeper than this are rejected (real certificates and PKCS#12 files stay below 15). */
export const MAX_ASN1_DEPTH = 40;

/** One decoded element. Offsets index into `buf`; nothing is copied. */
export interface Asn1Node {
  readonly buf: Buffer;
  readonly tagClass: number;
  readonly constructed: boolean;
  readonly tagNumber: number;
  /** Offset of the identifier octet. */
  readonly start: number;
  readonly contentStart: number;
  /** End of the content (exclusive); for indefinite lengths, the offset of the end-of-contents octets. */
  readonly contentEnd: number;
  /** End of the whole element (exclusive). */
  readonly end: number;
  readonly depth: number;
}

/**
 * Reads the element starting at `offset`, which must end at or before `limit`.
 * @throws DecodeError `malformed` on truncation, oversize lengths, bad tags or excessive nesting.
 */
export function readNode(buf: Buffer, offset: number, limit: number = buf.length, depth = 0): Asn1Node {
  if (depth > MAX_ASN1_DEPTH) throw malformed(`ASN.1 nesting deeper than ${MAX_ASN1_DEPTH}`);
  let pos = offset;
  if (pos >= limit) throw malformed(`ASN.1 element expected at offset ${offset}, found end of data`);
  const first = buf[pos++] as number;
  const tagClass = first >> 6;
  const constructed = (first & 0x20) !== 0;
  let tagNumber = first & 0x1f;
  if (tagNumber === 0x1f) {
    tagNumber = 0;
    for (let i = 0; ; i++) {
      if (pos >= limit) throw malformed(`truncated ASN.1 tag at offset ${offset}`);
      if (i >= 3) throw malformed(`ASN.1 tag number too large at offset ${offset}`);
      const b = buf[pos++] as number;
      if (i === 0 && b === 0x80) throw malformed(`non-minimal ASN.1 tag at offset ${offset}`);
      tagNumber = tagNumber * 128 + (b & 0x7f);
      if ((b & 0x80) === 0) break;
    }
  }
  if (pos >= limit) throw malformed(`truncated ASN.1 length at offset ${offset}`);
  const lengthByte = buf[pos++] as number;
  if (lengthByte === 0x80) {
    if (!constructed) throw malformed(`indefinite length on a primitive ASN.1 element at offset ${offset}`);
    return readIndefinite(buf, offset, pos, limit, depth, tagClass, tagNumber);
  }
  let length = lengthByte;
  if (lengthByte > 0x80) {
    const count = lengthByte & 0x7f;
    if (count > 4) throw malformed(`ASN.1 length field too long at offset ${offset}`);
    if (pos + count > limit) throw malformed(`truncated ASN.1 length at offset ${offset}`);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (buf[pos++] as number);
  }
  if (length > limit - pos) {
    throw malformed(`ASN.1 length ${length} at offset ${offset} exceeds the ${limit - pos} bytes available`);
  }
  return {
    buf,
    tagClass,
    constructed,
    tagNumber,
    start: offset,
    contentStart: pos,
    contentEnd: pos + length,
    end: pos + length,
    depth,
  };
}

/**
 * Ends of indefinite-length elements already measured, per buffer. Finding the end of an indefinite element means
 * walking its whole subtree; without this, descending through nested indefinite elements would re-walk the same
 * bytes once per level.
 */
const indefiniteEnds = new WeakMap<Buffer, Map<number, number>>();

function readIndefinite(
  buf: Buffer,
  offset: number,
  contentStart: number,
  limit: number,
  depth: number,
  tagClass: number,
  tagNumber: number
): Asn1Node {
  let known = indefiniteEnds.get(buf);
  if (known === undefined) {
    known = new Map();
    indefiniteEnds.set(buf, known);
  }
  let pos = known.get(offset) ?? -1;
  if (pos < 0 || pos + 2 > limit) {
    for (pos = contentStart; ;) {
      if (pos + 2 > limit) throw malformed(`missing end-of-contents for the ASN.1 element at offset ${offset}`);
      if (buf[pos] === 0 && buf[pos + 1] === 0) break;
      pos = readNode(buf, pos, limit, depth + 1).end;
    }
    known.set(offset, pos);
  }
  return {
    buf,
    tagClass,
    constructed: true,
    tagNumber,
    start: offset,
    contentStart,
    contentEnd: pos,
    end: pos + 2,
    depth,
  };
}

/**
 * Decodes `buf` as exactly one element.
 * @param allowTrailing accept bytes after the element (they are ignored)
 */
export function parseAsn1(buf: Buffer, allowTrailing = false): Asn1Node {
  const node = readNode(buf, 0, buf.length, 0);
  if (!allowTrailing && node.end !== buf.length) {
    throw malformed(`${buf.length - node.end} unexpected bytes after the ASN.1 element`);
  }
  return node;
}

/** The elements inside a constructed element; they must fill its content exactly. */
export function childrenOf(node: Asn1Node): Asn1Node[] {
  if (!node.constructed) throw malformed(`ASN.1 element at offset ${node.start} is not constructed`);
  const out: Asn1Node[] = [];
  let pos = node.contentStart;
  while (pos < node.contentEnd) {
    const child = readNode(node.buf, pos, node.contentEnd, node.depth + 1);
    out.push(child);
    pos = child.end;
  }
  return out;
}

/** The content octets of an element (no copy). */
export function contentOf(node: Asn1Node): Buffer {
  return node.buf.subarray(node.contentStart, node.contentEnd);
}

/** The complete encoding of an element, identifier and length included (no copy). */
export function encodingOf(node: Asn1Node): Buffer {
  return node.buf.subarray(node.start, node.end);
}

/** True when the element has the given class and number. */
export function hasTag(node: Asn1Node, tagClass: number, tagNumber: number): boolean {
  return node.tagClass === tagClass && node.tagNumber === tagNumber;
}

/** True for a universal-class element with the given number. */
export function isUniversal(node: Asn1Node | undefined, tagNumber: number): node is Asn1Node {
  return node !== undefined && node.tagClass === TagClass.universal && node.tagNumber === tagNumber;
}

/** True for a context-specific `[n]` element. */
export function isContext(node: Asn1Node | undefined, tagNumber: number): node is Asn1Node {
  return node !== undefined && node.tagClass === TagClass.context && node.tagNumber === tagNumber;
}

/**
 * Asserts a universal element of the given number and constructed-ness, naming `what` in the error.
 * @returns the node, for chaining
 */
export function expectUniversal(node: Asn1Node | undefined, tagNumber: number, what: string): Asn1Node {
  if (!isUniversal(node, tagNumber)) throw malformed(`${what}: unexpected ASN.1 element`);
  if ((tagNumber === UniversalTag.sequence || tagNumber === UniversalTag.set) && !node.constructed) {
    throw malformed(`${what}: primitive SEQUENCE/SET`);
  }
  return node;
}

/** The children of a SEQUENCE, asserting its tag first. */
export function sequenceOf(node: Asn1Node | undefined, what: string): Asn1Node[] {
  return childrenOf(expectUniversal(node, UniversalTag.sequence, what));
}

/** The children of a SET, asserting its tag first. */
export function setOf(node: Asn1Node | undefined, what: string): Asn1Node[] {
  return childrenOf(expectUniversal(node, UniversalTag.set, what));
}

/** The single element inside an EXPLICIT `[n]` wrapper. */
export function explicitContent(node: Asn1Node | undefined, tagNumber: number, what: string): Asn1Node {
  if (!isContext(node, tagNumber) || !node.constructed) throw malformed(`${what}: expected [${tagNumber}]`);
  const inner = childrenOf(node);
  if (inner.length !== 1) throw malformed(`${what}: [${tagNumber}] must hold exactly one element`);
  return inner[0] as Asn1Node;
}

/**
 * Dotted forms of OIDs already decoded, keyed by their content octets. Certificates repeat a few dozen OIDs
 * (attribute types, extensions, algorithms) and a monitoring sweep decodes thousands of them; the arcs are read with
 * BigInt arithmetic, so a hit saves most of the work. Only well-formed OIDs are cached; bounded by emptying.
 */
const oidCache = new Map<string, string>();
const OID_CACHE_LIMIT = 2048;

/** Decodes an OBJECT IDENTIFIER to dotted form. */
export function readOid(node: Asn1Node | undefined, what: string): string {
  const n = expectUniversal(node, UniversalTag.objectIdentifier, what);
  if (n.constructed) throw malformed(`${what}: constructed OBJECT IDENTIFIER`);
  const bytes = contentOf(n);
  if (bytes.length === 0 || bytes.length > 64) throw malformed(`${what}: bad OBJECT IDENTIFIER length`);
  const key = bytes.toString('latin1');
  const known = oidCache.get(key);
  if (known !== undefined) return known;
  const dotted = decodeOid(bytes, what);
  if (oidCache.size >= OID_CACHE_LIMIT) oidCache.clear();
  oidCache.set(key, dotted);
  return dotted;
}

function decodeOid(bytes: Buffer, what: string): string {
  const arcs: bigint[] = [];
  let value = 0n;
  let fresh = true;
  for (const b of bytes) {
    if (fresh && b === 0x80) throw malformed(`${what}: non-minimal OBJECT IDENTIFIER arc`);
    value = (value << 7n) | BigInt(b & 0x7f);
    fresh = (b & 0x80) === 0;
    if (fresh) {
      arcs.push(value);
      value = 0n;
    }
  }
  if (!fresh) throw malformed(`${what}: truncated OBJECT IDENTIFIER`);
  const firstArc = arcs[0] as bigint;
  const head = firstArc < 80n ? [firstArc / 40n, firstArc % 40n] : [2n, firstArc - 80n];
  return [...head, ...arcs.slice(1)].join('.');
}

/** Decodes an INTEGER of any size. */
export function readInteger(node: Asn1Node | undefined, what: string): bigint {
  const n = expectUniversal(node, UniversalTag.integer, what);
  if (n.constructed) throw malformed(`${what}: constructed INTEGER`);
  const bytes = contentOf(n);
  if (bytes.length === 0) throw malformed(`${what}: empty INTEGER`);
  if (bytes.length > 1024) throw malformed(`${what}: INTEGER too long`);
  let value = BigInt(`0x${bytes.toString('hex')}`);
  if (((bytes[0] as number) & 0x80) !== 0) value -= 1n << BigInt(bytes.length * 8);
  return value;
}

/** Decodes an INTEGER that must lie in `[min, max]` and returns it as a number. */
export function readSmallInteger(
  node: Asn1Node | undefined,
  what: string,
  min = 0,
  max = Number.MAX_SAFE_INTEGER
): number {
  const value = readInteger(node, what);
  if (value < BigInt(min) || value > BigInt(max)) throw malformed(`${what}: INTEGER out of range`);
  return Number(value);
}

/** Decodes a BOOLEAN. */
export function readBoolean(node: Asn1Node | undefined, what: string): boolean {
  const n = expectUniversal(node, UniversalTag.boolean, what);
  const bytes = contentOf(n);
  if (n.constructed || bytes.length !== 1) throw malformed(`${what}: bad BOOLEAN`);
  return bytes[0] !== 0;
}

/**
 * The octets of an OCTET STRING, or of an IMPLICIT-tagged one (any tag): primitive content as is, constructed
 * (BER) content as the concatenation of its segments.
 */
export function octetsOf(node: Asn1Node, what: string): Buffer {
  if (!node.constructed) return contentOf(node);
  const parts: Buffer[] = [];
  for (const child of childrenOf(node)) {
    if (!isUniversal(child, UniversalTag.octetString)) throw malformed(`${what}: bad constructed OCTET STRING segment`);
    parts.push(octetsOf(child, what));
  }
  return Buffer.concat(parts);
}

/** Decodes an OCTET STRING (primitive or constructed). */
export function readOctetString(node: Asn1Node | undefined, what: string): Buffer {
  return octetsOf(expectUniversal(node, UniversalTag.octetString, what), what);
}

/** Decodes a primitive BIT STRING with no unused bits (keys, signatures). */
export function readBitStringBytes(node: Asn1Node | undefined, what: string): Buffer {
  const n = expectUniversal(node, UniversalTag.bitString, what);
  const bytes = contentOf(n);
  if (n.constructed || bytes.length === 0 || bytes[0] !== 0) throw malformed(`${what}: bad BIT STRING`);
  return bytes.subarray(1);
}

/** An AlgorithmIdentifier: its OID and optional parameters element. */
export interface AlgorithmIdentifier {
  readonly oid: string;
  readonly parameters: Asn1Node | undefined;
}

/** Decodes `AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL }`. */
export function readAlgorithmIdentifier(node: Asn1Node | undefined, what: string): AlgorithmIdentifier {
  const parts = sequenceOf(node, what);
  if (parts.length < 1 || parts.length > 2) throw malformed(`${what}: bad AlgorithmIdentifier`);
  return { oid: readOid(parts[0], what), parameters: parts[1] };
}
