/**
 * Decoding one X.509 certificate: Node's `crypto.X509Certificate` (OpenSSL) validates the encoding and provides
 * the public key, fingerprints and issuer checks; the TBSCertificate fields CertFleet needs in a stable,
 * unambiguous form (RFC 4514 names, ISO dates, typed SANs) are read from the DER with the bounded reader.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { readTime } from './asn1-time';
import { DecodeError, malformed, unsupported } from './decode-error';
import {
  type Asn1Node,
  explicitContent,
  isContext,
  isUniversal,
  parseAsn1,
  readAlgorithmIdentifier,
  readOid,
  sequenceOf,
  UniversalTag,
} from './der';
import { formatName } from './distinguished-name';
import { type KeyAlgorithm, keyAlgorithmOf } from './key-algorithm';
import { Oid, describeOid } from './oids';
import { decodeSubjectAltNames } from './subject-alt-names';
import { readExtension, readIsCa } from './tbs';

/** A decoded certificate. */
export interface ParsedCertificate {
  /** The exact DER encoding. */
  readonly der: Buffer;
  /** Node's view of the same certificate (public key, `checkIssued`, `verify`, `checkPrivateKey`). */
  readonly x509: X509Certificate;
  /** RFC 4514, most specific RDN first: `CN=leaf, O=Example, C=US`. */
  readonly subject: string;
  readonly issuer: string;
  /** Lowercase hex as `openssl x509 -serial` prints it (sign padding stripped). */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Lowercase hex, no colons. */
  readonly sha1: string;
  readonly sha256: string;
  readonly keyAlgorithm: KeyAlgorithm;
  /** `DNS:…`, `IP:…`, `email:…`, `URI:…` in certificate order. */
  readonly sans: readonly string[];
  /** basicConstraints cA. */
  readonly isCa: boolean;
}

const SUPPORTED_CURVES: ReadonlySet<string> = new Set([Oid.secp256r1, Oid.secp384r1, Oid.secp521r1]);

/**
 * Decodes a DER certificate. The buffer must hold exactly one certificate.
 * @throws DecodeError `malformed` for bad encodings, `unsupported` for public key algorithms outside
 *   {@link KEY_ALGORITHMS}
 */
export function parseCertificate(der: Buffer): ParsedCertificate {
  const top = sequenceOf(parseAsn1(der), 'certificate');
  if (top.length !== 3) throw malformed('certificate: expected tbsCertificate, signatureAlgorithm, signature');
  const tbs = sequenceOf(top[0], 'tbsCertificate');
  let i = 0;
  if (isContext(tbs[0], 0)) i++; // [0] EXPLICIT version
  i++; // serialNumber: Node/OpenSSL decodes it
  readAlgorithmIdentifier(tbs[i++], 'tbsCertificate.signature');
  const issuer = formatName(tbs[i++] as Asn1Node, 'issuer');
  const validity = sequenceOf(tbs[i++], 'validity');
  if (validity.length !== 2) throw malformed('validity: expected notBefore and notAfter');
  const notBefore = readTime(validity[0], 'notBefore');
  const notAfter = readTime(validity[1], 'notAfter');
  const subject = formatName(tbs[i++] as Asn1Node, 'subject');
  const spki = tbs[i++];
  checkPublicKeyAlgorithm(spki);
  let sans: string[] = [];
  let isCa = false;
  for (; i < tbs.length; i++) {
    const node = tbs[i] as Asn1Node;
    if (isContext(node, 3)) {
      for (const ext of sequenceOf(explicitContent(node, 3, 'extensions'), 'extensions')) {
        const { oid, value } = readExtension(ext);
        if (oid === Oid.subjectAltName) sans = decodeSubjectAltNames(value);
        else if (oid === Oid.basicConstraints) isCa = readIsCa(value);
      }
    } else if (!isContext(node, 1) && !isContext(node, 2)) {
      throw malformed('tbsCertificate: unexpected trailing element');
    }
  }

  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(der);
  } catch (cause) {
    throw malformed('certificate: rejected by OpenSSL', cause);
  }
  let keyAlgorithm: KeyAlgorithm;
  try {
    keyAlgorithm = keyAlgorithmOf(x509.publicKey);
  } catch (cause) {
    if (cause instanceof DecodeError) throw cause;
    throw malformed('certificate: bad public key', cause);
  }
  return {
    der,
    x509,
    subject,
    issuer,
    serial: x509.serialNumber.toLowerCase(),
    notBefore,
    notAfter,
    sha1: createHash('sha1').update(der).digest('hex'),
    sha256: createHash('sha256').update(der).digest('hex'),
    keyAlgorithm,
    sans,
    isCa,
  };
}

/** Rejects SubjectPublicKeyInfo algorithms (and curves) CertFleet does not accept before OpenSSL sees the key. */
function checkPublicKeyAlgorithm(spki: Asn1Node | undefined): void {
  const parts = sequenceOf(spki, 'subjectPublicKeyInfo');
  if (parts.length !== 2 || !isUniversal(parts[1], UniversalTag.bitString)) {
    throw malformed('subjectPublicKeyInfo: expected algorithm and subjectPublicKey');
  }
  const { oid, parameters } = readAlgorithmIdentifier(parts[0], 'subjectPublicKeyInfo.algorithm');
  if (oid === Oid.rsaEncryption || oid === Oid.ed25519) return;
  if (oid === Oid.ecPublicKey) {
    if (!isUniversal(parameters, UniversalTag.objectIdentifier)) {
      throw unsupported('EC keys with explicit or implicit curve parameters are not supported');
    }
    const curve = readOid(parameters, 'EC parameters');
    if (SUPPORTED_CURVES.has(curve)) return;
    throw unsupported(`EC curve ${describeOid(curve)} is not supported (use P-256, P-384 or P-521)`);
  }
  throw unsupported(`public key algorithm ${describeOid(oid)} is not supported`);
}

/** SHA-256 of a DER encoding, lowercase hex (used to de-duplicate certificates). */
export function sha256Hex(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex');
}
