/**
 * internal-ca: PKCS#10 certificate requests (SPEC A1, A2). Pure: no I/O, no storage.
 *
 * Reading ({@link publicKeyFromCsr}): a CSR submitted by anyone is read ONLY for its public key. Its self-signature
 * is verified (proof of possession of the private key), and then the subject, the requested extensions
 * (basicConstraints CA:TRUE, SANs, extended key usages, …) and every other attribute are ignored: they are not
 * even decoded. Whatever a certificate says comes from the definition.
 *
 * Accepted: RSA-2048/3072/4096 and EC P-256/P-384 keys; signatures SHA-256/384/512 with RSA (PKCS#1 v1.5) or
 * ECDSA. Refused with CF_CSR_INVALID: bad PEM/DER, a bad signature, SHA-1 or RSA-PSS signatures, other keys.
 *
 * Writing ({@link createCsr}): a DER PKCS#10 request built here and signed natively, for the acquisition process,
 * the manual issuer and the subordinate CA (which asks for CA:TRUE).
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { CertFleetError, decodePem, encodePem, keySpecOf, type KeySpec } from '@certfleet/shared';
import { DerError, contentOf, encodingOf, expectTag, readBitString, readDer, readOid, sequence } from './der-reader';
import { der, extension } from './der-writer';
import {
  parseOrThrow,
  sanSchema,
  subjectSchema,
  type CertificateSubject,
  type SubjectAltName,
} from './issue-certificate';
import { ExtensionOid, caBasicConstraints, caKeyUsage, encodeGeneralNames, encodeName } from './name-encoding';
import { SignatureOid, nodeSigner } from './node-signer';

/** Largest CSR accepted, PEM or DER: far above any honest request (a CSR with 500 SANs is about 15 KiB). */
export const MAX_CSR_BYTES = 256 * 1024;

const VERIFY_HASH: Readonly<Record<string, { hash: string; key: 'rsa' | 'ec' }>> = {
  [SignatureOid.sha256WithRSA]: { hash: 'sha256', key: 'rsa' },
  [SignatureOid.sha384WithRSA]: { hash: 'sha384', key: 'rsa' },
  [SignatureOid.sha512WithRSA]: { hash: 'sha512', key: 'rsa' },
  [SignatureOid.ecdsaWithSha256]: { hash: 'sha256', key: 'ec' },
  [SignatureOid.ecdsaWithSha384]: { hash: 'sha384', key: 'ec' },
  [SignatureOid.ecdsaWithSha512]: { hash: 'sha512', key: 'ec' },
};
const REFUSED_SIGNATURES: Readonly<Record<string, string>> = {
  '1.2.840.113549.1.1.5': 'SHA-1 with RSA',
  '1.2.840.113549.1.1.4': 'MD5 with RSA',
  '1.2.840.10045.4.1': 'ECDSA with SHA-1',
  '1.2.840.113549.1.1.10': 'RSASSA-PSS',
};

function csrInvalid(message: string, details?: Record<string, unknown>, cause?: unknown): CertFleetError {
  return new CertFleetError('CF_CSR_INVALID', `internal-ca(csr): ${message}`, {
    ...(details ? { details } : {}),
    ...(cause === undefined ? {} : { cause }),
  });
}

/** What {@link publicKeyFromCsr} returns: the requester's public key, and nothing else from the CSR. */
export interface CsrPublicKey {
  /** SPKI `-----BEGIN PUBLIC KEY-----` PEM, re-encoded by OpenSSL (canonical). */
  publicKeyPem: string;
  /** The key's algorithm and size. */
  keySpec: KeySpec;
  keyObject: KeyObject;
}

/** The DER of a CSR given as PEM (`CERTIFICATE REQUEST` / `NEW CERTIFICATE REQUEST`) or DER. */
function csrDer(input: string | Buffer): Buffer {
  if (input.length > MAX_CSR_BYTES) throw csrInvalid(`request is larger than ${MAX_CSR_BYTES} bytes`);
  // Bytes starting with a SEQUENCE tag are DER; everything else is PEM text.
  if (Buffer.isBuffer(input) && input[0] === 0x30) return input;
  let blocks;
  try {
    blocks = decodePem(typeof input === 'string' ? input : input.toString('latin1'));
  } catch (err) {
    throw csrInvalid('not a readable PEM certificate request', undefined, err);
  }
  const csrs = blocks.filter((b) => b.label === 'CERTIFICATE REQUEST' || b.label === 'NEW CERTIFICATE REQUEST');
  if (csrs.length !== 1) {
    throw csrInvalid(
      csrs.length === 0
        ? `no CERTIFICATE REQUEST block found${blocks.length ? ` (found ${blocks.map((b) => b.label).join(', ')})` : ''}`
        : 'more than one CERTIFICATE REQUEST block'
    );
  }
  return (csrs[0] as { der: Buffer }).der;
}

/**
 * Verifies a PKCS#10 request's self-signature and returns ONLY its public key (SPEC A1/A2): the subject, SANs,
 * basicConstraints, key usages and any other requested attribute are never read.
 *
 * @throws CertFleetError `CF_CSR_INVALID` (never retryable) when the request is malformed, its signature does not
 *   verify, it uses a refused signature algorithm, or its key is not RSA-2048/3072/4096 or EC P-256/P-384.
 * @example const { publicKeyPem, keySpec } = publicKeyFromCsr(req.csrPem);
 */
export function publicKeyFromCsr(csr: string | Buffer): CsrPublicKey {
  const bytes = csrDer(csr);
  let info: Buffer;
  let spki: Buffer;
  let signatureOid: string;
  let signature: Buffer;
  try {
    const outer = sequence(readDer(bytes), 'CertificationRequest');
    if (outer.length !== 3) throw new DerError('CertificationRequest: expected 3 elements');
    const infoParts = sequence(outer[0], 'CertificationRequestInfo');
    if (infoParts.length !== 4) throw new DerError('CertificationRequestInfo: expected 4 elements');
    const version = contentOf(expectTag(infoParts[0], 0x02, 'version'));
    if (version.length !== 1 || version[0] !== 0) throw new DerError('version must be 0 (v1)');
    expectTag(infoParts[1], 0x30, 'subject');
    const spkiParts = sequence(infoParts[2], 'subjectPKInfo');
    if (spkiParts.length !== 2) throw new DerError('subjectPKInfo: expected 2 elements');
    expectTag(infoParts[3], 0xa0, 'attributes');
    info = encodingOf(outer[0]!);
    spki = encodingOf(infoParts[2]!);
    const alg = sequence(outer[1], 'signatureAlgorithm');
    if (alg.length < 1 || alg.length > 2) throw new DerError('signatureAlgorithm: bad AlgorithmIdentifier');
    signatureOid = readOid(alg[0], 'signatureAlgorithm.algorithm');
    if (alg[1] !== undefined && !(alg[1].tag === 0x05 && alg[1].end === alg[1].contentStart)) {
      if (VERIFY_HASH[signatureOid] !== undefined) throw new DerError('signatureAlgorithm: unexpected parameters');
    }
    signature = readBitString(outer[2], 'signature');
  } catch (err) {
    if (err instanceof DerError) throw csrInvalid(`malformed request: ${err.message}`, undefined, err);
    throw err;
  }

  const refused = REFUSED_SIGNATURES[signatureOid];
  if (refused) throw csrInvalid(`${refused} signatures are not accepted`, { signatureAlgorithm: signatureOid });
  const algorithm = VERIFY_HASH[signatureOid];
  if (!algorithm) throw csrInvalid('unsupported signature algorithm', { signatureAlgorithm: signatureOid });

  let keyObject: KeyObject;
  try {
    keyObject = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch (err) {
    throw csrInvalid('the public key is not readable', undefined, err);
  }
  const keySpec = keySpecOf(keyObject);
  if (keySpec === null) {
    const d = keyObject.asymmetricKeyDetails;
    throw csrInvalid('unsupported key: only RSA-2048/3072/4096 (e = 65537) and EC P-256/P-384 are accepted', {
      algorithm: keyObject.asymmetricKeyType ?? 'unknown',
      ...(d?.modulusLength ? { modulusLength: d.modulusLength } : {}),
      ...(d?.namedCurve ? { namedCurve: d.namedCurve } : {}),
    });
  }
  if ((keyObject.asymmetricKeyType === 'rsa' ? 'rsa' : 'ec') !== algorithm.key) {
    throw csrInvalid('the signature algorithm does not match the key type');
  }
  let valid = false;
  try {
    valid =
      algorithm.key === 'rsa'
        ? verify(algorithm.hash, info, keyObject, signature)
        : verify(algorithm.hash, info, { key: keyObject, dsaEncoding: 'der' }, signature);
  } catch (err) {
    throw csrInvalid('the signature is malformed', undefined, err);
  }
  if (!valid) throw csrInvalid('the signature does not verify (the request was altered or not signed by its key)');
  return {
    publicKeyPem: keyObject.export({ type: 'spki', format: 'pem' }).toString(),
    keySpec,
    keyObject,
  };
}

const createCsrSchema = z.object({
  subject: subjectSchema,
  sans: z.array(sanSchema).max(100, 'at most 100 SANs').default([]),
  ca: z
    .object({ pathLength: z.number().int().min(0).max(10).optional() })
    .strict()
    .optional(),
});

export interface CreateCsrOptions {
  /** The requester's private key (PKCS#8, PKCS#1 or SEC1 PEM, unencrypted), or a KeyObject. */
  privateKeyPem: string | KeyObject;
  subject: CertificateSubject;
  /** Requested SANs (dns/ip). @default [] */
  sans?: SubjectAltName[];
  /** Ask for a CA certificate: basicConstraints CA:TRUE and keyUsage keyCertSign + cRLSign (subordinate CA, C1). */
  ca?: { pathLength?: number };
}

/**
 * Builds and signs a PKCS#10 request (SHA-256, or SHA-384 for P-384 keys). The request carries an
 * extensionRequest attribute with subjectAltName (when `sans` is given) and, for `ca`, basicConstraints CA:TRUE
 * and keyUsage keyCertSign + cRLSign, all as a CA would copy them.
 *
 * @returns PEM `-----BEGIN CERTIFICATE REQUEST-----` with a trailing newline
 * @throws CertFleetError `CF_VALIDATION` on a bad subject/SAN or key; `CF_IMPORT_UNSUPPORTED_ALGORITHM` for a key
 *   that is not a {@link KeySpec}
 * @example const csrPem = createCsr({ privateKeyPem, subject: { commonName: 'www.example.com' }, sans });
 */
export function createCsr(opts: CreateCsrOptions): string {
  const input = parseOrThrow(createCsrSchema, { subject: opts.subject, sans: opts.sans, ca: opts.ca }, 'CSR');
  const signer = nodeSigner(opts.privateKeyPem);
  const spki = createPublicKey(signer.key).export({ type: 'spki', format: 'der' });
  const sans = [...new Map(input.sans.map((s) => [`${s.type}:${s.value}`, s] as const)).values()];

  const extensions: Buffer[] = [];
  if (input.ca) extensions.push(caBasicConstraints(input.ca.pathLength), caKeyUsage());
  if (sans.length) extensions.push(extension(ExtensionOid.subjectAltName, false, encodeGeneralNames(sans)));
  const attributes = extensions.length
    ? [der.sequence(der.oid('1.2.840.113549.1.9.14'), der.setOf(der.sequence(...extensions)))]
    : [];
  const info = der.sequence(der.integer(0), encodeName(input.subject), spki, der.implicitConstructed(0, ...attributes));
  const csr = der.sequence(info, signer.algorithmIdentifier, der.bitString(signer.sign(info)));
  return encodePem('CERTIFICATE REQUEST', csr);
}
