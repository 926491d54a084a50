/**
 * OCSP responses (RFC 6960 §4.2, SPEC M6): decoding ({@link parseOcspResponse}) and verification
 * ({@link verifyOcspResponse}), both pure. Every failure is an {@link OcspError} whose `problem` says what was
 * wrong, so callers and tests branch on a code, not on message text.
 *
 * Verification, in order:
 * 1. the responder is authorized: the ResponderID (byName or byKey) names either the leaf's issuer itself or a
 *    certificate included in the response that the issuer signed, that carries extendedKeyUsage id-kp-OCSPSigning
 *    and is valid now (a delegated responder, §4.2.2.2); anything else is `UnauthorizedResponder`;
 * 2. the BasicOCSPResponse signature verifies with that responder's key over the DER of tbsResponseData as
 *    received (`BadSignature`);
 * 3. a SingleResponse has our CertID (recomputed with the response's hash algorithm) (`CertIdMismatch`);
 * 4. the nonce, when the responder echoed one, equals ours (`NonceMismatch`; no nonce is tolerated, as many
 *    responders pre-sign their answers);
 * 5. thisUpdate is not in the future beyond `skewMs` (`NotYetValid`) and nextUpdate, when present, has not
 *    passed (`Stale`).
 */
import { X509Certificate, constants, verify as verifySignature } from 'node:crypto';
import {
  BasicOCSPResponse,
  OCSPResponse,
  OCSPResponseStatus,
  id_pkix_ocsp_basic,
  id_pkix_ocsp_nonce,
} from '@peculiar/asn1-ocsp';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  type Asn1Node,
  encodingOf,
  explicitContent,
  isContext,
  parseAsn1,
  readAlgorithmIdentifier,
  readSmallInteger,
  sequenceOf,
} from '../x509/der';
import { formatName } from '../x509/distinguished-name';
import {
  type OcspCertId,
  type OcspTarget,
  CERT_ID_DIGESTS,
  certIdOf,
  keyHash,
  sameCertId,
  serialHex,
} from './ocsp-request';
import { SIGNATURE_DIGESTS, crlReasonName } from './signature-tables';

/** What can be wrong with an OCSP answer. */
export const OCSP_PROBLEMS = [
  /** The bytes are not an OCSPResponse. */
  'Malformed',
  /** responseStatus is not `successful` (tryLater, internalError, unauthorized, …). */
  'Unsuccessful',
  /** responseBytes of a type other than id-pkix-ocsp-basic, or a signature algorithm not supported. */
  'Unsupported',
  'UnauthorizedResponder',
  'BadSignature',
  'CertIdMismatch',
  'NonceMismatch',
  'NotYetValid',
  'Stale',
] as const;
export type OcspProblem = (typeof OCSP_PROBLEMS)[number];

/** Thrown by the OCSP decoder and verifier; `problem` is the machine code, the message says what was found. */
export class OcspError extends Error {
  readonly problem: OcspProblem;
  /** For `Unsuccessful`: the responseStatus name. */
  readonly responseStatus?: string;
  constructor(problem: OcspProblem, message: string, options: { responseStatus?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OcspError';
    this.problem = problem;
    if (options.responseStatus) this.responseStatus = options.responseStatus;
  }
}

const RSASSA_PSS = '1.2.840.113549.1.1.10';
const OID_KP_OCSP_SIGNING = '1.3.6.1.5.5.7.3.9';

/** One SingleResponse. */
export interface OcspSingleResponse {
  certId: OcspCertId;
  status: 'good' | 'revoked' | 'unknown';
  revokedAt?: Date;
  /** CRLReason name, when the responder gave one. */
  reason?: string;
  thisUpdate: Date;
  nextUpdate?: Date;
}

/** A decoded (not yet verified) successful basic OCSP response. */
export interface ParsedOcspResponse {
  /** DER of tbsResponseData as received (what the signature covers). */
  tbs: Buffer;
  signatureAlgorithm: string;
  /** The AlgorithmIdentifier's parameters element (RSASSA-PSS), when present. */
  signatureParameters?: Asn1Node;
  signature: Buffer;
  /** DER certificates included by the responder. */
  certs: Buffer[];
  responderId: { byName?: Buffer; byKey?: Buffer };
  producedAt: Date;
  responses: OcspSingleResponse[];
  /** The nonce extension's extnValue, when the responder echoed one. */
  nonce?: Buffer;
}

function buf(ab: ArrayBuffer | ArrayBufferView): Buffer {
  return ArrayBuffer.isView(ab) ? Buffer.from(ab.buffer, ab.byteOffset, ab.byteLength) : Buffer.from(ab);
}

/**
 * Decodes an OCSPResponse. A response whose responseStatus is not `successful` throws `Unsuccessful`.
 * @throws OcspError `Malformed`, `Unsuccessful` or `Unsupported`
 */
export function parseOcspResponse(der: Buffer): ParsedOcspResponse {
  let outer: OCSPResponse;
  try {
    parseAsn1(der); // the bounded reader first: rejects truncation, trailing bytes and absurd nesting
    outer = AsnConvert.parse(der, OCSPResponse);
  } catch (err) {
    throw new OcspError('Malformed', `not an OCSP response (${err instanceof Error ? err.message : String(err)})`, {
      cause: err,
    });
  }
  if (outer.responseStatus !== OCSPResponseStatus.successful) {
    const name = OCSPResponseStatus[outer.responseStatus] ?? `status ${String(outer.responseStatus)}`;
    throw new OcspError('Unsuccessful', `the responder answered ${name}`, { responseStatus: name });
  }
  const bytes = outer.responseBytes;
  if (!bytes) throw new OcspError('Malformed', 'a successful response without responseBytes');
  if (bytes.responseType !== id_pkix_ocsp_basic)
    throw new OcspError('Unsupported', `response type ${bytes.responseType} is not id-pkix-ocsp-basic`);
  const basicDer = buf(bytes.response.buffer);
  let basic: BasicOCSPResponse;
  let sigAlg: ReturnType<typeof readAlgorithmIdentifier>;
  try {
    basic = AsnConvert.parse(basicDer, BasicOCSPResponse);
    sigAlg = readAlgorithmIdentifier(sequenceOf(parseAsn1(basicDer), 'BasicOCSPResponse')[1], 'signatureAlgorithm');
  } catch (err) {
    throw new OcspError(
      'Malformed',
      `BasicOCSPResponse does not decode (${err instanceof Error ? err.message : String(err)})`,
      {
        cause: err,
      }
    );
  }
  if (!basic.tbsResponseDataRaw) throw new OcspError('Malformed', 'tbsResponseData encoding not available');
  const data = basic.tbsResponseData;
  const responses = data.responses.map((r): OcspSingleResponse => {
    const certId: OcspCertId = {
      hashAlgorithm: r.certID.hashAlgorithm.algorithm,
      issuerNameHash: buf(r.certID.issuerNameHash.buffer),
      issuerKeyHash: buf(r.certID.issuerKeyHash.buffer),
      serial: buf(r.certID.serialNumber),
    };
    const s = r.certStatus;
    const common = { certId, thisUpdate: r.thisUpdate, ...(r.nextUpdate ? { nextUpdate: r.nextUpdate } : {}) };
    if (s.revoked) {
      const code = s.revoked.revocationReason?.reason;
      return {
        ...common,
        status: 'revoked',
        revokedAt: s.revoked.revocationTime,
        ...(code === undefined ? {} : { reason: crlReasonName(code) }),
      };
    }
    if (s.good !== undefined) return { ...common, status: 'good' };
    return { ...common, status: 'unknown' };
  });
  const nonceExt = data.responseExtensions?.find((e) => e.extnID === id_pkix_ocsp_nonce);
  const rid = data.responderID;
  return {
    tbs: buf(basic.tbsResponseDataRaw),
    signatureAlgorithm: sigAlg.oid,
    ...(sigAlg.parameters ? { signatureParameters: sigAlg.parameters } : {}),
    signature: buf(basic.signature),
    certs: (basic.certs ?? []).map((c) => Buffer.from(AsnConvert.serialize(c))),
    responderId: {
      ...(rid.byName ? { byName: Buffer.from(AsnConvert.serialize(rid.byName)) } : {}),
      ...(rid.byKey ? { byKey: buf(rid.byKey.buffer) } : {}),
    },
    producedAt: data.producedAt,
    responses,
    ...(nonceExt ? { nonce: buf(nonceExt.extnValue.buffer) } : {}),
  };
}

/** What a verified response says about our certificate. */
export interface OcspAnswer {
  status: 'good' | 'revoked' | 'unknown';
  revokedAt?: Date;
  reason?: string;
  thisUpdate: Date;
  nextUpdate?: Date;
  /** Who signed: the issuer itself or a delegated responder (with its subject). */
  signer: { kind: 'issuer' | 'delegated'; subject: string };
  /** True when the responder echoed our nonce (false: it sent none). */
  nonceEchoed: boolean;
}

export interface OcspVerifyInput {
  target: OcspTarget;
  /** The leaf's issuer certificate. */
  issuer: X509Certificate;
  /** The nonce extnValue we sent, if any. */
  nonce?: Buffer;
  now: Date;
  /** Tolerated clock skew on thisUpdate. @default 300000 (5 min) */
  skewMs?: number;
}

/** Name DER of a certificate's subject. */
function subjectDer(cert: X509Certificate): Buffer {
  const tbs = sequenceOf(sequenceOf(parseAsn1(cert.raw), 'Certificate')[0], 'TBSCertificate');
  const off = isContext(tbs[0], 0) ? 1 : 0;
  return Buffer.from(encodingOf(tbs[off + 4] as Asn1Node));
}

/** The subjectPublicKey BIT STRING value of a certificate. */
function publicKeyBits(cert: X509Certificate): Buffer {
  const tbs = sequenceOf(sequenceOf(parseAsn1(cert.raw), 'Certificate')[0], 'TBSCertificate');
  const off = isContext(tbs[0], 0) ? 1 : 0;
  const spki = sequenceOf(tbs[off + 5], 'subjectPublicKeyInfo');
  const bits = spki[1] as Asn1Node;
  return Buffer.from(bits.buf.subarray(bits.contentStart + 1, bits.contentEnd));
}

function oneLine(name: string): string {
  return name.replace(/\n/g, ', ');
}

function matchesResponderId(cert: X509Certificate, rid: ParsedOcspResponse['responderId']): boolean {
  if (rid.byKey) return keyHash(publicKeyBits(cert)).equals(rid.byKey);
  if (rid.byName) return subjectDer(cert).equals(rid.byName);
  return false;
}

function describeResponderId(rid: ParsedOcspResponse['responderId']): string {
  if (rid.byKey) return `byKey ${rid.byKey.toString('hex')}`;
  if (rid.byName) {
    try {
      return `byName "${formatName(parseAsn1(rid.byName), 'responderID')}"`;
    } catch {
      return 'byName (undecodable)';
    }
  }
  return 'empty';
}

/** RSASSA-PSS parameters → node:crypto options (hash and salt length; MGF1 with the same hash assumed). */
function pssOptions(params: Asn1Node | undefined): { digest: string; saltLength: number } {
  let digest = 'sha1';
  let saltLength = 20;
  if (params) {
    for (const field of sequenceOf(params, 'RSASSA-PSS-params')) {
      if (isContext(field, 0)) {
        const oid = readAlgorithmIdentifier(explicitContent(field, 0, 'hashAlgorithm'), 'hashAlgorithm').oid;
        digest = CERT_ID_DIGESTS[oid] ?? oid;
      } else if (isContext(field, 2))
        saltLength = readSmallInteger(explicitContent(field, 2, 'saltLength'), 'saltLength', 0, 1024);
    }
  }
  return { digest, saltLength };
}

/** True when `key` verifies the response signature. */
function signatureVerifies(r: ParsedOcspResponse, cert: X509Certificate): boolean {
  try {
    if (r.signatureAlgorithm === RSASSA_PSS) {
      const { digest, saltLength } = pssOptions(r.signatureParameters);
      return verifySignature(
        digest,
        r.tbs,
        { key: cert.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength },
        r.signature
      );
    }
    const digest = SIGNATURE_DIGESTS[r.signatureAlgorithm];
    if (digest === undefined) return false;
    return verifySignature(digest, r.tbs, cert.publicKey, r.signature);
  } catch {
    return false;
  }
}

/** The responder certificate and its role, or an UnauthorizedResponder error. */
function authorizedResponder(
  r: ParsedOcspResponse,
  issuer: X509Certificate,
  now: Date
): { cert: X509Certificate; kind: 'issuer' | 'delegated' } {
  if (matchesResponderId(issuer, r.responderId)) return { cert: issuer, kind: 'issuer' };
  const included: X509Certificate[] = [];
  for (const der of r.certs) {
    try {
      included.push(new X509Certificate(der));
    } catch {
      /* junk certificates cannot sign for anybody */
    }
  }
  const responder = included.find((c) => matchesResponderId(c, r.responderId));
  if (!responder)
    throw new OcspError(
      'UnauthorizedResponder',
      `the responder (${describeResponderId(r.responderId)}) is neither the issuer "${oneLine(issuer.subject)}" nor a certificate included in the response`
    );
  if (responder.fingerprint256 === issuer.fingerprint256) return { cert: issuer, kind: 'issuer' };
  const who = `"${oneLine(responder.subject)}"`;
  let issuedByIssuer = false;
  try {
    issuedByIssuer = responder.issuer === issuer.subject && responder.verify(issuer.publicKey);
  } catch {
    issuedByIssuer = false;
  }
  if (!issuedByIssuer)
    throw new OcspError(
      'UnauthorizedResponder',
      `the response is signed by ${who} (issued by "${oneLine(responder.issuer)}"), which is neither the issuer "${oneLine(issuer.subject)}" nor a delegated responder certificate issued by it`
    );
  if (!(responder.keyUsage ?? []).includes(OID_KP_OCSP_SIGNING))
    throw new OcspError(
      'UnauthorizedResponder',
      `the response is signed by ${who}, issued by the issuer but without extendedKeyUsage id-kp-OCSPSigning`
    );
  if (now < new Date(responder.validFrom) || now > new Date(responder.validTo))
    throw new OcspError(
      'UnauthorizedResponder',
      `the delegated responder certificate ${who} is not valid now (${new Date(responder.validFrom).toISOString()} to ${new Date(responder.validTo).toISOString()})`
    );
  return { cert: responder, kind: 'delegated' };
}

/**
 * Verifies a decoded response for one certificate (see the module comment) and returns its status.
 * @throws OcspError
 */
export function verifyOcspResponse(r: ParsedOcspResponse, input: OcspVerifyInput): OcspAnswer {
  const { cert, kind } = authorizedResponder(r, input.issuer, input.now);
  if (r.signatureAlgorithm !== RSASSA_PSS && SIGNATURE_DIGESTS[r.signatureAlgorithm] === undefined)
    throw new OcspError('Unsupported', `signature algorithm ${r.signatureAlgorithm} is not supported`);
  if (!signatureVerifies(r, cert))
    throw new OcspError(
      'BadSignature',
      `the response signature does not verify with the key of ${kind === 'issuer' ? 'the issuer' : 'the delegated responder'} "${oneLine(cert.subject)}"`
    );
  const single = r.responses.find((s) => {
    if (CERT_ID_DIGESTS[s.certId.hashAlgorithm] === undefined) return false;
    return sameCertId(s.certId, certIdOf(input.target, s.certId.hashAlgorithm));
  });
  if (!single)
    throw new OcspError(
      'CertIdMismatch',
      `the response is about serial(s) ${r.responses.map((s) => serialHex(s.certId.serial)).join(', ') || 'none'}, not serial ${serialHex(input.target.serial)} of this issuer`
    );
  let nonceEchoed = false;
  if (r.nonce && input.nonce) {
    if (!r.nonce.equals(input.nonce))
      throw new OcspError('NonceMismatch', 'the response carries a nonce that is not the one sent (replayed answer?)');
    nonceEchoed = true;
  }
  const skew = input.skewMs ?? 300_000;
  if (single.thisUpdate.getTime() > input.now.getTime() + skew)
    throw new OcspError('NotYetValid', `thisUpdate ${single.thisUpdate.toISOString()} is in the future`);
  if (single.nextUpdate && single.nextUpdate.getTime() < input.now.getTime())
    throw new OcspError(
      'Stale',
      `the response is stale: nextUpdate ${single.nextUpdate.toISOString()} has passed (thisUpdate ${single.thisUpdate.toISOString()})`
    );
  return {
    status: single.status,
    ...(single.revokedAt ? { revokedAt: single.revokedAt } : {}),
    ...(single.reason ? { reason: single.reason } : {}),
    thisUpdate: single.thisUpdate,
    ...(single.nextUpdate ? { nextUpdate: single.nextUpdate } : {}),
    signer: { kind, subject: oneLine(cert.subject) },
    nonceEchoed,
  };
}
