/**
 * OCSP requests (RFC 6960 §4.1, SPEC M6): one `Request` for the leaf, identified by a `CertID` over the leaf's
 * issuer Name, the issuer's public key and the leaf's serial number, hashed with SHA-1 (what responders expect:
 * RFC 5019 §2.1.1 profiles SHA-1 CertIDs, and many responders know no other), with an RFC 8954 nonce extension
 * (32 random octets) unless disabled. Unsigned, no requestorName. Encoded with @peculiar/asn1-ocsp.
 */
import { createHash, randomBytes } from 'node:crypto';
import { CertID, OCSPRequest, Request, TBSRequest, id_pkix_ocsp_nonce } from '@peculiar/asn1-ocsp';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Extension } from '@peculiar/asn1-x509';
import {
  type Asn1Node,
  UniversalTag,
  contentOf,
  encodingOf,
  isContext,
  parseAsn1,
  readBitStringBytes,
  sequenceOf,
  expectUniversal,
} from '../x509/der';

/** OID of SHA-1, the CertID hash used in requests. */
export const OID_SHA1 = '1.3.14.3.2.26';

/** CertID hash algorithms understood in responses → node:crypto digest name. */
export const CERT_ID_DIGESTS: Readonly<Record<string, string>> = {
  [OID_SHA1]: 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

/** Nonce length (RFC 8954 §2.1: 1 to 32 octets; 32 recommended). */
export const OCSP_NONCE_BYTES = 32;

/** What a CertID is computed from (so a response's CertID can be recomputed with its own hash algorithm). */
export interface OcspTarget {
  /** DER of the leaf's `issuer` Name, exactly as encoded in the leaf. */
  issuerName: Buffer;
  /** The issuer's subjectPublicKey BIT STRING value (no tag, length or unused-bits octet). */
  issuerKey: Buffer;
  /** Content octets of the leaf's serialNumber INTEGER (as encoded, leading zero included). */
  serial: Buffer;
}

/** A CertID, decoded or computed. */
export interface OcspCertId {
  /** OID of the hash algorithm. */
  hashAlgorithm: string;
  issuerNameHash: Buffer;
  issuerKeyHash: Buffer;
  /** Content octets of the serialNumber INTEGER. */
  serial: Buffer;
}

function tbsFields(certDer: Buffer): Asn1Node[] {
  return sequenceOf(sequenceOf(parseAsn1(certDer), 'Certificate')[0], 'TBSCertificate');
}

/**
 * The CertID material of `leafDer` issued by `issuerDer` (both DER certificates). The caller has checked that the
 * issuer really issued the leaf.
 * @throws DecodeError when either certificate is malformed
 */
export function ocspTarget(leafDer: Buffer, issuerDer: Buffer): OcspTarget {
  const leaf = tbsFields(leafDer);
  const off = isContext(leaf[0], 0) ? 1 : 0;
  const serialNode = expectUniversal(leaf[off], UniversalTag.integer, 'serialNumber');
  const issuerName = encodingOf(leaf[off + 2] as Asn1Node);
  const issuer = tbsFields(issuerDer);
  const ioff = isContext(issuer[0], 0) ? 1 : 0;
  const spki = sequenceOf(issuer[ioff + 5], 'subjectPublicKeyInfo');
  return {
    issuerName: Buffer.from(issuerName),
    issuerKey: Buffer.from(readBitStringBytes(spki[1], 'subjectPublicKey')),
    serial: Buffer.from(contentOf(serialNode)),
  };
}

/** The SHA-1 of a public key BIT STRING value (`KeyHash`, RFC 6960 §4.2.1; also the ResponderID byKey). */
export function keyHash(issuerKey: Buffer): Buffer {
  return createHash('sha1').update(issuerKey).digest();
}

/**
 * The CertID of `target` with hash algorithm `hashOid` (SHA-1 by default).
 * @throws Error for a hash algorithm not in {@link CERT_ID_DIGESTS}
 */
export function certIdOf(target: OcspTarget, hashOid: string = OID_SHA1): OcspCertId {
  const digest = CERT_ID_DIGESTS[hashOid];
  if (!digest) throw new Error(`CertID hash algorithm ${hashOid} is not supported`);
  return {
    hashAlgorithm: hashOid,
    issuerNameHash: createHash(digest).update(target.issuerName).digest(),
    issuerKeyHash: createHash(digest).update(target.issuerKey).digest(),
    serial: target.serial,
  };
}

/** Serial content octets without leading zero octets, lowercase hex (for comparison and messages). */
export function serialHex(serial: Buffer): string {
  const hex = serial.toString('hex').replace(/^(?:00)+(?=.)/, '');
  return hex === '' ? '0' : hex;
}

/** True when two CertIDs name the same certificate (same algorithm, hashes and serial value). */
export function sameCertId(a: OcspCertId, b: OcspCertId): boolean {
  return (
    a.hashAlgorithm === b.hashAlgorithm &&
    a.issuerNameHash.equals(b.issuerNameHash) &&
    a.issuerKeyHash.equals(b.issuerKeyHash) &&
    serialHex(a.serial) === serialHex(b.serial)
  );
}

/** A built request. */
export interface BuiltOcspRequest {
  der: Buffer;
  certId: OcspCertId;
  /** The nonce extension's extnValue (DER OCTET STRING of the random octets), when one was sent. */
  nonce?: Buffer;
}

/**
 * Encodes an OCSPRequest for one CertID (SHA-1 by default), with a fresh nonce unless `nonce` is false (or with the
 * given nonce octets, for tests).
 * @example const req = buildOcspRequest(ocspTarget(leafDer, issuerDer)); await post(url, req.der)
 */
export function buildOcspRequest(
  target: OcspTarget,
  opts: { nonce?: boolean | Buffer; hashAlgorithm?: string } = {}
): BuiltOcspRequest {
  const certId = certIdOf(target, opts.hashAlgorithm ?? OID_SHA1);
  const request = new Request({
    reqCert: new CertID({
      // NULL parameters, as OpenSSL and RFC 5754 §2 encode SHA-1 in a CertID
      hashAlgorithm: new AlgorithmIdentifier({ algorithm: certId.hashAlgorithm, parameters: null }),
      issuerNameHash: new OctetString(certId.issuerNameHash),
      issuerKeyHash: new OctetString(certId.issuerKeyHash),
      serialNumber: new Uint8Array(certId.serial).buffer,
    }),
  });
  const tbs = new TBSRequest({ requestList: [request] });
  let nonce: Buffer | undefined;
  if (opts.nonce !== false) {
    const octets = Buffer.isBuffer(opts.nonce) ? opts.nonce : randomBytes(OCSP_NONCE_BYTES);
    nonce = Buffer.from(AsnConvert.serialize(new OctetString(octets)));
    tbs.requestExtensions = [
      new Extension({ extnID: id_pkix_ocsp_nonce, critical: false, extnValue: new OctetString(nonce) }),
    ];
  }
  const der = Buffer.from(AsnConvert.serialize(new OCSPRequest({ tbsRequest: tbs })));
  return { der, certId, ...(nonce ? { nonce } : {}) };
}

/** The CertIDs and the nonce of an encoded OCSPRequest (round-trip checks, logs). */
export function decodeOcspRequest(der: Buffer): { certIds: OcspCertId[]; nonce?: Buffer } {
  const req = AsnConvert.parse(der, OCSPRequest);
  const certIds = req.tbsRequest.requestList.map((r) => ({
    hashAlgorithm: r.reqCert.hashAlgorithm.algorithm,
    issuerNameHash: Buffer.from(r.reqCert.issuerNameHash.buffer),
    issuerKeyHash: Buffer.from(r.reqCert.issuerKeyHash.buffer),
    serial: Buffer.from(r.reqCert.serialNumber),
  }));
  const ext = req.tbsRequest.requestExtensions?.find((e) => e.extnID === id_pkix_ocsp_nonce);
  return { certIds, ...(ext ? { nonce: Buffer.from(ext.extnValue.buffer) } : {}) };
}
