/**
 * The pure parts of the OCSP client (SPEC M6): request encoding (round trip through the decoder and through the
 * ASN.1 library), CertID computation, and response verification against responses built here with
 * @peculiar/asn1-ocsp and signed with node:crypto — including what a real responder rarely produces (a wrong
 * nonce, another serial, a future thisUpdate, SHA-256 CertIDs, byKey responder IDs).
 */
import 'reflect-metadata';
import { X509Certificate, createHash, createPrivateKey, sign, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import test from 'ava';
import {
  BasicOCSPResponse,
  CertID,
  CertStatus,
  OCSPRequest,
  OCSPResponse,
  OCSPResponseStatus,
  ResponderID,
  ResponseBytes,
  ResponseData,
  RevokedInfo,
  SingleResponse,
  id_pkix_ocsp_basic,
  id_pkix_ocsp_nonce,
} from '@peculiar/asn1-ocsp';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, CRLReason, Certificate, Extension, Name } from '@peculiar/asn1-x509';
import {
  type OcspTarget,
  OcspError,
  buildOcspRequest,
  certIdOf,
  decodeOcspRequest,
  ocspTarget,
  parseOcspResponse,
  sameCertId,
  serialHex,
  verifyOcspResponse,
} from '@certfleet/shared';
import { type TestCert, testCert } from '../../../_helpers/test-pki';
import { fixtures } from '../checks/_fixtures';

const SHA256 = '2.16.840.1.101.3.4.2.1';

test('M6 OCSP request: encode → decode round trip (SHA-1 CertID over issuer name, issuer key, serial; nonce)', async (t) => {
  const f = await fixtures();
  const target = ocspTarget(f.leaf.der, f.intermediate.der);
  // independent computation of the CertID inputs with @peculiar/asn1-x509
  const leaf = AsnConvert.parse(f.leaf.der, Certificate);
  const issuer = AsnConvert.parse(f.intermediate.der, Certificate);
  t.true(target.issuerName.equals(Buffer.from(AsnConvert.serialize(leaf.tbsCertificate.issuer))));
  t.true(target.issuerKey.equals(Buffer.from(issuer.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey)));
  t.is(serialHex(target.serial), f.leaf.x509.serialNumber.toLowerCase().replace(/^0+/, ''));

  const nonceOctets = Buffer.alloc(32, 7);
  const req = buildOcspRequest(target, { nonce: nonceOctets });
  const decoded = decodeOcspRequest(req.der);
  t.is(decoded.certIds.length, 1);
  const id = decoded.certIds[0];
  t.is(id?.hashAlgorithm, '1.3.14.3.2.26');
  t.true(id?.issuerNameHash.equals(createHash('sha1').update(target.issuerName).digest()));
  t.true(id?.issuerKeyHash.equals(createHash('sha1').update(target.issuerKey).digest()));
  t.true(sameCertId(id as never, req.certId));
  // the nonce extnValue is an OCTET STRING holding the octets (RFC 8954)
  t.is(decoded.nonce?.toString('hex'), `0420${nonceOctets.toString('hex')}`);
  t.deepEqual(decoded.nonce, req.nonce);
  // the library sees the same structure: unsigned, one request, NULL hash parameters
  const lib = AsnConvert.parse(req.der, OCSPRequest);
  t.is(lib.optionalSignature, undefined);
  t.is(lib.tbsRequest.requestList.length, 1);
  t.is(lib.tbsRequest.requestExtensions?.[0]?.extnID, id_pkix_ocsp_nonce);
  t.is(Buffer.from(AsnConvert.serialize(lib)).toString('hex'), req.der.toString('hex'));

  // fresh random nonces by default; none when disabled
  const a = buildOcspRequest(target);
  const b = buildOcspRequest(target);
  t.is(a.nonce?.length, 34);
  t.notDeepEqual(a.nonce, b.nonce);
  const none = buildOcspRequest(target, { nonce: false });
  t.is(none.nonce, undefined);
  t.is(decodeOcspRequest(none.der).nonce, undefined);
});

test('M6 OCSP CertID: serial compared by value (leading zero octets), other hash algorithms recomputed', async (t) => {
  const f = await fixtures();
  const target = ocspTarget(f.leaf.der, f.intermediate.der);
  const padded = { ...certIdOf(target), serial: Buffer.concat([Buffer.from([0]), target.serial]) };
  t.true(sameCertId(padded, certIdOf(target)));
  t.false(sameCertId({ ...certIdOf(target), serial: Buffer.from([1]) }, certIdOf(target)));
  const sha256 = certIdOf(target, SHA256);
  t.is(sha256.issuerKeyHash.length, 32);
  t.false(sameCertId(sha256, certIdOf(target)));
  t.throws(() => certIdOf(target, '1.2.3'), { message: /not supported/ });
});

interface ResponseSpec {
  signer: TestCert;
  target: OcspTarget;
  status?: 'good' | 'revoked' | 'unknown';
  thisUpdate?: Date;
  nextUpdate?: Date;
  nonce?: Buffer;
  byKey?: boolean;
  certs?: TestCert[];
  hashAlgorithm?: string;
  serial?: Buffer;
}

/** A BasicOCSPResponse signed (ECDSA P-256 / SHA-256) by `spec.signer`. */
function response(spec: ResponseSpec): Buffer {
  const id = certIdOf(spec.target, spec.hashAlgorithm);
  const now = new Date();
  const certStatus =
    spec.status === 'revoked'
      ? new CertStatus({
          revoked: new RevokedInfo({
            revocationTime: new Date('2026-11-20T10:00:00Z'),
            revocationReason: new CRLReason(1),
          }),
        })
      : spec.status === 'unknown'
        ? new CertStatus({ unknown: null })
        : new CertStatus({ good: null });
  const signerCert = AsnConvert.parse(spec.signer.der, Certificate);
  const responderID = spec.byKey
    ? new ResponderID({
        byKey: new OctetString(
          createHash('sha1')
            .update(Buffer.from(signerCert.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey))
            .digest()
        ),
      })
    : new ResponderID({ byName: AsnConvert.parse(AsnConvert.serialize(signerCert.tbsCertificate.subject), Name) });
  const data = new ResponseData({
    responderID,
    producedAt: now,
    responses: [
      new SingleResponse({
        certID: new CertID({
          hashAlgorithm: new AlgorithmIdentifier({ algorithm: id.hashAlgorithm, parameters: null }),
          issuerNameHash: new OctetString(id.issuerNameHash),
          issuerKeyHash: new OctetString(id.issuerKeyHash),
          serialNumber: new Uint8Array(spec.serial ?? id.serial).buffer,
        }),
        certStatus,
        thisUpdate: spec.thisUpdate ?? new Date(now.getTime() - 60_000),
        ...(spec.nextUpdate === undefined ? {} : { nextUpdate: spec.nextUpdate }),
      }),
    ],
    ...(spec.nonce
      ? {
          responseExtensions: [
            new Extension({ extnID: id_pkix_ocsp_nonce, critical: false, extnValue: new OctetString(spec.nonce) }),
          ],
        }
      : {}),
  });
  const tbs = Buffer.from(AsnConvert.serialize(data));
  const signature = sign('sha256', tbs, createPrivateKey(spec.signer.key.privateKeyPem));
  const basic = new BasicOCSPResponse({
    tbsResponseData: data,
    signatureAlgorithm: new AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.3.2' }),
    signature: new Uint8Array(signature).buffer,
    ...(spec.certs ? { certs: spec.certs.map((c) => AsnConvert.parse(c.der, Certificate)) } : {}),
  });
  return Buffer.from(
    AsnConvert.serialize(
      new OCSPResponse({
        responseStatus: OCSPResponseStatus.successful,
        responseBytes: new ResponseBytes({
          responseType: id_pkix_ocsp_basic,
          response: new OctetString(AsnConvert.serialize(basic)),
        }),
      })
    )
  );
}

async function setup() {
  const f = await fixtures();
  const target = ocspTarget(f.leaf.der, f.intermediate.der);
  const issuer = new X509Certificate(f.intermediate.der);
  return { f, target, issuer };
}

test('M6 OCSP response: issuer-signed good and revoked answers verify; nonce echoed or absent is fine', async (t) => {
  const { f, target, issuer } = await setup();
  const now = new Date();
  const nonce = buildOcspRequest(target).nonce as Buffer;
  const good = verifyOcspResponse(
    parseOcspResponse(response({ signer: f.intermediate, target, nonce, nextUpdate: new Date(Date.now() + 3600e3) })),
    { target, issuer, nonce, now }
  );
  t.is(good.status, 'good');
  t.is(good.signer.kind, 'issuer');
  t.true(good.nonceEchoed);
  const noNonce = verifyOcspResponse(parseOcspResponse(response({ signer: f.intermediate, target })), {
    target,
    issuer,
    nonce,
    now,
  });
  t.false(noNonce.nonceEchoed);
  const revoked = verifyOcspResponse(
    parseOcspResponse(response({ signer: f.intermediate, target, status: 'revoked', byKey: true })),
    { target, issuer, now }
  );
  t.is(revoked.status, 'revoked');
  t.is(revoked.reason, 'keyCompromise');
  t.is(revoked.revokedAt?.toISOString(), '2026-11-20T10:00:00.000Z');
  // a SHA-256 CertID is matched by recomputing ours with the response's algorithm
  const s256 = verifyOcspResponse(
    parseOcspResponse(response({ signer: f.intermediate, target, hashAlgorithm: SHA256 })),
    {
      target,
      issuer,
      now,
    }
  );
  t.is(s256.status, 'good');
});

test('M6 OCSP response: wrong nonce, other serial, future thisUpdate, passed nextUpdate are refused by code', async (t) => {
  const { f, target, issuer } = await setup();
  const now = new Date();
  const nonce = buildOcspRequest(target).nonce as Buffer;
  const other = buildOcspRequest(target).nonce as Buffer;
  const verify = (spec: Partial<ResponseSpec>, input: { nonce?: Buffer } = {}) =>
    verifyOcspResponse(parseOcspResponse(response({ signer: f.intermediate, target, ...spec })), {
      target,
      issuer,
      now,
      ...input,
    });
  const err = (fn: () => unknown) => t.throws(fn, { instanceOf: OcspError }) as OcspError;
  t.is(err(() => verify({ nonce: other }, { nonce })).problem, 'NonceMismatch');
  const mismatch = err(() => verify({ serial: Buffer.from([0x12, 0x34]) }));
  t.is(mismatch.problem, 'CertIdMismatch');
  t.regex(mismatch.message, /about serial\(s\) 1234, not serial/);
  const future = err(() => verify({ thisUpdate: new Date(now.getTime() + 10 * 60_000) }));
  t.is(future.problem, 'NotYetValid');
  // within the 5 minute skew it is accepted
  t.is(verify({ thisUpdate: new Date(now.getTime() + 60_000) }).status, 'good');
  const stale = err(() =>
    verify({ thisUpdate: new Date(now.getTime() - 7200e3), nextUpdate: new Date(now.getTime() - 1000) })
  );
  t.is(stale.problem, 'Stale');
  t.regex(stale.message, /nextUpdate .* has passed/);
});

test('M6 OCSP response: delegated responder accepted only with OCSPSigning, issued by the issuer', async (t) => {
  const { f, target, issuer } = await setup();
  const now = new Date();
  // a responder certificate issued by the intermediate, with and without id-kp-OCSPSigning
  const responder = await testCert({ subject: 'CN=Unit OCSP Responder', issuer: f.intermediate });
  // testCert puts serverAuth; build one with OCSPSigning by re-signing through @peculiar/x509 directly
  const provider = webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.create>[1];
  const ocspSigner = await x509.X509CertificateGenerator.create(
    {
      serialNumber: '0a0b0c',
      subject: 'CN=Unit OCSP Signer',
      issuer: f.intermediate.subject,
      notBefore: new Date(Date.now() - 86400e3),
      notAfter: new Date(Date.now() + 86400e3),
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      publicKey: responder.key.keys.publicKey,
      signingKey: f.intermediate.key.keys.privateKey,
      extensions: [new x509.ExtendedKeyUsageExtension(['1.3.6.1.5.5.7.3.9'])],
    },
    provider
  );
  const signer: TestCert = {
    ...responder,
    der: Buffer.from(ocspSigner.rawData),
    x509: new X509Certificate(Buffer.from(ocspSigner.rawData)),
  };
  const ok = verifyOcspResponse(parseOcspResponse(response({ signer, target, certs: [signer] })), {
    target,
    issuer,
    now,
  });
  t.is(ok.signer.kind, 'delegated');
  t.is(ok.signer.subject, 'CN=Unit OCSP Signer');

  const noEku = t.throws(
    () =>
      verifyOcspResponse(parseOcspResponse(response({ signer: responder, target, certs: [responder] })), {
        target,
        issuer,
        now,
      }),
    { instanceOf: OcspError }
  );
  t.is(noEku?.problem, 'UnauthorizedResponder');
  t.regex(noEku?.message ?? '', /without extendedKeyUsage id-kp-OCSPSigning/);

  // a responder certificate that is not included: nobody to check the signature with
  const missing = t.throws(
    () => verifyOcspResponse(parseOcspResponse(response({ signer, target })), { target, issuer, now }),
    {
      instanceOf: OcspError,
    }
  );
  t.is(missing?.problem, 'UnauthorizedResponder');
  t.regex(missing?.message ?? '', /neither the issuer .* nor a certificate included in the response/);

  // the other CA's intermediate (valid OCSP-looking signer of a different CA) is refused
  const foreign = t.throws(
    () =>
      verifyOcspResponse(
        parseOcspResponse(response({ signer: f.otherIntermediate, target, certs: [f.otherIntermediate] })),
        {
          target,
          issuer,
          now,
        }
      ),
    { instanceOf: OcspError }
  );
  t.is(foreign?.problem, 'UnauthorizedResponder');
  t.regex(foreign?.message ?? '', /neither the issuer .* nor a delegated responder certificate issued by it/);
});

test('M6 OCSP response: garbage, truncation, unsuccessful status and foreign response types are typed errors', (t) => {
  const problem = (bytes: Buffer): string => {
    try {
      parseOcspResponse(bytes);
      return 'none';
    } catch (err) {
      t.true(err instanceof OcspError, String(err));
      return (err as OcspError).problem;
    }
  };
  t.is(problem(Buffer.from('not der at all')), 'Malformed');
  t.is(problem(Buffer.alloc(0)), 'Malformed');
  t.is(problem(Buffer.from('3082ffff0a0100', 'hex')), 'Malformed');
  t.is(problem(Buffer.from('30030a0101', 'hex')), 'Unsuccessful'); // malformedRequest
  t.is(problem(Buffer.from('30030a0106', 'hex')), 'Unsuccessful'); // unauthorized
  const foreignType = Buffer.from(
    AsnConvert.serialize(
      new OCSPResponse({
        responseStatus: OCSPResponseStatus.successful,
        responseBytes: new ResponseBytes({ responseType: '1.2.3.4', response: new OctetString(Buffer.from([5, 0])) }),
      })
    )
  );
  t.is(problem(foreignType), 'Unsupported');
  t.is(problem(Buffer.from('3000', 'hex')), 'Malformed');
});
