/**
 * Syntax checks of the extensions OpenSSL 3.0 decodes whenever it first looks at a certificate's extensions
 * (`ossl_x509v3_cache_extensions`): one that fails to decode there marks the whole certificate invalid, and an
 * invalid certificate is never accepted as issued by anything (`X509_check_issued` → `X509_V_ERR_UNSPECIFIED`).
 *
 * Each check answers `true` only for encodings OpenSSL certainly decodes, in the shapes real certificates use; `false`
 * means "not vouched for here" (OpenSSL may or may not accept it), never "invalid". The checks may throw a
 * DecodeError, which means the same.
 */
import { type Asn1Node, TagClass, UniversalTag, childrenOf, contentOf, isContext, isUniversal, readOid } from './der';

/** Context tags of the GeneralName forms vouched for: rfc822Name, dNSName, URI (IA5String), iPAddress. */
const PLAIN_GENERAL_NAMES: ReadonlySet<number> = new Set([1, 2, 6, 7]);

/** A GeneralName in one of the common primitive forms (other forms are rare in served certificates). */
export function isPlainGeneralName(node: Asn1Node): boolean {
  return node.tagClass === TagClass.context && !node.constructed && PLAIN_GENERAL_NAMES.has(node.tagNumber);
}

/** The elements of a constructed node, all plain GeneralNames. */
export function hasPlainGeneralNames(node: Asn1Node): boolean {
  return node.constructed && childrenOf(node).every(isPlainGeneralName);
}

/** A primitive BIT STRING (any tag) OpenSSL decodes: a count of unused bits from 0 to 7 first. */
export function isBitString(node: Asn1Node): boolean {
  const bytes = contentOf(node);
  return !node.constructed && bytes.length >= 1 && (bytes[0] as number) <= 7;
}

/**
 * A primitive INTEGER (any tag) in its minimal encoding: OpenSSL 3.0 refuses padding (`ASN1_R_ILLEGAL_PADDING`).
 * @param nonNegative also require the value to be ≥ 0
 */
export function isMinimalInteger(node: Asn1Node, nonNegative = false): boolean {
  const bytes = contentOf(node);
  if (node.constructed || bytes.length === 0) return false;
  const [first, second] = [bytes[0] as number, bytes[1]];
  if (nonNegative && (first & 0x80) !== 0) return false;
  if (second === undefined) return true;
  return !((first === 0x00 && (second & 0x80) === 0) || (first === 0xff && (second & 0x80) !== 0));
}

/** `BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER (0..MAX) OPTIONAL }`. */
export function isBasicConstraints(node: Asn1Node): boolean {
  const parts = sequenceChildren(node);
  if (parts === undefined || parts.length > 2) return false;
  let i = 0;
  const first = parts[0];
  if (isUniversal(first, UniversalTag.boolean)) {
    if (first.constructed || contentOf(first).length !== 1) return false;
    i++;
  }
  const pathLen = parts[i];
  if (pathLen === undefined) return true;
  // a negative pathLenConstraint marks the certificate invalid
  return i + 1 === parts.length && isUniversal(pathLen, UniversalTag.integer) && isMinimalInteger(pathLen, true);
}

/** `ExtKeyUsageSyntax ::= SEQUENCE OF KeyPurposeId` (OBJECT IDENTIFIERs). */
export function isExtKeyUsage(node: Asn1Node): boolean {
  const parts = sequenceChildren(node);
  return parts !== undefined && parts.length > 0 && parts.every(isOid);
}

function isOid(node: Asn1Node): boolean {
  try {
    readOid(node, 'OBJECT IDENTIFIER');
    return true;
  } catch {
    return false;
  }
}

/** `SubjectAltName ::= GeneralNames`. */
export function isSubjectAltName(node: Asn1Node): boolean {
  const names = sequenceChildren(node);
  return names !== undefined && names.length > 0 && names.every(isPlainGeneralName);
}

/**
 * `CRLDistributionPoints ::= SEQUENCE OF DistributionPoint`, each `SEQUENCE { distributionPoint [0]
 * DistributionPointName OPTIONAL, reasons [1] ReasonFlags OPTIONAL, cRLIssuer [2] GeneralNames OPTIONAL }` with a
 * distributionPoint or a cRLIssuer (OpenSSL's `setup_dp`). A nameRelativeToCRLIssuer is not vouched for.
 */
export function isCrlDistributionPoints(node: Asn1Node): boolean {
  const points = sequenceChildren(node);
  return points !== undefined && points.length > 0 && points.every(isDistributionPoint);
}

function isDistributionPoint(point: Asn1Node): boolean {
  const parts = sequenceChildren(point);
  if (parts === undefined) return false;
  let i = 0;
  let named = false;
  const name = parts[i];
  if (isContext(name, 0)) {
    const inner = name.constructed ? childrenOf(name) : [];
    const fullName = inner[0];
    if (inner.length !== 1 || !isContext(fullName, 0) || !hasPlainGeneralNames(fullName)) return false;
    named = true;
    i++;
  }
  const reasons = parts[i];
  if (isContext(reasons, 1)) {
    if (!isBitString(reasons)) return false;
    i++;
  }
  const crlIssuer = parts[i];
  if (isContext(crlIssuer, 2)) {
    if (!hasPlainGeneralNames(crlIssuer)) return false;
    named ||= childrenOf(crlIssuer).length > 0;
    i++;
  }
  return i === parts.length && named;
}

/**
 * `NameConstraints ::= SEQUENCE { permittedSubtrees [0] GeneralSubtrees OPTIONAL, excludedSubtrees [1]
 * GeneralSubtrees OPTIONAL }`, each `GeneralSubtree ::= SEQUENCE { base GeneralName, … }` (plain bases, without
 * minimum/maximum).
 */
export function isNameConstraints(node: Asn1Node): boolean {
  const parts = sequenceChildren(node);
  if (parts === undefined) return false;
  let tag = 0;
  for (const part of parts) {
    if (part.tagClass !== TagClass.context || part.tagNumber < tag || part.tagNumber > 1 || !part.constructed) {
      return false;
    }
    tag = part.tagNumber + 1;
    for (const subtree of childrenOf(part)) {
      const fields = sequenceChildren(subtree);
      if (fields?.length !== 1 || !isPlainGeneralName(fields[0] as Asn1Node)) return false;
    }
  }
  return true;
}

/** The children of a universal SEQUENCE, or undefined for any other element. */
export function sequenceChildren(node: Asn1Node | undefined): Asn1Node[] | undefined {
  return isUniversal(node, UniversalTag.sequence) && node.constructed ? childrenOf(node) : undefined;
}
