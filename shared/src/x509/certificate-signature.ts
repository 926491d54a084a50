/**
 * A certificate's signature verified from its DER, as OpenSSL 3.0's `X509_verify` (what `X509Certificate.verify`
 * calls) would judge it, without decoding the certificate with OpenSSL (≈ 0.1–0.25 ms per certificate, and locks
 * that worker threads contend for). Only the common algorithms are decided here — RSA PKCS#1 v1.5, ECDSA, Ed25519,
 * Ed448 — with node:crypto doing the arithmetic; everything else is left to OpenSSL (`undefined`).
 */
import { type KeyObject, type X509Certificate, verify } from 'node:crypto';
import { type Asn1Node, UniversalTag, contentOf, encodingOf, isUniversal, readAlgorithmIdentifier } from './der';
import { Oid } from './oids';
import { tbsFields } from './tbs';

/** How one signature algorithm is verified: the digest (null: the algorithm has its own) and the key type it needs. */
interface SignatureScheme {
  readonly digest: string | null;
  /** `KeyObject.asymmetricKeyType` of the only keys OpenSSL accepts for it. */
  readonly keyType: 'rsa' | 'ec' | 'ed25519' | 'ed448';
  /** Parameters allowed besides absent: NULL (RSA PKCS#1 v1.5, RFC 4055) or none (ECDSA, EdDSA: RFC 5758, 8410). */
  readonly nullParameters: boolean;
}

const rsa = (digest: string): SignatureScheme => ({ digest, keyType: 'rsa', nullParameters: true });
const ecdsa = (digest: string): SignatureScheme => ({ digest, keyType: 'ec', nullParameters: false });

const SCHEMES: Readonly<Record<string, SignatureScheme>> = {
  [Oid.sha1WithRsaEncryption]: rsa('sha1'),
  [Oid.sha224WithRsaEncryption]: rsa('sha224'),
  [Oid.sha256WithRsaEncryption]: rsa('sha256'),
  [Oid.sha384WithRsaEncryption]: rsa('sha384'),
  [Oid.sha512WithRsaEncryption]: rsa('sha512'),
  [Oid.ecdsaWithSha1]: ecdsa('sha1'),
  [Oid.ecdsaWithSha224]: ecdsa('sha224'),
  [Oid.ecdsaWithSha256]: ecdsa('sha256'),
  [Oid.ecdsaWithSha384]: ecdsa('sha384'),
  [Oid.ecdsaWithSha512]: ecdsa('sha512'),
  [Oid.ed25519]: { digest: null, keyType: 'ed25519', nullParameters: false },
  [Oid.ed448]: { digest: null, keyType: 'ed448', nullParameters: false },
};

/**
 * Key types whose mismatch with a scheme OpenSSL reports as a failed verification (`EVP_PKEY_is_a` in
 * `ASN1_item_verify_ctx`: wrong public key type → 0). Other keys (DH, X25519, SM2…) are left to OpenSSL.
 */
const KNOWN_KEY_TYPES: ReadonlySet<string> = new Set(['rsa', 'rsa-pss', 'dsa', 'ec', 'ed25519', 'ed448']);

/**
 * Does `issuerKey` verify the signature of the DER certificate `der`? As `X509Certificate.verify(issuerKey)` would
 * answer: the inner and outer signature AlgorithmIdentifiers must agree (OpenSSL's `X509_ALGOR_cmp`), the signature
 * covers the exact TBSCertificate bytes, a key of the wrong type fails.
 * @returns undefined when this is not decided here: RSASSA-PSS, DSA, unknown algorithms, unusual parameters or
 *   encodings, keys of other types, anything that does not parse — ask OpenSSL then. Never throws.
 */
export function verifyCertificateSignature(der: Buffer, issuerKey: KeyObject): boolean | undefined {
  try {
    const fields = tbsFields(der);
    const outer = fields.signatureAlgorithm;
    const inner = fields.signature;
    const value = fields.signatureValue;
    if (outer === undefined || inner === undefined || !isUniversal(value, UniversalTag.bitString)) return undefined;
    const algorithm = readAlgorithmIdentifier(outer, 'signatureAlgorithm');
    const agreement = algorithmsAgree(outer, inner);
    if (agreement !== true) return agreement;
    const scheme = SCHEMES[algorithm.oid];
    if (scheme === undefined || !parametersAllowed(scheme, algorithm.parameters)) return undefined;
    const keyType = issuerKey.asymmetricKeyType;
    if (keyType === undefined || !KNOWN_KEY_TYPES.has(keyType)) return undefined;
    if (keyType !== scheme.keyType) return false;
    const signature = signatureBytes(value);
    if (typeof signature !== 'object') return signature;
    const key = scheme.keyType === 'ec' ? { key: issuerKey, dsaEncoding: 'der' as const } : issuerKey;
    return verify(scheme.digest, encodingOf(fields.tbsCertificate), key, signature);
  } catch {
    return undefined; // not parsed here, or node:crypto refused the inputs: OpenSSL decides
  }
}

/**
 * OpenSSL compares the two AlgorithmIdentifiers as decoded values: identical bytes agree; a different OID, or
 * parameters on one side only, disagree (X509_verify returns 0); other differences (two encodings of the same
 * parameters) are left to OpenSSL.
 */
function algorithmsAgree(outer: Asn1Node, inner: Asn1Node): boolean | undefined {
  if (encodingOf(outer).equals(encodingOf(inner))) return true;
  const a = readAlgorithmIdentifier(outer, 'signatureAlgorithm');
  const b = readAlgorithmIdentifier(inner, 'tbsCertificate.signature');
  if (a.oid !== b.oid || (a.parameters === undefined) !== (b.parameters === undefined)) return false;
  return undefined;
}

function parametersAllowed(scheme: SignatureScheme, parameters: Asn1Node | undefined): boolean {
  if (parameters === undefined) return true;
  const isNull = isUniversal(parameters, UniversalTag.null) && !parameters.constructed;
  return scheme.nullParameters && isNull && parameters.contentEnd === parameters.contentStart;
}

/**
 * The signature octets of the signatureValue BIT STRING. Unused bits make OpenSSL refuse the signature
 * (`ASN1_R_INVALID_BIT_STRING_BITS_LEFT`, so `false`); a constructed or empty BIT STRING is left to OpenSSL.
 */
function signatureBytes(node: Asn1Node): Buffer | false | undefined {
  const bytes = contentOf(node);
  if (node.constructed || bytes.length === 0) return undefined;
  const unused = bytes[0] as number;
  if (unused > 7) return undefined;
  if (unused !== 0) return false;
  return bytes.subarray(1);
}

/**
 * One public key per issuer certificate object. `X509Certificate.publicKey` asks OpenSSL for a new KeyObject on
 * every access in the Node releases whose getter does not cache it (20.20 does cache it); this holds whatever the
 * release.
 */
const issuerKeys = new WeakMap<X509Certificate, KeyObject>();

/**
 * The public key of `issuer` (OpenSSL's reading of its SubjectPublicKeyInfo), made once per certificate object.
 * @throws Error when OpenSSL cannot read the key
 */
export function issuerPublicKey(issuer: X509Certificate): KeyObject {
  let key = issuerKeys.get(issuer);
  if (key === undefined) {
    key = issuer.publicKey;
    issuerKeys.set(issuer, key);
  }
  return key;
}
