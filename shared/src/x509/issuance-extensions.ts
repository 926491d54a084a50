/**
 * What OpenSSL 3.0's `X509_check_issued` reads from a certificate's extensions — key usage, subject and authority
 * key identifiers — and whether OpenSSL would accept its extensions at all (see extension-syntax.ts), read from the
 * DER.
 */
import {
  type Asn1Node,
  TagClass,
  UniversalTag,
  childrenOf,
  contentOf,
  encodingOf,
  isContext,
  isUniversal,
  parseAsn1,
} from './der';
import {
  isBasicConstraints,
  isBitString,
  isCrlDistributionPoints,
  isExtKeyUsage,
  isMinimalInteger,
  isNameConstraints,
  isPlainGeneralName,
  isSubjectAltName,
  sequenceChildren,
} from './extension-syntax';
import { Oid } from './oids';
import { certificateExtensions } from './tbs';

/** An authorityKeyIdentifier, as OpenSSL's `X509_check_akid` uses it. */
export interface AuthorityKeyId {
  keyIdentifier: Buffer | undefined;
  /** The encoding of the first directoryName of authorityCertIssuer. */
  issuerName: Buffer | undefined;
  serialNumber: bigint | undefined;
}

/** The issuance-related extensions of one certificate. */
export interface IssuanceExtensions {
  /**
   * True when OpenSSL certainly decodes every extension it checks (so does not mark the certificate invalid);
   * false when it might not, or when the certificate is a proxy certificate (not judged here).
   */
  vouched: boolean;
  /** OpenSSL's `ex_kusage`: the first two octets of keyUsage, unused bits cleared; undefined without keyUsage. */
  keyUsage: number | undefined;
  subjectKeyIdentifier: Buffer | undefined;
  authorityKeyIdentifier: AuthorityKeyId | undefined;
}

/** keyCertSign in OpenSSL's `ex_kusage` (`KU_KEY_CERT_SIGN`). */
export const KEY_CERT_SIGN = 0x0004;

/**
 * Reads the issuance extensions of a DER certificate. Never throws: what does not parse is simply not vouched for.
 */
export function issuanceExtensions(der: Buffer): IssuanceExtensions {
  const out: IssuanceExtensions = {
    vouched: true,
    keyUsage: undefined,
    subjectKeyIdentifier: undefined,
    authorityKeyIdentifier: undefined,
  };
  try {
    const seen = new Set<string>();
    for (const { oid, value } of certificateExtensions(der)) {
      // OpenSSL finds a repeated extension by NID as "more than one": the certificate is invalid
      if (seen.has(oid)) out.vouched = false;
      seen.add(oid);
      if (!readExtension(out, oid, parseAsn1(value))) out.vouched = false;
    }
  } catch {
    out.vouched = false;
  }
  return out;
}

/** Reads one extension into `out`; false when OpenSSL might not decode it. */
function readExtension(out: IssuanceExtensions, oid: string, node: Asn1Node): boolean {
  switch (oid) {
    case Oid.subjectKeyIdentifier:
      if (!isUniversal(node, UniversalTag.octetString) || node.constructed) return false;
      out.subjectKeyIdentifier = contentOf(node);
      return true;
    case Oid.authorityKeyIdentifier:
      out.authorityKeyIdentifier = readAuthorityKeyId(node);
      return out.authorityKeyIdentifier !== undefined;
    case Oid.keyUsage:
      out.keyUsage = readKeyUsage(node);
      return out.keyUsage !== undefined && out.keyUsage !== 0; // an empty keyUsage is invalid (RFC 5280 4.2.1.3)
    case Oid.basicConstraints:
      return isBasicConstraints(node);
    case Oid.extKeyUsage:
      return isExtKeyUsage(node);
    case Oid.subjectAltName:
      return isSubjectAltName(node);
    case Oid.crlDistributionPoints:
      return isCrlDistributionPoints(node);
    case Oid.nameConstraints:
      return isNameConstraints(node);
    case Oid.netscapeCertType:
      return isUniversal(node, UniversalTag.bitString) && isBitString(node);
    // Proxy certificates (RFC 3820) are ignored here: OpenSSL asks their issuer for digitalSignature instead of
    // keyCertSign, and judges them itself. RFC 3779 resources are rare enough to leave to OpenSSL too.
    case Oid.proxyCertInfo:
    case Oid.ipAddrBlocks:
    case Oid.autonomousSysIds:
      return false;
    default:
      return true; // OpenSSL does not decode it to judge the certificate
  }
}

/** OpenSSL's `ex_kusage` of a keyUsage BIT STRING, undefined when it is not one. */
function readKeyUsage(node: Asn1Node): number | undefined {
  if (!isUniversal(node, UniversalTag.bitString) || !isBitString(node)) return undefined;
  const bytes = contentOf(node);
  const unused = bytes[0] as number;
  const data = [...bytes.subarray(1, 3)];
  // OpenSSL clears the unused bits of the last octet; it counts here when it is one of the first two
  const last = bytes.length - 2;
  if (last === 0 || last === 1) data[last] = (data[last] as number) & (0xff << unused);
  return (data[0] ?? 0) | ((data[1] ?? 0) << 8);
}

/**
 * `AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] OPTIONAL, authorityCertIssuer [1] GeneralNames OPTIONAL,
 * authorityCertSerialNumber [2] INTEGER OPTIONAL }`; undefined when not vouched for (authorityCertIssuer holding
 * anything but plain names and one directoryName).
 */
function readAuthorityKeyId(node: Asn1Node): AuthorityKeyId | undefined {
  const parts = sequenceChildren(node);
  if (parts === undefined) return undefined;
  const akid: AuthorityKeyId = { keyIdentifier: undefined, issuerName: undefined, serialNumber: undefined };
  let i = 0;
  const keyId = parts[i];
  if (isContext(keyId, 0)) {
    if (keyId.constructed) return undefined;
    akid.keyIdentifier = contentOf(keyId);
    i++;
  }
  const issuer = parts[i];
  if (isContext(issuer, 1)) {
    if (!issuer.constructed) return undefined;
    const names = childrenOf(issuer);
    const directoryNames = names.filter((n) => isContext(n, 4));
    if (directoryNames.length > 1 || names.some((n) => !isContext(n, 4) && !isPlainGeneralName(n))) return undefined;
    if (directoryNames[0] !== undefined) {
      const name = directoryNameOf(directoryNames[0]);
      if (name === undefined) return undefined;
      akid.issuerName = encodingOf(name);
    }
    i++;
  }
  const serial = parts[i];
  if (isContext(serial, 2)) {
    if (!isMinimalInteger(serial)) return undefined;
    const bytes = contentOf(serial);
    akid.serialNumber = BigInt.asIntN(bytes.length * 8, BigInt(`0x${bytes.toString('hex')}`));
    i++;
  }
  return i === parts.length ? akid : undefined;
}

/** The Name inside a `[4]` directoryName (EXPLICIT: Name is a CHOICE). */
function directoryNameOf(node: Asn1Node): Asn1Node | undefined {
  if (!node.constructed || node.tagClass !== TagClass.context) return undefined;
  const inner = childrenOf(node);
  const name = inner[0];
  return inner.length === 1 && isUniversal(name, UniversalTag.sequence) && name.constructed ? name : undefined;
}
