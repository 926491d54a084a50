/**
 * Content sniffing: JKS magic, then DER shape (PKCS#12 `PFX`, PKCS#7 `ContentInfo`, certificate or key), then PEM
 * armour (PEM holding only PKCS#7 blocks counts as `pkcs7`). The file name is only a hint, used when the content
 * is unrecognisable, to report "this .p12 is corrupt" instead of "unknown format".
 */
import { pemLabels, pemTextOf } from '../x509/pem';
import { type ImportOrigin, importError } from './import-error';
import type { MaterialFormat } from './parse-material';
import { PKCS7_PEM_LABELS } from './pkcs7';

const JKS_MAGIC = 0xfeedfeed;
const JCEKS_MAGIC = 0xcececece;
const PKCS7_SIGNED_DATA_OID = Buffer.from('06092a864886f70d010702', 'hex');
const PKCS7_OID_PREFIX = Buffer.from('06092a864886f70d0107', 'hex');

const EXTENSION_HINTS: Readonly<Record<string, MaterialFormat>> = {
  p12: 'pkcs12',
  pfx: 'pkcs12',
  p7b: 'pkcs7',
  p7c: 'pkcs7',
  jks: 'jks',
  keystore: 'jks',
  cer: 'der',
  der: 'der',
  pem: 'pem',
  crt: 'pem',
  key: 'pem',
};

/** The result of sniffing: the format, and whether it came from the content (true) or only the file name. */
export interface DetectedFormat {
  readonly format: MaterialFormat;
  readonly fromContent: boolean;
}

/**
 * Detects the container format of `input`.
 * @param origin prefix for errors (`null` for the main input)
 * @throws CF_IMPORT_UNKNOWN_FORMAT when neither the content nor the file name identifies a format
 */
export function detectFormat(input: Buffer, fileName?: string, origin: ImportOrigin | null = null): DetectedFormat {
  if (input.length >= 4) {
    const magic = input.readUInt32BE(0);
    if (magic === JKS_MAGIC) return { format: 'jks', fromContent: true };
    if (magic === JCEKS_MAGIC) {
      throw importError(
        'CF_IMPORT_UNKNOWN_FORMAT',
        origin,
        'JCEKS keystores are not supported; convert to PKCS#12 with keytool -importkeystore'
      );
    }
  }
  if (input[0] === 0x30) return { format: classifyDer(input), fromContent: true };
  const text = pemTextOf(input);
  const labels = pemLabels(text);
  if (labels.length > 0) {
    return { format: labels.every((label) => PKCS7_PEM_LABELS.has(label)) ? 'pkcs7' : 'pem', fromContent: true };
  }
  const hint = formatFromFileName(fileName);
  if (hint !== undefined) return { format: hint, fromContent: false };
  throw importError(
    'CF_IMPORT_UNKNOWN_FORMAT',
    origin,
    'unrecognised input: expected PEM, DER, PKCS#7, PKCS#12 or JKS',
    { details: { size: input.length } }
  );
}

/** The format a file extension suggests, if any. */
export function formatFromFileName(fileName: string | undefined): MaterialFormat | undefined {
  const match = fileName === undefined ? null : /\.([A-Za-z0-9]+)$/.exec(fileName);
  return match === null ? undefined : EXTENSION_HINTS[(match[1] as string).toLowerCase()];
}

/**
 * Tells PKCS#12 from PKCS#7 from a bare certificate/key by the first elements of the outer SEQUENCE. It only peeks
 * at headers, so truncated files are still classified (and then reported corrupt by their own parser).
 */
function classifyDer(input: Buffer): MaterialFormat {
  const outer = headerEnd(input, 0);
  if (outer === undefined) return 'der';
  const first = input[outer];
  if (first === 0x06) {
    if (input.subarray(outer, outer + PKCS7_SIGNED_DATA_OID.length).equals(PKCS7_SIGNED_DATA_OID)) return 'pkcs7';
    if (input.subarray(outer, outer + PKCS7_OID_PREFIX.length).equals(PKCS7_OID_PREFIX)) return 'pkcs7';
    return 'der';
  }
  // PFX ::= SEQUENCE { version INTEGER (3), authSafe ContentInfo, ... }
  if (first === 0x02 && input[outer + 1] === 0x01 && input[outer + 2] === 0x03 && input[outer + 3] === 0x30)
    return 'pkcs12';
  return 'der';
}

/** Offset just after the identifier and length octets at `offset`, without checking the length against the data. */
function headerEnd(input: Buffer, offset: number): number | undefined {
  const lengthByte = input[offset + 1];
  if (lengthByte === undefined) return undefined;
  if (lengthByte < 0x80) return offset + 2;
  if (lengthByte === 0x80) return offset + 2;
  const count = lengthByte & 0x7f;
  return count > 4 ? undefined : offset + 2 + count;
}
