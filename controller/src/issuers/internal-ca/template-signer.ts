/**
 * internal-ca: the fast path for issuing many TLS server certificates from one CA (bulk issuance, benchmarks).
 *
 * {@link issueServerCertificate} builds each certificate through @peculiar/x509 (a generic ASN.1 object model on
 * WebCrypto): about 10 ms of CPU per certificate. This module issues the same certificates in about 0.06 ms with
 * an EC P-256 CA, half of it the ECDSA signature (OpenSSL 3.0 has no fast P-384 code: a P-384 CA's signature
 * alone costs ≈ 0.8 ms and an RSA-2048 one ≈ 0.3 ms, so bulk issuance wants a P-256 issuing CA).
 *
 * For one CA it precomputes, once, every DER fragment that does not vary (signature AlgorithmIdentifier, the CA's
 * subject as issuer, basicConstraints, keyUsage, extKeyUsage, authorityKeyIdentifier and the CA's custom C3
 * extensions), and per certificate it only encodes what varies (serial, validity, subject, subjectAltName,
 * subjectKeyIdentifier, subjectPublicKeyInfo), splices the fragments into one TBSCertificate buffer and signs it
 * with Node's native `crypto.sign` (OpenSSL). No generic ASN.1 object model is built per certificate.
 *
 * The certificates are the same as {@link issueServerCertificate}'s for the same input, field for field:
 * - signature: ECDSA-SHA256 (EC-P256 CA), ECDSA-SHA384 (EC-P384 CA), SHA-256 with RSA (RSA CA, NULL parameters);
 * - issuer: the CA certificate's subject, byte for byte; serial: 16 random octets, first octet 0x40..0x7f;
 * - validity: `now` − 5 minutes (clamped to the CA's notBefore) .. `now` + validityDays (capped by the CA's
 *   notAfter), whole seconds, UTCTime through 2049;
 * - subject: C, ST, L, O, OU, CN (C as PrintableString, the rest UTF8String), from the same zod schemas;
 * - extensions, in this order: basicConstraints CA:FALSE (critical), keyUsage digitalSignature (+ keyEncipherment
 *   for RSA subject keys) (critical), extKeyUsage serverAuth, subjectAltName, authorityKeyIdentifier (the CA's key
 *   id), subjectKeyIdentifier (SHA-1 of the subject public key bits), then the CA's cRLDistributionPoints and
 *   authorityInfoAccess when configured.
 *
 * Inputs are validated with the schemas of issue-certificate.ts ({@link subjectSchema}, {@link sanSchema}): the
 * same CF_VALIDATION errors for the same hostile input.
 *
 * Two entry points:
 * - {@link TemplateSigner.issue}: one certificate from untrusted input (validated, any supported subject key).
 * - {@link TemplateSigner.issuePrepared}: the bulk path; the request comes from {@link prepareServerRequest}
 *   (validated once, up front), the key from {@link subjectKeyFromSpki} or a key generator of our own, and the
 *   validity from {@link TemplateSigner.validity} (computed once per batch).
 *
 * A {@link TemplateSignerSpec} is structured-cloneable (a `KeyObject` and buffers), so worker threads can build
 * their own signer with {@link templateSignerFromSpec}.
 */
import { ECDH, X509Certificate, createHash, createPublicKey, randomBytes, KeyObject } from 'node:crypto';
import { z } from 'zod';
import { encodePem, isRsaKeySpec, keySpecOf, type KeySpec } from '@certfleet/shared';
import type { CaExtensions } from '../../domain/certificate-authority';
import { readBitString, readDer, sequence, certificateParts } from './der-reader';
import { der, extension } from './der-writer';
import {
  CLOCK_SKEW_MS,
  caExtensionsSchema,
  invalid,
  loadCa,
  parseOrThrow,
  sanSchema,
  subjectSchema,
  unsupportedSubjectKey,
  type CaKeyPairPem,
  type CertificateSubject,
  type LoadedCa,
  type SubjectAltName,
} from './issue-certificate';
import {
  ExtensionOid,
  authorityInfoAccessValue,
  crlDistributionPointsValue,
  encodeGeneralNames,
  encodeName,
  type NameAttributes,
} from './name-encoding';
import { nodeSigner, type NodeSigner } from './node-signer';

const DAY_MS = 24 * 60 * 60 * 1000;
const SERVER_AUTH_OID = '1.3.6.1.5.5.7.3.1';

// ---------------------------------------------------------------------------------------------------------------
// Requests

/** A subject already checked and normalised by {@link subjectSchema} (values trimmed). */
export type PreparedSubject = z.output<typeof subjectSchema>;

/** A SAN already normalised by {@link sanSchema}: DNS names lower-cased, IP addresses in canonical text. */
export interface PreparedSan {
  type: 'dns' | 'ip';
  value: string;
}

/** A server certificate request validated by {@link prepareServerRequest}: plain data, structured-cloneable. */
export interface PreparedServerRequest {
  subject: PreparedSubject;
  /** 1..100, duplicates removed, order otherwise kept. */
  sans: PreparedSan[];
}

const requestSchema = z.object({
  subject: subjectSchema,
  sans: z.array(sanSchema).min(1, 'at least one SAN is required').max(100, 'at most 100 SANs'),
});

/**
 * Validates and normalises a server certificate's subject and SANs exactly as {@link issueServerCertificate}
 * does (same schemas, same de-duplication).
 * @throws CertFleetError `CF_VALIDATION` (message `internal-ca: invalid certificate request: …`, `details.issues`)
 */
export function prepareServerRequest(input: {
  subject: CertificateSubject;
  sans: SubjectAltName[];
}): PreparedServerRequest {
  const parsed = parseOrThrow(requestSchema, input, 'certificate request');
  const seen = new Set<string>();
  const sans: PreparedSan[] = [];
  for (const san of parsed.sans) {
    const key = `${san.type}:${san.value}`;
    if (seen.has(key)) continue;
    seen.add(key);
    sans.push({ type: san.type, value: san.value });
  }
  return { subject: parsed.subject, sans };
}

// ---------------------------------------------------------------------------------------------------------------
// Subject keys

/** A subject public key ready for the template: its SPKI DER, the key bits (for the SKI) and its {@link KeySpec}. */
export interface SubjectKeyDer {
  spki: Buffer;
  /** The subjectPublicKey BIT STRING contents (an EC point, or an RSAPublicKey), without the unused-bits octet. */
  publicKeyBits: Buffer;
  keySpec: KeySpec;
}

/** SPKI prefixes of uncompressed EC points: SEQUENCE { id-ecPublicKey, namedCurve }, BIT STRING header, 0x00. */
const EC_SPKI = {
  'EC-P256': {
    curve: 'prime256v1',
    prefix: Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'),
    pointLength: 65,
  },
  'EC-P384': {
    curve: 'secp384r1',
    prefix: Buffer.from('3076301006072a8648ce3d020106052b81040022036200', 'hex'),
    pointLength: 97,
  },
} as const;

/** The SPKI DER of an uncompressed EC point (from a key generator that produces raw points). */
export function ecSpki(keySpec: 'EC-P256' | 'EC-P384', point: Buffer): Buffer {
  const t = EC_SPKI[keySpec];
  if (point.length !== t.pointLength || point[0] !== 0x04) throw new TypeError(`not an uncompressed ${keySpec} point`);
  return Buffer.concat([t.prefix, point], t.prefix.length + t.pointLength);
}

function fromPublicKeyObject(key: KeyObject): SubjectKeyDer {
  const keySpec = keySpecOf(key);
  if (keySpec === null) unsupportedSubjectKey(key);
  const spki = key.export({ type: 'spki', format: 'der' });
  const [, bits] = sequence(readDer(spki), 'SubjectPublicKeyInfo');
  return { spki, publicKeyBits: readBitString(bits, 'SubjectPublicKeyInfo.subjectPublicKey'), keySpec };
}

/**
 * Reads a subject public key given as SPKI DER. Uncompressed P-256/P-384 points are recognised by their fixed
 * SPKI prefix and checked to lie on the curve (≈ 16 µs); anything else goes through OpenSSL's decoder
 * (`createPublicKey`, slower) and is re-encoded.
 * @throws CertFleetError `CF_VALIDATION` for unreadable DER or a point off the curve;
 *   `CF_IMPORT_UNSUPPORTED_ALGORITHM` for a key that is not a {@link KeySpec}
 */
export function subjectKeyFromSpki(spki: Buffer): SubjectKeyDer {
  for (const keySpec of ['EC-P256', 'EC-P384'] as const) {
    const t = EC_SPKI[keySpec];
    if (spki.length !== t.prefix.length + t.pointLength || !spki.subarray(0, t.prefix.length).equals(t.prefix)) {
      continue;
    }
    const point = spki.subarray(t.prefix.length);
    try {
      ECDH.convertKey(point, t.curve, undefined, undefined, 'uncompressed');
    } catch (err) {
      invalid(`subject public key is not a point on ${keySpec}`, undefined, err);
    }
    return { spki: Buffer.from(spki), publicKeyBits: Buffer.from(point), keySpec };
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch (err) {
    return invalid('subject public key is not a readable SubjectPublicKeyInfo', undefined, err);
  }
  return fromPublicKeyObject(key);
}

/** What {@link TemplateSigner.issue} accepts as the subject key: SPKI DER, a public `KeyObject`, or a public-key PEM. */
export type SubjectPublicKeyInput = Buffer | KeyObject | string;

function readSubjectKey(input: SubjectPublicKeyInput): SubjectKeyDer {
  if (Buffer.isBuffer(input)) return subjectKeyFromSpki(input);
  if (input instanceof KeyObject) {
    if (input.type !== 'public') invalid(`subject key must be a public key, got a ${input.type} key`);
    return fromPublicKeyObject(input);
  }
  if (typeof input !== 'string') invalid('subject public key must be SPKI DER, a public KeyObject or a PEM');
  // As issueServerCertificate: a PUBLIC KEY (SPKI) or RSA PUBLIC KEY (PKCS#1) PEM; private keys are refused.
  const label = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(input)?.[1];
  if (label !== 'PUBLIC KEY' && label !== 'RSA PUBLIC KEY') {
    invalid(`subjectPublicKeyPem must be a PUBLIC KEY PEM${label ? `, got ${label}` : ''}`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: input, format: 'pem' });
  } catch (err) {
    return invalid('subjectPublicKeyPem is not a readable public key', undefined, err);
  }
  return fromPublicKeyObject(key);
}

// ---------------------------------------------------------------------------------------------------------------
// The signer

/**
 * Everything a template signer needs, as structured-cloneable data (send it to a worker thread with
 * `postMessage`/`workerData`; `KeyObject`s are cloneable). Holds the CA private key: keep it in memory only.
 */
export interface TemplateSignerSpec {
  /** The CA private key (RSA, EC P-256 or EC P-384). */
  caKey: KeyObject;
  /** DER of the CA certificate's subject Name: the issuer of everything signed. */
  issuerName: Buffer;
  /** The CA's key identifier (its SKI), the keyIdentifier of every authorityKeyIdentifier. */
  keyIdentifier: Buffer;
  /** The CA certificate's validity, epoch milliseconds. */
  caNotBefore: number;
  caNotAfter: number;
  /** The CA's custom extensions (C3), already resolved (no `{caId}` placeholder). */
  extensions: CaExtensions;
}

/** A validity period prepared once per batch by {@link TemplateSigner.validity}. */
export interface PreparedValidity {
  notBefore: Date;
  notAfter: Date;
  /** DER `Validity` SEQUENCE. */
  der: Buffer;
}

export interface TemplateIssueRequest {
  subjectPublicKey: SubjectPublicKeyInput;
  subject: CertificateSubject;
  /** At least one; DNS names are lower-cased, IPs canonicalised, duplicates dropped, order otherwise kept. */
  sans: SubjectAltName[];
  /** Issuance time (from the injected clock). */
  now: Date;
  /** Requested lifetime in days (0 < d ≤ 3650), capped by the CA's notAfter. */
  validityDays: number;
  /** Hex serial; a random 128-bit serial when omitted. */
  serial?: string;
}

export interface TemplateIssueResult {
  /** The certificate, DER. */
  der: Buffer;
  /** The certificate, PEM with a trailing newline. */
  certificatePem: string;
  /** Upper-case hex without leading zeros, as Node's `X509Certificate.serialNumber` prints it. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

export interface TemplateSigner {
  readonly spec: TemplateSignerSpec;
  /** The CA key's {@link KeySpec}. */
  readonly caKeySpec: KeySpec;
  /**
   * The validity for certificates issued at `now` for `validityDays`.
   * @throws CertFleetError `CF_VALIDATION` when the CA is not valid at `now` or the period would be empty
   */
  validity(now: Date, validityDays: number): PreparedValidity;
  /**
   * Issues one certificate from untrusted input.
   * @throws CertFleetError `CF_VALIDATION` on bad input; `CF_IMPORT_UNSUPPORTED_ALGORITHM` for a subject key
   *   that is not a {@link KeySpec}
   */
  issue(request: TemplateIssueRequest): TemplateIssueResult;
  /**
   * Issues one certificate from prepared parts (the bulk path: no validation here).
   * `request` must come from {@link prepareServerRequest}, `validity` from {@link TemplateSigner.validity}.
   * `serial` is an upper-case hex serial of our own; random when omitted.
   */
  issuePrepared(
    request: PreparedServerRequest,
    key: SubjectKeyDer,
    validity: PreparedValidity,
    serial?: string
  ): TemplateIssueResult;
}

export interface CreateTemplateSignerOptions {
  /** The issuing CA: PEM key pair, or (already checked, faster) as returned by {@link loadCa}. */
  ca: CaKeyPairPem | LoadedCa;
  /** The CA's custom extensions (C3), resolved. */
  extensions?: CaExtensions;
}

/**
 * Prepares a template signer for one CA: loads and checks the CA as {@link loadCa} does (CA:TRUE, keyCertSign,
 * matching key) and precomputes the fixed DER fragments.
 * @throws CertFleetError `CF_VALIDATION` for an unusable CA or bad extensions
 */
export async function createTemplateSigner(opts: CreateTemplateSignerOptions): Promise<TemplateSigner> {
  const ca =
    (opts.ca as Partial<LoadedCa>).kind === 'loaded-ca' ? (opts.ca as LoadedCa) : await loadCa(opts.ca as CaKeyPairPem);
  const extensions = parseOrThrow(caExtensionsSchema, opts.extensions ?? {}, 'CA extensions');
  let issuerName: Buffer;
  try {
    issuerName = certificateParts(new X509Certificate(ca.certificatePem).raw).subject;
  } catch (err) {
    return invalid('CA certificate structure is not readable', undefined, err);
  }
  return templateSignerFromSpec({
    // Node gives the KeyObject under a (non-extractable) WebCrypto key: native signing with the same key.
    caKey: KeyObject.from(ca.signer.cryptoKey),
    issuerName: Buffer.from(issuerName),
    keyIdentifier: Buffer.from(ca.keyIdentifier, 'hex'),
    caNotBefore: ca.notBefore.getTime(),
    caNotAfter: ca.notAfter.getTime(),
    extensions,
  });
}

/** DER identifier and length octets of an element with `length` content octets. */
function header(tag: number, length: number): Buffer {
  if (length < 0x80) return Buffer.from([tag, length]);
  if (length < 0x100) return Buffer.from([tag, 0x81, length]);
  if (length < 0x10000) return Buffer.from([tag, 0x82, length >> 8, length & 0xff]);
  return Buffer.from([tag, 0x83, length >> 16, (length >> 8) & 0xff, length & 0xff]);
}

/** `[0] EXPLICIT INTEGER 2`: X.509 v3. */
const VERSION_V3 = Buffer.from('a003020102', 'hex');
/** Extension SEQUENCE { subjectKeyIdentifier OID, OCTET STRING { OCTET STRING (20) } } up to the 20 key-id octets. */
const SKI_PREFIX = extension(ExtensionOid.subjectKeyIdentifier, false, der.octetString(Buffer.alloc(20))).subarray(
  0,
  -20
);
const BIT_STRING_NO_UNUSED = Buffer.from([0]);

/** Random octets drawn in blocks: one CSPRNG call per 256 serials instead of one per serial (≈ 5 µs each). */
const SERIAL_POOL_SERIALS = 256;
let serialPool = Buffer.alloc(0);
let serialPoolOffset = 0;

/** 16 random octets, first octet 0x40..0x7f (as issue-certificate.ts's randomSerial): 126 random bits. */
function randomSerialBytes(): Buffer {
  if (serialPoolOffset >= serialPool.length) {
    serialPool = randomBytes(16 * SERIAL_POOL_SERIALS);
    serialPoolOffset = 0;
  }
  const bytes = Buffer.from(serialPool.subarray(serialPoolOffset, serialPoolOffset + 16));
  serialPool.fill(0, serialPoolOffset, serialPoolOffset + 16);
  serialPoolOffset += 16;
  bytes[0] = (bytes[0]! & 0x3f) | 0x40;
  return bytes;
}

const serialSchema = z
  .string()
  .regex(/^[0-9a-fA-F]{1,40}$/, 'must be 1..40 hex digits')
  .transform((v) => v.replace(/^0+/, '').toUpperCase())
  .refine((v) => v.length > 0, 'must not be zero')
  .refine((v) => v.length < 40 || /^[0-7]/.test(v), 'must fit in 20 octets as a positive DER INTEGER');

const issueOptionsSchema = z.object({
  now: z.date(),
  validityDays: z.number().positive().max(3650).finite(),
  serial: serialSchema.optional(),
});

/** Builds a signer from a {@link TemplateSignerSpec} (synchronous; used in worker threads). */
export function templateSignerFromSpec(input: TemplateSignerSpec): TemplateSigner {
  // A spec that crossed a thread boundary carries plain Uint8Arrays where Buffers were: make them Buffers again.
  const asBuffer = (b: Uint8Array): Buffer =>
    Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const spec: TemplateSignerSpec = {
    ...input,
    issuerName: asBuffer(input.issuerName),
    keyIdentifier: asBuffer(input.keyIdentifier),
  };
  const signer: NodeSigner = nodeSigner(spec.caKey);
  const extensions = spec.extensions;
  const sigAlg = signer.algorithmIdentifier;

  // Fixed fragments, in certificate order.
  const basicConstraints = extension(ExtensionOid.basicConstraints, true, der.sequence());
  const keyUsageEc = extension(ExtensionOid.keyUsage, true, der.namedBits([0]));
  const keyUsageRsa = extension(ExtensionOid.keyUsage, true, der.namedBits([0, 2]));
  const extKeyUsage = extension(ExtensionOid.extKeyUsage, false, der.sequence(der.oid(SERVER_AUTH_OID)));
  const beforeSanEc = Buffer.concat([basicConstraints, keyUsageEc, extKeyUsage]);
  const beforeSanRsa = Buffer.concat([basicConstraints, keyUsageRsa, extKeyUsage]);
  const authorityKeyId = extension(
    ExtensionOid.authorityKeyIdentifier,
    false,
    der.sequence(der.implicitPrimitive(0, spec.keyIdentifier))
  );
  const custom: Buffer[] = [];
  if (extensions.crlDistributionPoint) {
    custom.push(
      extension(ExtensionOid.crlDistributionPoints, false, crlDistributionPointsValue(extensions.crlDistributionPoint))
    );
  }
  if (extensions.ocspUrl || extensions.caIssuersUrl) {
    custom.push(
      extension(
        ExtensionOid.authorityInfoAccess,
        false,
        authorityInfoAccessValue({
          ...(extensions.ocspUrl ? { ocspUrl: extensions.ocspUrl } : {}),
          ...(extensions.caIssuersUrl ? { caIssuersUrl: extensions.caIssuersUrl } : {}),
        })
      )
    );
  }
  const afterSki = Buffer.concat(custom);
  const issuerAndPrefix = Buffer.concat([sigAlg, spec.issuerName]);

  function validity(now: Date, validityDays: number): PreparedValidity {
    const t = now.getTime();
    if (!Number.isFinite(t)) invalid('now is not a valid date');
    if (t < spec.caNotBefore - CLOCK_SKEW_MS || t >= spec.caNotAfter) {
      invalid(
        `CA certificate is not valid at ${now.toISOString()} (valid ${new Date(spec.caNotBefore).toISOString()} .. ${new Date(spec.caNotAfter).toISOString()})`
      );
    }
    const whole = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000);
    const notBefore = whole(Math.max(t - CLOCK_SKEW_MS, spec.caNotBefore));
    const notAfter = whole(Math.min(t + validityDays * DAY_MS, spec.caNotAfter));
    if (notAfter.getTime() <= t)
      invalid('validity period is empty (validityDays too small, or the CA expires too soon)');
    return { notBefore, notAfter, der: der.sequence(der.time(notBefore), der.time(notAfter)) };
  }

  function issuePrepared(
    request: PreparedServerRequest,
    key: SubjectKeyDer,
    valid: PreparedValidity,
    serialHex?: string
  ): TemplateIssueResult {
    const serialDer = serialHex === undefined ? null : der.integerFromHex(serialHex);
    const serialBytes = serialDer === null ? randomSerialBytes() : null;
    const serialTlvLength = serialDer ? serialDer.length : 18;
    const subject = encodeName(request.subject as NameAttributes);
    const sanExt = extension(ExtensionOid.subjectAltName, false, encodeGeneralNames(request.sans));
    const ski = createHash('sha1').update(key.publicKeyBits).digest();
    const beforeSan = isRsaKeySpec(key.keySpec) ? beforeSanRsa : beforeSanEc;

    const extsLength =
      beforeSan.length + sanExt.length + authorityKeyId.length + SKI_PREFIX.length + ski.length + afterSki.length;
    const extsSeq = header(0x30, extsLength);
    const extsExplicit = header(0xa3, extsSeq.length + extsLength);
    const tbsContentLength =
      VERSION_V3.length +
      serialTlvLength +
      issuerAndPrefix.length +
      valid.der.length +
      subject.length +
      key.spki.length +
      extsExplicit.length +
      extsSeq.length +
      extsLength;
    const tbsHeader = header(0x30, tbsContentLength);
    const parts: Buffer[] = [tbsHeader, VERSION_V3];
    if (serialDer) parts.push(serialDer);
    else parts.push(Buffer.from([0x02, 0x10]), serialBytes!);
    parts.push(
      issuerAndPrefix,
      valid.der,
      subject,
      key.spki,
      extsExplicit,
      extsSeq,
      beforeSan,
      sanExt,
      authorityKeyId,
      SKI_PREFIX,
      ski,
      afterSki
    );
    const tbs = Buffer.concat(parts, tbsHeader.length + tbsContentLength);

    const signature = signer.sign(tbs);
    const bitString = header(0x03, signature.length + 1);
    const certLength = tbs.length + sigAlg.length + bitString.length + 1 + signature.length;
    const certHeader = header(0x30, certLength);
    const certDer = Buffer.concat(
      [certHeader, tbs, sigAlg, bitString, BIT_STRING_NO_UNUSED, signature],
      certHeader.length + certLength
    );
    const serial = serialBytes
      ? serialBytes.toString('hex').toUpperCase()
      : serialHex!.replace(/^0+(?=.)/, '').toUpperCase();
    return {
      der: certDer,
      certificatePem: encodePem('CERTIFICATE', certDer),
      serial,
      notBefore: valid.notBefore,
      notAfter: valid.notAfter,
    };
  }

  function issue(request: TemplateIssueRequest): TemplateIssueResult {
    const { subjectPublicKey, subject, sans, ...rest } = request;
    const options = parseOrThrow(issueOptionsSchema, rest, 'certificate request');
    const prepared = prepareServerRequest({ subject, sans });
    const key = readSubjectKey(subjectPublicKey);
    return issuePrepared(prepared, key, validity(options.now, options.validityDays), options.serial);
  }

  return { spec, caKeySpec: signer.keySpec, validity, issue, issuePrepared };
}
