/**
 * PEM (RFC 7468, plus RFC 1421 headers such as `Proc-Type`/`DEK-Info`) splitting and encoding.
 *
 * Text outside `-----BEGIN X-----`/`-----END X-----` pairs is ignored (OpenSSL writes "Bag Attributes" and
 * `-text` output there). Inside a block the base64 must be strict: only the base64 alphabet and whitespace,
 * correct padding, and canonical trailing bits. A block without its END line, a mismatched END label or
 * a BEGIN inside a block is malformed.
 */
import { malformed } from './decode-error';

/** One PEM block. */
export interface PemBlock {
  /** The label between `BEGIN ` and `-----`, e.g. `CERTIFICATE`, `ENCRYPTED PRIVATE KEY`. */
  readonly label: string;
  /** RFC 1421 headers (`Proc-Type`, `DEK-Info`…), keys as written. Empty for RFC 7468 blocks. */
  readonly headers: ReadonlyMap<string, string>;
  /** The decoded body. */
  readonly der: Buffer;
}

const BEGIN = /^-----BEGIN ([A-Z0-9][A-Z0-9 ._-]{0,62})-----$/;
const END = /^-----END ([A-Z0-9][A-Z0-9 ._-]{0,62})-----$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const HEADER = /^([A-Za-z0-9-]+):\s*(.*)$/;

/** PEM text of a file: Latin-1 (byte-preserving), without a UTF-8 byte order mark. */
export function pemTextOf(input: Buffer): string {
  const bom = input.length >= 3 && input[0] === 0xef && input[1] === 0xbb && input[2] === 0xbf;
  return (bom ? input.subarray(3) : input).toString('latin1');
}

/** True when the text contains at least one PEM BEGIN line (cheap sniffing, no decoding). */
export function containsPem(text: string): boolean {
  return /^-----BEGIN [A-Z0-9]/m.test(text);
}

/** The labels of all BEGIN lines, in order (no decoding, no validation). */
export function pemLabels(text: string): string[] {
  const labels: string[] = [];
  for (const match of text.matchAll(/^-----BEGIN ([A-Z0-9][A-Z0-9 ._-]{0,62})-----[ \t]*\r?$/gm)) {
    labels.push(match[1] as string);
  }
  return labels;
}

/**
 * Splits `text` into PEM blocks and decodes them.
 * @throws DecodeError `malformed` on an unterminated or mismatched block, bad headers or non-strict base64
 */
export function decodePem(text: string): PemBlock[] {
  const lines = text.split(/\r\n|\n|\r/);
  const blocks: PemBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const begin = BEGIN.exec((lines[i] as string).trimEnd());
    if (begin === null) {
      if ((lines[i] as string).includes('-----END ')) throw malformed(`PEM: END line without BEGIN (line ${i + 1})`);
      continue;
    }
    const label = begin[1] as string;
    const startLine = i;
    const body: string[] = [];
    for (i++; ; i++) {
      if (i >= lines.length) throw malformed(`PEM: "${label}" block starting on line ${startLine + 1} has no END line`);
      const line = (lines[i] as string).trim();
      const end = END.exec(line);
      if (end !== null) {
        if (end[1] !== label) throw malformed(`PEM: BEGIN ${label} closed by END ${end[1] as string}`);
        break;
      }
      if (line.startsWith('-----'))
        throw malformed(`PEM: unexpected boundary inside the "${label}" block (line ${i + 1})`);
      body.push(line);
    }
    blocks.push(decodeBody(label, body));
  }
  return blocks;
}

function decodeBody(label: string, body: string[]): PemBlock {
  const headers = new Map<string, string>();
  let first = 0;
  if (body.length > 0 && (body[0] as string).includes(':')) {
    // RFC 1421 encapsulated headers, terminated by an empty line; continuation lines start with whitespace
    // (already trimmed here, so a continuation is any line without "Name:").
    let last: string | undefined;
    for (; first < body.length && body[first] !== ''; first++) {
      const header = HEADER.exec(body[first] as string);
      if (header !== null) {
        last = header[1] as string;
        headers.set(last, header[2] as string);
      } else if (last !== undefined) {
        headers.set(last, `${headers.get(last) ?? ''}${body[first] as string}`);
      } else {
        throw malformed(`PEM: bad header line in the "${label}" block`);
      }
    }
    if (first >= body.length) throw malformed(`PEM: headers of the "${label}" block are not followed by an empty line`);
  }
  const base64 = body.slice(first).join('').replace(/[ \t]/g, '');
  if (base64.length === 0) throw malformed(`PEM: empty "${label}" block`);
  if (base64.length % 4 !== 0 || !BASE64.test(base64)) throw malformed(`PEM: invalid base64 in the "${label}" block`);
  const der = Buffer.from(base64, 'base64');
  if (der.toString('base64') !== base64) throw malformed(`PEM: non-canonical base64 in the "${label}" block`);
  return { label, headers, der };
}

/** Encodes DER as PEM with 64-character lines and a trailing newline. */
export function encodePem(label: string, der: Buffer): string {
  const base64 = der.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < base64.length; i += 64) lines.push(base64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
