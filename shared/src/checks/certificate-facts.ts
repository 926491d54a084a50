/**
 * What the checks need to know about one served certificate, decoded once per evaluation.
 *
 * Unlike `parseCertificate` (which imports use, and which rejects key algorithms CertFleet will not issue), this
 * decoder accepts whatever a server presents — RSA-1024, P-192, DSA, SHA-1 signatures — because judging those is
 * exactly the checks' job. Everything here is read from the DER with the bounded reader; Node's `X509Certificate`
 * (OpenSSL) is made only when something asks for `x509` — to verify a signature or match an issuer that neither the
 * handshake nor the DER code (x509/certificate-signature.ts, x509/issued-check.ts) decides, or for a key type the
 * reader leaves to OpenSSL. A decode costs ≈ 0.1–0.25 ms, more than all the rest, and a monitoring sweep would
 * otherwise pay it for every leaf it sees.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { readTime } from '../x509/asn1-time';
import {
  type Asn1Node,
  explicitContent,
  isContext,
  readAlgorithmIdentifier,
  readInteger,
  readOid,
  sequenceOf,
  setOf,
} from '../x509/der';
import { decodeDirectoryString, formatName } from '../x509/distinguished-name';
import { isMinimalInteger } from '../x509/extension-syntax';
import { Oid } from '../x509/oids';
import { decodeSubjectAltNames } from '../x509/subject-alt-names';
import { decodedX509, servedSha256 } from '../x509/decoded-x509';
import { certificateExtensions, readIsCa, tbsFields } from '../x509/tbs';
import { type KeyFacts, keyFactsOf } from './key-facts';

export type { KeyFacts };

/** Signature algorithm facts used by the WeakSignature check. */
export interface SignatureFacts {
  oid: string;
  /** `sha256WithRSAEncryption`, `ecdsa-with-SHA256`, … or the OID. */
  name: string;
  /** The digest the signature uses: `SHA-1`, `MD5`, `SHA-256`… (`intrinsic` for Ed25519/Ed448). */
  digest: string;
}

/** One decoded certificate. */
export interface CertificateFacts {
  readonly der: Buffer;
  /** OpenSSL's decoding, made on first use. */
  readonly x509: X509Certificate;
  /** Lowercase hex, no colons. */
  readonly sha1: string;
  readonly sha256: string;
  /** RFC 4514, most specific first (`CN=a.example, O=Example, C=US`). */
  readonly subject: string;
  readonly issuer: string;
  /** Subject attribute values by short name (`CN`, `O`, `C`, …), in certificate order. */
  readonly subjectAttributes: Readonly<Record<string, readonly string[]>>;
  /** Lowercase hex, as `openssl x509 -serial` prints it. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** `DNS:…`, `IP:…`, `email:…`, `URI:…`. */
  readonly sans: readonly string[];
  /** OpenSSL's `X509_check_ca() == 1` (asks `x509`). */
  readonly isCa: boolean;
  /** Subject and issuer names are equal and the certificate verifies with its own key. */
  readonly selfSigned: boolean;
  readonly key: KeyFacts;
  readonly signature: SignatureFacts;
}

const ATTRIBUTE_SHORT_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
};

const SIGNATURE_ALGORITHMS: Readonly<Record<string, { name: string; digest: string }>> = {
  '1.2.840.113549.1.1.2': { name: 'md2WithRSAEncryption', digest: 'MD2' },
  '1.2.840.113549.1.1.3': { name: 'md4WithRSAEncryption', digest: 'MD4' },
  '1.2.840.113549.1.1.4': { name: 'md5WithRSAEncryption', digest: 'MD5' },
  '1.2.840.113549.1.1.5': { name: 'sha1WithRSAEncryption', digest: 'SHA-1' },
  '1.3.14.3.2.29': { name: 'sha1WithRSASignature', digest: 'SHA-1' },
  '1.2.840.113549.1.1.14': { name: 'sha224WithRSAEncryption', digest: 'SHA-224' },
  '1.2.840.113549.1.1.11': { name: 'sha256WithRSAEncryption', digest: 'SHA-256' },
  '1.2.840.113549.1.1.12': { name: 'sha384WithRSAEncryption', digest: 'SHA-384' },
  '1.2.840.113549.1.1.13': { name: 'sha512WithRSAEncryption', digest: 'SHA-512' },
  '1.2.840.10045.4.1': { name: 'ecdsa-with-SHA1', digest: 'SHA-1' },
  '1.2.840.10045.4.3.1': { name: 'ecdsa-with-SHA224', digest: 'SHA-224' },
  '1.2.840.10045.4.3.2': { name: 'ecdsa-with-SHA256', digest: 'SHA-256' },
  '1.2.840.10045.4.3.3': { name: 'ecdsa-with-SHA384', digest: 'SHA-384' },
  '1.2.840.10045.4.3.4': { name: 'ecdsa-with-SHA512', digest: 'SHA-512' },
  '1.2.840.10040.4.3': { name: 'dsa-with-SHA1', digest: 'SHA-1' },
  '2.16.840.1.101.3.4.3.2': { name: 'dsa-with-SHA256', digest: 'SHA-256' },
  '1.3.101.112': { name: 'Ed25519', digest: 'intrinsic' },
  '1.3.101.113': { name: 'Ed448', digest: 'intrinsic' },
};

const RSASSA_PSS = '1.2.840.113549.1.1.10';

const DIGEST_OIDS: Readonly<Record<string, string>> = {
  '1.3.14.3.2.26': 'SHA-1',
  '2.16.840.1.101.3.4.2.4': 'SHA-224',
  '2.16.840.1.101.3.4.2.1': 'SHA-256',
  '2.16.840.1.101.3.4.2.2': 'SHA-384',
  '2.16.840.1.101.3.4.2.3': 'SHA-512',
};

/** Most decoded CA certificates kept (a sweep sees the same intermediates on thousands of endpoints). */
const CA_CACHE_LIMIT = 4096;
/**
 * Most decoded end-entity certificates kept: enough for the evaluations in flight (one evaluation decodes its leaf
 * from several steps), not for a whole sweep — each leaf is seen once per run, and a decoded certificate holds
 * several kB of OpenSSL memory besides its DER.
 */
const LEAF_CACHE_LIMIT = 256;
const caCache = new Map<string, CertificateFacts>();
const leafCache = new Map<string, CertificateFacts>();

/**
 * Decodes one DER certificate for the checks. Results are immutable and memoized by SHA-256 (bounded, oldest
 * dropped first; CA certificates and end-entity certificates in separate budgets), so the same intermediate served
 * by thousands of endpoints is decoded once.
 * @throws Error (a `DecodeError` or OpenSSL's) when the bytes are not a certificate
 */
export function certificateFacts(der: Buffer): CertificateFacts {
  // The same buffer object is decoded by several steps of one evaluation (AIA, revocation, the checks): the probe's
  // buffers skip even the hashing (they are never mutated, see decoded-x509.ts).
  const same = byBuffer.get(der);
  if (same) return same;
  const probed = servedSha256(der);
  const sha256 = probed ?? createHash('sha256').update(der).digest('hex');
  let facts = caCache.get(sha256) ?? leafCache.get(sha256);
  if (!facts) {
    const decoded = decodeFacts(der, sha256);
    facts = Object.freeze(decoded.facts);
    const [cache, limit] = decoded.claimsCa ? [caCache, CA_CACHE_LIMIT] : [leafCache, LEAF_CACHE_LIMIT];
    if (cache.size >= limit) cache.delete(cache.keys().next().value as string);
    cache.set(sha256, facts);
  }
  if (probed) byBuffer.set(der, facts);
  return facts;
}

/** Facts by the probe's own DER buffers (weakly: they go with the observation). */
const byBuffer = new WeakMap<Buffer, CertificateFacts>();

/**
 * Reads the facts from the DER; `x509` and `isCa` ask OpenSSL on first use. `claimsCa` is basicConstraints cA as
 * encoded: it only picks a cache budget (`isCa` is OpenSSL's judgement).
 */
function decodeFacts(input: Buffer, sha256: string): { facts: CertificateFacts; claimsCa: boolean } {
  // A probe's buffer is never reused and comes from a live handshake: it is read from the DER (the reader is strict
  // about every field it reads; a certificate it cannot read is a DecodeError) and decoded by OpenSSL only on
  // demand, for a signature the checks must verify. Other bytes are copied (the caller may reuse its buffer) and
  // validated by OpenSSL first.
  const probed = servedSha256(input) !== undefined;
  const der = probed ? input : Buffer.from(input);
  let known = probed ? decodedX509(der) : new X509Certificate(der);
  const x509 = (): X509Certificate => (known ??= new X509Certificate(der));
  const tbs = tbsFields(der);
  let sans: string[] = [];
  let claimsCa = false;
  for (const ext of certificateExtensions(der)) {
    if (ext.oid === Oid.subjectAltName) sans = decodeSubjectAltNames(ext.value);
    else if (ext.oid === Oid.basicConstraints) claimsCa = claimsCaOf(ext.value);
  }
  const subject = formatName(tbs.subject, 'subject');
  const issuer = formatName(tbs.issuer, 'issuer');
  const [notBefore, notAfter] = validityOf(tbs.validity, x509);
  const facts: CertificateFacts = {
    der,
    get x509() {
      return x509();
    },
    sha1: createHash('sha1').update(der).digest('hex'),
    sha256,
    subject,
    issuer,
    subjectAttributes: nameAttributes(tbs.subject),
    serial: serialOf(tbs.serialNumber, x509),
    notBefore,
    notAfter,
    sans,
    get isCa() {
      return x509().ca;
    },
    selfSigned: subject === issuer && verifiesItself(x509),
    key: keyFactsOf(tbs.subjectPublicKeyInfo, x509),
    signature: signatureFacts(tbs.signatureAlgorithm),
  };
  return { facts, claimsCa };
}

/**
 * From the DER; an INTEGER the reader rejects, or one not minimally encoded (which OpenSSL's decoder refuses: the
 * certificate does not decode at all), is left to OpenSSL.
 */
function serialOf(node: Asn1Node, x509: () => X509Certificate): string {
  try {
    if (isMinimalInteger(node)) return serialHex(readInteger(node, 'serialNumber'));
  } catch {
    // OpenSSL decides
  }
  return x509().serialNumber.toLowerCase();
}

/** From the DER; a time the strict reader rejects is read as OpenSSL prints it. */
function validityOf(node: Asn1Node, x509: () => X509Certificate): [Date, Date] {
  try {
    const [from, to] = sequenceOf(node, 'validity');
    return [readTime(from, 'notBefore'), readTime(to, 'notAfter')];
  } catch {
    return [new Date(x509().validFrom), new Date(x509().validTo)];
  }
}

function verifiesItself(x509: () => X509Certificate): boolean {
  try {
    return x509().verify(x509().publicKey);
  } catch {
    return false;
  }
}

/** basicConstraints cA as encoded; an extension the reader rejects counts as no claim (it only picks a cache). */
function claimsCaOf(value: Buffer): boolean {
  try {
    return readIsCa(value);
  } catch {
    return false;
  }
}

/** As OpenSSL's `BN_bn2hex` of the serial (what `X509Certificate.serialNumber` gives), in lowercase. */
function serialHex(value: bigint): string {
  if (value === 0n) return '0';
  const hex = (value < 0n ? -value : value).toString(16);
  return `${value < 0n ? '-' : ''}${hex.length % 2 === 1 ? '0' : ''}${hex}`;
}

function nameAttributes(name: Asn1Node): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const rdn of sequenceOf(name, 'subject')) {
    for (const atv of setOf(rdn, 'subject')) {
      const parts = sequenceOf(atv, 'subject');
      const short = ATTRIBUTE_SHORT_NAMES[readOid(parts[0], 'subject')];
      const value = parts[1] === undefined ? undefined : decodeDirectoryString(parts[1]);
      if (short === undefined || value === undefined) continue;
      (out[short] ??= []).push(value);
    }
  }
  return out;
}

function signatureFacts(node: Asn1Node | undefined): SignatureFacts {
  const { oid, parameters } = readAlgorithmIdentifier(node, 'signatureAlgorithm');
  if (oid === RSASSA_PSS) return { oid, name: 'RSASSA-PSS', digest: pssDigest(parameters) };
  const known = SIGNATURE_ALGORITHMS[oid];
  return known ? { oid, ...known } : { oid, name: oid, digest: 'unknown' };
}

/** RSASSA-PSS-params `[0] hashAlgorithm` — absent means SHA-1 (RFC 4055). */
function pssDigest(parameters: Asn1Node | undefined): string {
  if (parameters === undefined) return 'SHA-1';
  try {
    const fields = sequenceOf(parameters, 'RSASSA-PSS-params');
    const hash = fields.find((f) => isContext(f, 0));
    if (!hash) return 'SHA-1';
    const oid = readAlgorithmIdentifier(explicitContent(hash, 0, 'hashAlgorithm'), 'hashAlgorithm').oid;
    return DIGEST_OIDS[oid] ?? oid;
  } catch {
    return 'unknown';
  }
}
