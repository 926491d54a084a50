/**
 * PKCS#7 / CMS `SignedData` certificate bags (`.p7b`, `.p7c`), DER or PEM (`BEGIN PKCS7` / `BEGIN CMS`).
 * Only the `certificates` field is read; signatures, CRLs and attribute certificates are ignored. Works for any
 * certificate algorithm because the SignedData is walked with the bounded ASN.1 reader (node-forge's PKCS#7
 * reader fails on EC certificates).
 */
import { malformed, unsupported } from '../x509/decode-error';
import {
  UniversalTag,
  childrenOf,
  encodingOf,
  explicitContent,
  isContext,
  isUniversal,
  parseAsn1,
  readOid,
  sequenceOf,
} from '../x509/der';
import { Oid, describeOid } from '../x509/oids';
import { decodePem, pemTextOf } from '../x509/pem';
import type { CertFleetError } from '../errors';
import { type ImportOrigin, importError } from './import-error';
import { MAX_CHAIN_CERTIFICATES } from './limits';
import type { RawMaterial } from './raw-material';

/** PEM labels that carry a PKCS#7/CMS structure. */
export const PKCS7_PEM_LABELS: ReadonlySet<string> = new Set(['PKCS7', 'CMS', 'PKCS #7 SIGNED DATA']);

/**
 * The DER certificates inside a PKCS#7 `ContentInfo` holding `SignedData`, in file order.
 * @throws CF_IMPORT_CHAIN_TOO_LONG before decoding more than {@link MAX_CHAIN_CERTIFICATES} certificates
 */
export function pkcs7Certificates(der: Buffer, origin: ImportOrigin): Buffer[] {
  const contentInfo = sequenceOf(parseAsn1(der), 'ContentInfo');
  if (contentInfo.length !== 2) throw malformed('ContentInfo: expected contentType and content');
  const contentType = readOid(contentInfo[0], 'ContentInfo.contentType');
  if (contentType !== Oid.signedData) {
    throw unsupported(`PKCS#7 content type ${describeOid(contentType)} is not supported (expected signedData)`);
  }
  const signedData = sequenceOf(explicitContent(contentInfo[1], 0, 'ContentInfo.content'), 'SignedData');
  if (
    signedData.length < 4 ||
    !isUniversal(signedData[0], UniversalTag.integer) ||
    !isUniversal(signedData[1], UniversalTag.set) ||
    !isUniversal(signedData[2], UniversalTag.sequence) ||
    !isUniversal(signedData[signedData.length - 1], UniversalTag.set)
  ) {
    throw malformed('SignedData: bad structure');
  }
  const certificates: Buffer[] = [];
  for (const field of signedData.slice(3, -1)) {
    if (isContext(field, 1)) continue; // crls
    if (!isContext(field, 0)) throw malformed('SignedData: unexpected field');
    const choices = childrenOf(field); // [0] IMPLICIT SET OF CertificateChoices
    if (choices.length > MAX_CHAIN_CERTIFICATES) throw tooManyCertificates(origin, choices.length);
    for (const choice of choices) {
      // Other CertificateChoices ([0]..[3]: extended/attribute/other certificates) are not X.509 certificates.
      if (isUniversal(choice, UniversalTag.sequence)) certificates.push(encodingOf(choice));
    }
  }
  return certificates;
}

/** Extracts the certificates of a PKCS#7 file, DER or PEM. */
export function extractPkcs7(input: Buffer, origin: ImportOrigin = 'pkcs7'): RawMaterial {
  if (input[0] === 0x30) return { certificates: pkcs7Certificates(input, origin), keys: [] };
  const certificates: Buffer[] = [];
  for (const block of decodePem(pemTextOf(input))) {
    if (PKCS7_PEM_LABELS.has(block.label)) certificates.push(...pkcs7Certificates(block.der, origin));
  }
  return { certificates, keys: [] };
}

/** CF_IMPORT_CHAIN_TOO_LONG for `count` certificates. */
export function tooManyCertificates(origin: ImportOrigin | null, count: number): CertFleetError {
  return importError(
    'CF_IMPORT_CHAIN_TOO_LONG',
    origin,
    `${count} certificates found; at most ${MAX_CHAIN_CERTIFICATES} are accepted`,
    { details: { count, limit: MAX_CHAIN_CERTIFICATES } }
  );
}
