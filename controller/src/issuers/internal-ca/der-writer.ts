/**
 * internal-ca: a minimal DER writer for the structures the private CA emits itself (PKCS#10 requests, CRLs,
 * PKCS#12 files, certificate extensions). Every function returns the complete encoding (identifier, length,
 * content) as a Buffer, so structures are composed by nesting calls:
 *
 * ```ts
 * der.sequence(der.oid('2.5.29.20'), der.octetString(der.integer(7n)))
 * ```
 *
 * Only definite lengths are written (DER). `SET OF` contents are sorted by their encodings (X.690 §11.6).
 */

/** Tag octets of the universal types used here. */
const Tag = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  enumerated: 0x0a,
  utf8String: 0x0c,
  printableString: 0x13,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  bmpString: 0x1e,
  sequence: 0x30,
  set: 0x31,
} as const;

function lengthOctets(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One element: identifier octet `tag`, DER length, then `content`. */
export function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), lengthOctets(content.length), content]);
}

const oidCache = new Map<string, Buffer>();

function encodeOid(dotted: string): Buffer {
  const cached = oidCache.get(dotted);
  if (cached) return cached;
  const arcs = dotted.split('.').map((a) => {
    if (!/^\d+$/.test(a)) throw new TypeError(`der: bad OID ${dotted}`);
    return BigInt(a);
  });
  if (arcs.length < 2) throw new TypeError(`der: bad OID ${dotted}`);
  const [first, second, ...rest] = arcs as [bigint, bigint, ...bigint[]];
  const out: number[] = [];
  for (const arc of [first * 40n + second, ...rest]) {
    const groups: number[] = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) groups.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...groups);
  }
  const encoded = tlv(Tag.oid, Buffer.from(out));
  oidCache.set(dotted, encoded);
  return encoded;
}

/** Minimal two's-complement content octets of a non-negative integer given as its big-endian magnitude. */
function unsignedIntegerContent(magnitude: Buffer): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  if (trimmed.length === 0) return Buffer.from([0]);
  return (trimmed[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : Buffer.from(trimmed);
}

function bigintMagnitude(value: bigint): Buffer {
  if (value < 0n) throw new RangeError('der: negative integers are not supported');
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return Buffer.from(hex, 'hex');
}

function pad2(n: number): string {
  return n.toString().padStart(2, '0');
}

function assertWholeSeconds(date: Date): void {
  if (Number.isNaN(date.getTime())) throw new RangeError('der: invalid date');
}

/** Sorts SET OF components by their encodings, as DER requires. */
function sortedEncodings(items: readonly Buffer[]): Buffer[] {
  return [...items].sort(Buffer.compare);
}

export const der = {
  sequence: (...items: Buffer[]): Buffer => tlv(Tag.sequence, Buffer.concat(items)),
  /** A SET OF: components sorted by encoding. */
  setOf: (...items: Buffer[]): Buffer => tlv(Tag.set, Buffer.concat(sortedEncodings(items))),
  boolean: (value: boolean): Buffer => tlv(Tag.boolean, Buffer.from([value ? 0xff : 0x00])),
  /** A non-negative INTEGER from a number, bigint or big-endian magnitude bytes. */
  integer: (value: number | bigint | Buffer): Buffer => {
    if (Buffer.isBuffer(value)) return tlv(Tag.integer, unsignedIntegerContent(value));
    const big = typeof value === 'bigint' ? value : BigInt(value);
    return tlv(Tag.integer, unsignedIntegerContent(bigintMagnitude(big)));
  },
  /** A positive INTEGER from hex digits (certificate serial numbers). */
  integerFromHex: (hex: string): Buffer => {
    if (!/^[0-9a-fA-F]+$/.test(hex)) throw new TypeError(`der: bad hex integer ${hex}`);
    return tlv(Tag.integer, unsignedIntegerContent(Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex')));
  },
  enumerated: (value: number): Buffer => tlv(Tag.enumerated, unsignedIntegerContent(bigintMagnitude(BigInt(value)))),
  oid: encodeOid,
  null: (): Buffer => Buffer.from([Tag.null, 0x00]),
  octetString: (bytes: Buffer): Buffer => tlv(Tag.octetString, bytes),
  /** A BIT STRING with no unused bits (keys, signatures, DER-encoded content). */
  bitString: (bytes: Buffer): Buffer => tlv(Tag.bitString, Buffer.concat([Buffer.from([0]), bytes])),
  /**
   * A named-bit BIT STRING (keyUsage) from bit numbers (bit 0 is the most significant bit of the first octet),
   * with trailing zero bits removed as DER requires.
   */
  namedBits: (bits: readonly number[]): Buffer => {
    if (bits.length === 0) return tlv(Tag.bitString, Buffer.from([0]));
    const highest = Math.max(...bits);
    const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
    for (const bit of bits) bytes[bit >> 3] = (bytes[bit >> 3] as number) | (0x80 >> (bit & 7));
    const unused = 7 - (highest & 7);
    return tlv(Tag.bitString, Buffer.concat([Buffer.from([unused]), bytes]));
  },
  utf8String: (text: string): Buffer => tlv(Tag.utf8String, Buffer.from(text, 'utf8')),
  printableString: (text: string): Buffer => {
    if (!/^[A-Za-z0-9 '()+,\-./:=?]*$/.test(text)) throw new TypeError('der: not a PrintableString');
    return tlv(Tag.printableString, Buffer.from(text, 'latin1'));
  },
  ia5String: (text: string): Buffer => {
    // eslint-disable-next-line no-control-regex
    if (!/^[\x00-\x7f]*$/.test(text)) throw new TypeError('der: not an IA5String');
    return tlv(Tag.ia5String, Buffer.from(text, 'latin1'));
  },
  /** BMPString: UTF-16BE (PKCS#12 friendlyName). */
  bmpString: (text: string): Buffer => tlv(Tag.bmpString, Buffer.from(text, 'utf16le').swap16()),
  utcTime: (date: Date): Buffer => {
    assertWholeSeconds(date);
    const y = date.getUTCFullYear();
    if (y < 1950 || y > 2049) throw new RangeError('der: UTCTime covers 1950..2049 only');
    const text = `${pad2(y % 100)}${pad2(date.getUTCMonth() + 1)}${pad2(date.getUTCDate())}${pad2(date.getUTCHours())}${pad2(date.getUTCMinutes())}${pad2(date.getUTCSeconds())}Z`;
    return tlv(Tag.utcTime, Buffer.from(text, 'latin1'));
  },
  generalizedTime: (date: Date): Buffer => {
    assertWholeSeconds(date);
    const text = `${date.getUTCFullYear().toString().padStart(4, '0')}${pad2(date.getUTCMonth() + 1)}${pad2(date.getUTCDate())}${pad2(date.getUTCHours())}${pad2(date.getUTCMinutes())}${pad2(date.getUTCSeconds())}Z`;
    return tlv(Tag.generalizedTime, Buffer.from(text, 'latin1'));
  },
  /** RFC 5280 Time: UTCTime through 2049, GeneralizedTime from 2050 (sub-second precision is dropped). */
  time: (date: Date): Buffer => {
    const whole = new Date(Math.floor(date.getTime() / 1000) * 1000);
    return whole.getUTCFullYear() < 2050 ? der.utcTime(whole) : der.generalizedTime(whole);
  },
  /** `[n]` EXPLICIT: a constructed context-specific element wrapping one complete encoding. */
  explicit: (tagNumber: number, inner: Buffer): Buffer => tlv(0xa0 | tagNumber, inner),
  /** `[n]` IMPLICIT over primitive content (e.g. `[0] IMPLICIT OCTET STRING`). */
  implicitPrimitive: (tagNumber: number, content: Buffer): Buffer => tlv(0x80 | tagNumber, content),
  /** `[n]` IMPLICIT over constructed content (e.g. `[0] IMPLICIT SET OF Attribute`), contents already encoded. */
  implicitConstructed: (tagNumber: number, ...contents: Buffer[]): Buffer =>
    tlv(0xa0 | tagNumber, Buffer.concat(contents)),
  /** Concatenated encodings (no wrapper), for building element lists conditionally. */
  raw: (...items: Buffer[]): Buffer => Buffer.concat(items),
};

/** `Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }`. */
export function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return critical
    ? der.sequence(der.oid(oid), der.boolean(true), der.octetString(value))
    : der.sequence(der.oid(oid), der.octetString(value));
}

/** `AlgorithmIdentifier` with NULL parameters (RSA signatures, digests) or none (ECDSA). */
export function algorithmIdentifier(oid: string, parameters: Buffer | 'null' | 'absent'): Buffer {
  if (parameters === 'absent') return der.sequence(der.oid(oid));
  return der.sequence(der.oid(oid), parameters === 'null' ? der.null() : parameters);
}
