/**
 * Locates the fields of a certificate's TBSCertificate (RFC 5280 §4.1) in its DER without decoding their values:
 * the checks read names, times, extensions, the key and the signature from here, and ask OpenSSL only for what the
 * DER code leaves undecided (certificate-signature.ts, issued-check.ts).
 */
import { malformed } from './decode-error';
import {
  type Asn1Node,
  UniversalTag,
  explicitContent,
  isContext,
  isUniversal,
  parseAsn1,
  readBoolean,
  readOctetString,
  readOid,
  sequenceOf,
} from './der';
import { servedSha256 } from './decoded-x509';
import { formatName } from './distinguished-name';

/** The TBSCertificate fields as DER nodes. */
export interface TbsFields {
  /** The TBSCertificate itself (`encodingOf` gives the exact bytes its signature covers). */
  tbsCertificate: Asn1Node;
  serialNumber: Asn1Node;
  /** The TBSCertificate's own `signature` AlgorithmIdentifier (which must repeat the outer one). */
  signature: Asn1Node | undefined;
  issuer: Asn1Node;
  validity: Asn1Node;
  subject: Asn1Node;
  subjectPublicKeyInfo: Asn1Node | undefined;
  /** Each `Extension` SEQUENCE, in certificate order (empty when there are none). */
  extensions: Asn1Node[];
  /** The outer `signatureAlgorithm` (after the TBSCertificate). */
  signatureAlgorithm: Asn1Node | undefined;
  /** The `signatureValue` BIT STRING; undefined when absent or followed by more elements. */
  signatureValue: Asn1Node | undefined;
}

/** @throws DecodeError when the bytes are not a certificate's structure */
export function tbsFields(der: Buffer): TbsFields {
  const top = sequenceOf(parseAsn1(der), 'certificate');
  const tbsCertificate = top[0];
  const tbs = sequenceOf(tbsCertificate, 'tbsCertificate');
  let i = isContext(tbs[0], 0) ? 1 : 0;
  const serialNumber = tbs[i++];
  const signature = tbs[i++];
  const issuer = tbs[i++];
  const validity = tbs[i++];
  const subject = tbs[i++];
  if (!serialNumber || !issuer || !validity || !subject) throw malformed('tbsCertificate: missing fields');
  const subjectPublicKeyInfo = tbs[i++];
  let extensions: Asn1Node[] = [];
  for (; i < tbs.length; i++) {
    const node = tbs[i] as Asn1Node;
    if (isContext(node, 3)) extensions = sequenceOf(explicitContent(node, 3, 'extensions'), 'extensions');
  }
  return {
    tbsCertificate: tbsCertificate as Asn1Node,
    serialNumber,
    signature,
    issuer,
    validity,
    subject,
    subjectPublicKeyInfo,
    extensions,
    signatureAlgorithm: top[1],
    signatureValue: top.length === 3 ? top[2] : undefined,
  };
}

/** The subject of a DER certificate as RFC 4514 text (the form `CertificateFacts.subject` uses). */
export function subjectName(der: Buffer): string {
  return formatName(tbsFields(der).subject, 'subject');
}

/** An `Extension`'s OID and value octets (the criticality is checked, not returned). */
export function readExtension(ext: Asn1Node): CertificateExtension {
  const parts = sequenceOf(ext, 'extension');
  if (parts.length < 2 || parts.length > 3) throw malformed('extension: bad structure');
  const oid = readOid(parts[0], 'extension.extnID');
  if (parts.length === 3) readBoolean(parts[1], 'extension.critical');
  return { oid, value: readOctetString(parts[parts.length - 1], 'extension.extnValue') };
}

/** The `cA` flag of a basicConstraints extension value. */
export function readIsCa(value: Buffer): boolean {
  const parts = sequenceOf(parseAsn1(value), 'basicConstraints');
  const first = parts[0];
  return isUniversal(first, UniversalTag.boolean) ? readBoolean(first, 'basicConstraints.cA') : false;
}

/** One `Extension`: its OID and value octets. */
export interface CertificateExtension {
  oid: string;
  value: Buffer;
}

/** Extensions by a probe's own buffers (never changed; weakly): the checks, AIA and revocation each look. */
const extensionsByBuffer = new WeakMap<Buffer, readonly CertificateExtension[]>();

/**
 * The extensions of a DER certificate, in certificate order (empty when there are none). A probe's buffers are read
 * once however many steps ask.
 * @throws DecodeError when the certificate or an extension's structure is malformed
 */
export function certificateExtensions(der: Buffer): readonly CertificateExtension[] {
  const known = extensionsByBuffer.get(der);
  if (known) return known;
  const extensions = tbsFields(der).extensions.map(readExtension);
  if (servedSha256(der) !== undefined) extensionsByBuffer.set(der, extensions);
  return extensions;
}
