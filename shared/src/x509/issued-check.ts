/**
 * OpenSSL 3.0's `X509_check_issued(issuer, subject)` — what `X509Certificate.checkIssued` answers — read from the
 * DER, except its first step, the name comparison (path validation compares names itself, before asking):
 * 1. both certificates' extensions decode (`ossl_x509v3_cache_extensions`; an invalid certificate issued nothing);
 * 2. the subject's authorityKeyIdentifier, if any, matches the issuer (`X509_check_akid`);
 * 3. the subject's signature algorithm suits the issuer's key type (`check_sig_alg_match`);
 * 4. the issuer's keyUsage, if any, allows keyCertSign (`ossl_x509_signing_allowed`). Proxy certificates, for which
 *    OpenSSL asks digitalSignature instead, are ignored: their proxyCertInfo extension leaves them to OpenSSL.
 * Anything not decided here is `undefined`: ask OpenSSL.
 */
import type { KeyObject } from 'node:crypto';
import { readAlgorithmIdentifier, encodingOf, readInteger } from './der';
import { type IssuanceExtensions, KEY_CERT_SIGN, issuanceExtensions } from './issuance-extensions';
import { Oid } from './oids';
import { tbsFields } from './tbs';

/** What the check needs to know about an issuer, read once per issuer certificate. */
export interface IssuerProfile {
  readonly extensions: IssuanceExtensions;
  readonly serialNumber: bigint | undefined;
  /** The encoding of the issuer's own issuer name (an authorityCertIssuer names the issuer's issuer). */
  readonly issuerName: Buffer | undefined;
  /** `KeyObject.asymmetricKeyType` of OpenSSL's reading of its key. */
  readonly keyType: string | undefined;
}

/** Reads an issuer's profile from its DER and OpenSSL's reading of its public key. Never throws. */
export function issuerProfile(der: Buffer, publicKey: KeyObject): IssuerProfile {
  let serialNumber: bigint | undefined;
  let issuerName: Buffer | undefined;
  try {
    const fields = tbsFields(der);
    issuerName = encodingOf(fields.issuer);
    serialNumber = readInteger(fields.serialNumber, 'serialNumber');
  } catch {
    // left undefined: the checks that need them are not decided here
  }
  return { extensions: issuanceExtensions(der), serialNumber, issuerName, keyType: publicKey.asymmetricKeyType };
}

const RSA = ['rsa'];
const EC = ['ec'];

/**
 * The key types (`asymmetricKeyType`) OpenSSL's `check_sig_alg_match` accepts for a signature algorithm: the
 * algorithm's key type, or an RSA key for RSASSA-PSS.
 */
const KEY_TYPES_FOR_SIGNATURE: Readonly<Record<string, readonly string[]>> = {
  [Oid.sha1WithRsaEncryption]: RSA,
  [Oid.sha224WithRsaEncryption]: RSA,
  [Oid.sha256WithRsaEncryption]: RSA,
  [Oid.sha384WithRsaEncryption]: RSA,
  [Oid.sha512WithRsaEncryption]: RSA,
  [Oid.rsassaPss]: ['rsa', 'rsa-pss'],
  [Oid.ecdsaWithSha1]: EC,
  [Oid.ecdsaWithSha224]: EC,
  [Oid.ecdsaWithSha256]: EC,
  [Oid.ecdsaWithSha384]: EC,
  [Oid.ecdsaWithSha512]: EC,
  [Oid.ed25519]: ['ed25519'],
  [Oid.ed448]: ['ed448'],
};

/** Key types whose mismatch with the signature algorithm is decided here. */
const KNOWN_KEY_TYPES: ReadonlySet<string> = new Set(['rsa', 'rsa-pss', 'dsa', 'ec', 'ed25519', 'ed448']);

/**
 * `X509_check_issued(issuer, subject) == X509_V_OK` for a subject whose issuer name the caller has already matched
 * to the issuer's subject.
 * @returns undefined when OpenSSL must decide
 */
export function checkIssuedDer(issuer: IssuerProfile, subjectDer: Buffer): boolean | undefined {
  const subject = issuanceExtensions(subjectDer);
  return all([
    subject.vouched && issuer.extensions.vouched ? true : undefined,
    akidMatches(issuer, subject),
    signatureAlgorithmMatches(issuer, subjectDer),
    issuer.extensions.keyUsage === undefined || (issuer.extensions.keyUsage & KEY_CERT_SIGN) !== 0,
  ]);
}

/** Kleene conjunction: false if any is false, else undefined if any is undefined. */
function all(verdicts: ReadonlyArray<boolean | undefined>): boolean | undefined {
  if (verdicts.includes(false)) return false;
  return verdicts.includes(undefined) ? undefined : true;
}

/** `X509_check_akid(issuer, subject's authorityKeyIdentifier)`. */
function akidMatches(issuer: IssuerProfile, subject: IssuanceExtensions): boolean | undefined {
  const akid = subject.authorityKeyIdentifier;
  if (akid === undefined) return subject.vouched ? true : undefined;
  const skid = issuer.extensions.subjectKeyIdentifier;
  if (akid.keyIdentifier !== undefined && skid !== undefined && !akid.keyIdentifier.equals(skid)) return false;
  let verdict: boolean | undefined = true;
  if (akid.serialNumber !== undefined) {
    if (issuer.serialNumber === undefined) verdict = undefined;
    else if (akid.serialNumber !== issuer.serialNumber) return false;
  }
  // X509_NAME_cmp compares canonical forms: identical encodings are equal, other pairs are OpenSSL's to judge
  if (
    akid.issuerName !== undefined &&
    (issuer.issuerName === undefined || !akid.issuerName.equals(issuer.issuerName))
  ) {
    verdict = undefined;
  }
  return verdict;
}

/** `check_sig_alg_match(issuer's key, subject)`: the subject's TBSCertificate `signature` algorithm. */
function signatureAlgorithmMatches(issuer: IssuerProfile, subjectDer: Buffer): boolean | undefined {
  let oid: string;
  try {
    oid = readAlgorithmIdentifier(tbsFields(subjectDer).signature, 'tbsCertificate.signature').oid;
  } catch {
    return undefined;
  }
  const accepted = KEY_TYPES_FOR_SIGNATURE[oid];
  const keyType = issuer.keyType;
  if (accepted === undefined || keyType === undefined || !KNOWN_KEY_TYPES.has(keyType)) return undefined;
  return accepted.includes(keyType);
}
