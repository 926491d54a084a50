/**
 * internal-ca: a small, bounded, strict DER reader for the inputs the private CA must take apart itself
 * (PKCS#10 requests from anyone, and certificates whose raw subject bytes a CRL must repeat).
 *
 * Only definite lengths (DER) are accepted; every length is checked against its enclosing element and nesting is
 * limited, so hostile input fails fast with a {@link DerError}. Nothing is copied: nodes index into the buffer.
 */

/** A structural problem in DER input. Callers turn it into their own typed CertFleetError. */
export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DerError';
  }
}

const MAX_DEPTH = 32;

export interface DerNode {
  readonly buf: Buffer;
  /** The identifier octet (tag numbers above 30 are refused; X.509/PKCS#10 never use them). */
  readonly tag: number;
  readonly constructed: boolean;
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
  readonly depth: number;
}

/** Reads the element at `offset`, which must end at or before `limit`. */
export function readElement(buf: Buffer, offset: number, limit: number = buf.length, depth = 0): DerNode {
  if (depth > MAX_DEPTH) throw new DerError(`nesting deeper than ${MAX_DEPTH}`);
  let pos = offset;
  if (pos + 2 > limit) throw new DerError(`truncated element at offset ${offset}`);
  const tag = buf[pos++] as number;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`high tag number at offset ${offset}`);
  const first = buf[pos++] as number;
  let length = first;
  if (first === 0x80) throw new DerError(`indefinite length at offset ${offset} (not DER)`);
  if (first > 0x80) {
    const count = first & 0x7f;
    if (count > 4) throw new DerError(`length field too long at offset ${offset}`);
    if (pos + count > limit) throw new DerError(`truncated length at offset ${offset}`);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (buf[pos++] as number);
    if (length < 0x80 || (count > 1 && buf[pos - count] === 0)) {
      throw new DerError(`non-minimal length at offset ${offset}`);
    }
  }
  if (length > limit - pos) throw new DerError(`length ${length} at offset ${offset} exceeds the data`);
  return { buf, tag, constructed: (tag & 0x20) !== 0, start: offset, contentStart: pos, end: pos + length, depth };
}

/** Decodes `buf` as exactly one element (no trailing bytes). */
export function readDer(buf: Buffer): DerNode {
  const node = readElement(buf, 0);
  if (node.end !== buf.length) throw new DerError(`${buf.length - node.end} bytes after the outer element`);
  return node;
}

/** The elements inside a constructed element; they must fill it exactly. */
export function childrenOf(node: DerNode): DerNode[] {
  if (!node.constructed) throw new DerError(`element at offset ${node.start} is not constructed`);
  const out: DerNode[] = [];
  for (let pos = node.contentStart; pos < node.end;) {
    const child = readElement(node.buf, pos, node.end, node.depth + 1);
    out.push(child);
    pos = child.end;
  }
  return out;
}

export function contentOf(node: DerNode): Buffer {
  return node.buf.subarray(node.contentStart, node.end);
}

/** The complete encoding of the element (identifier and length included). */
export function encodingOf(node: DerNode): Buffer {
  return node.buf.subarray(node.start, node.end);
}

/** Asserts the identifier octet. */
export function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (node === undefined) throw new DerError(`${what}: missing`);
  if (node.tag !== tag)
    throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, got 0x${node.tag.toString(16)}`);
  return node;
}

/** The children of a SEQUENCE. */
export function sequence(node: DerNode | undefined, what: string): DerNode[] {
  return childrenOf(expectTag(node, 0x30, what));
}

/** Dotted form of an OBJECT IDENTIFIER. */
export function readOid(node: DerNode | undefined, what: string): string {
  const bytes = contentOf(expectTag(node, 0x06, what));
  if (bytes.length === 0 || bytes.length > 64) throw new DerError(`${what}: bad OBJECT IDENTIFIER`);
  const arcs: bigint[] = [];
  let value = 0n;
  let fresh = true;
  for (const b of bytes) {
    if (fresh && b === 0x80) throw new DerError(`${what}: non-minimal OBJECT IDENTIFIER arc`);
    value = (value << 7n) | BigInt(b & 0x7f);
    fresh = (b & 0x80) === 0;
    if (fresh) {
      arcs.push(value);
      value = 0n;
    }
  }
  if (!fresh) throw new DerError(`${what}: truncated OBJECT IDENTIFIER`);
  const head = arcs[0] as bigint;
  const firstTwo = head < 80n ? [head / 40n, head % 40n] : [2n, head - 80n];
  return [...firstTwo, ...arcs.slice(1)].join('.');
}

/** A small non-negative INTEGER. */
export function readSmallInt(node: DerNode | undefined, what: string): number {
  const bytes = contentOf(expectTag(node, 0x02, what));
  if (bytes.length === 0 || bytes.length > 4 || ((bytes[0] as number) & 0x80) !== 0) {
    throw new DerError(`${what}: INTEGER out of range`);
  }
  return bytes.readUIntBE(0, bytes.length);
}

/** The octets of a BIT STRING with no unused bits. */
export function readBitString(node: DerNode | undefined, what: string): Buffer {
  const bytes = contentOf(expectTag(node, 0x03, what));
  if (bytes.length === 0 || bytes[0] !== 0) throw new DerError(`${what}: bad BIT STRING`);
  return bytes.subarray(1);
}

/** Raw parts of an X.509 certificate a CRL issuer needs: the subject Name and the subjectPublicKeyInfo. */
export interface CertificateParts {
  /** Complete DER encoding of the subject Name, byte for byte as in the certificate. */
  subject: Buffer;
  issuer: Buffer;
  /** Complete DER of the SubjectPublicKeyInfo. */
  spki: Buffer;
  /** The subjectPublicKey BIT STRING content (without the unused-bits octet). */
  subjectPublicKey: Buffer;
}

/** Splits a DER certificate into the raw parts a CRL or key identifier needs. */
export function certificateParts(certDer: Buffer): CertificateParts {
  const [tbs] = sequence(readDer(certDer), 'Certificate');
  const fields = sequence(tbs, 'TBSCertificate');
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0; // [0] EXPLICIT version
  const issuer = expectTag(fields[offset + 2], 0x30, 'TBSCertificate.issuer');
  const subject = expectTag(fields[offset + 4], 0x30, 'TBSCertificate.subject');
  const spki = fields[offset + 5];
  const spkiParts = sequence(spki, 'SubjectPublicKeyInfo');
  return {
    subject: encodingOf(subject),
    issuer: encodingOf(issuer),
    spki: encodingOf(spki as DerNode),
    subjectPublicKey: readBitString(spkiParts[1], 'SubjectPublicKeyInfo.subjectPublicKey'),
  };
}
