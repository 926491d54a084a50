/**
 * internal-ca: the signing core of CertFleet's built-in private CA (SPEC C2, U3). Pure: no I/O, no storage.
 *
 * Supports
 * - CA keys: RSA-2048/3072/4096 (SHA-256 with RSA) and EC-P256 (ECDSA-SHA256) / EC-P384 (ECDSA-SHA384).
 * - Subject keys: any {@link KeySpec}; only the subject's public key comes from the caller's key material,
 *   everything else in the certificate (DN, SANs, validity, extensions) comes from the options, so the later
 *   CSR path reads nothing but the public key from a CSR.
 * - Issued server certificates carry: basicConstraints CA:FALSE (critical), keyUsage digitalSignature
 *   (+ keyEncipherment for RSA keys) (critical), extKeyUsage serverAuth, subjectAltName (DNS / IP), AKI, SKI.
 *   notBefore is `now` − 5 minutes (clock skew); notAfter is `now` + validityDays, capped by the CA's notAfter.
 * - Client certificates for console users (C5, {@link issueClientCertificate}): the same profile with
 *   extKeyUsage clientAuth, keyUsage digitalSignature only, subject CN = the user name, and no SAN.
 * - Custom extensions (C3), per CA, on both kinds: cRLDistributionPoints (one URI) and authorityInfoAccess
 *   (OCSP and/or caIssuers URIs), never critical.
 *
 * Signing runs on Node's WebCrypto through @peculiar/x509. A CA used for many issuances should be loaded once
 * with {@link loadCa} and the {@link LoadedCa} passed as `ca`, which skips re-parsing the CA certificate and
 * re-importing its key on every call.
 */
import 'reflect-metadata';
import { createPrivateKey, createPublicKey, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';
import { z } from 'zod';
import {
  CertFleetError,
  importSigningKey,
  isRsaKeySpec,
  keySpecOf,
  type KeySpec,
  type WebCryptoSigningKey,
} from '@certfleet/shared';
import type { CaExtensions } from '../../domain/certificate-authority';
import { ExtensionOid, authorityInfoAccessValue, crlDistributionPointsValue } from './name-encoding';

/** @peculiar/x509 takes a DOM `Crypto`; Node's `webcrypto` is the same API under Node's own type names. */
export const nodeCrypto = webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.create>[1];

/** Clock-skew allowance: issued certificates are valid from five minutes before `now`. */
export const CLOCK_SKEW_MS = 5 * 60 * 1000;

const DAY_MS = 24 * 60 * 60 * 1000;

/** A CA certificate and its private key, both PEM (the key as PKCS#8, PKCS#1 or SEC1, unencrypted). */
export interface CaKeyPairPem {
  certificatePem: string;
  privateKeyPem: string;
}

/**
 * A CA prepared for signing by {@link loadCa}: certificate parsed, key imported into WebCrypto, key match and CA
 * flags checked. Holds a non-extractable signing key; keep it in memory only.
 */
export interface LoadedCa {
  readonly kind: 'loaded-ca';
  readonly certificatePem: string;
  readonly certificate: x509.X509Certificate;
  readonly signer: WebCryptoSigningKey;
  /** Hex subject key identifier of the CA, used as the authority key identifier of what it signs. */
  readonly keyIdentifier: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

// ---------------------------------------------------------------------------------------------------------------
// Validation

/** Internal helper: throws the module's CF_VALIDATION error. */
export function invalid(message: string, details?: Record<string, unknown>, cause?: unknown): never {
  throw new CertFleetError('CF_VALIDATION', `internal-ca: ${message}`, {
    ...(details ? { details } : {}),
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Parses `input` with `schema`, turning zod issues into one CF_VALIDATION error naming each bad path. */
export function parseOrThrow<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({
    path: issue.path.map(String).join('.'),
    message: issue.message,
  }));
  const summary = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
  return invalid(`invalid ${what}: ${summary}`, { issues }, result.error);
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Why `name` (already lower-cased) is not an acceptable DNS SAN, or `null` when it is.
 * RFC 1123 host names: labels of 1–63 letters, digits and inner hyphens, 253 characters in all, a top label
 * that is not all digits (so an IPv4 address is not mistaken for a name). A wildcard is allowed only as the
 * whole left-most label, with at least two labels after it (`*.example.com`, not `*.com` or `foo*.example.com`).
 * Internationalised names must be given in A-label form (`xn--…`).
 */
export function dnsNameProblem(name: string): string | null {
  if (name.length === 0) return 'is empty';
  if (name.length > 253) return 'is longer than 253 characters';
  if (name.endsWith('.')) return 'must not end with a dot';
  const labels = name.split('.');
  const isWildcard = labels[0] === '*';
  const rest = isWildcard ? labels.slice(1) : labels;
  if (isWildcard && rest.length < 2) return 'wildcard needs at least two labels after "*."';
  for (const label of rest) {
    if (label.includes('*')) return 'a wildcard is only allowed as the whole left-most label';
    if (!LABEL.test(label)) {
      // eslint-disable-next-line no-control-regex
      if (/[^\x00-\x7f]/.test(label)) return 'must be ASCII (give internationalised names as xn-- A-labels)';
      return `label "${label}" is not a valid RFC 1123 label`;
    }
  }
  if (/^\d+$/.test(rest[rest.length - 1] ?? '')) return 'top-level label must not be all digits (use type "ip")';
  return null;
}

/** Canonical text of an IPv4 or IPv6 address (IPv6 compressed, lower case), or `null` when `value` is not one. */
export function canonicalIp(value: string): string | null {
  if (value.includes('%')) return null; // zone ids (fe80::1%eth0) have no meaning in a certificate
  const family = isIP(value);
  if (family === 4) return value; // net.isIPv4 already refuses leading zeros and out-of-range octets
  if (family === 6) {
    // The WHATWG URL serializer gives RFC 5952 form and rewrites embedded IPv4 (::ffff:1.2.3.4) as hex groups.
    return new URL(`http://[${value}]/`).hostname.slice(1, -1);
  }
  return null;
}

/** One subject alternative name: a DNS name (wildcard allowed as the left label) or an IPv4/IPv6 address. */
export const sanSchema = z
  .discriminatedUnion('type', [
    z.object({
      type: z.literal('dns'),
      value: z
        .string()
        .transform((v) => v.toLowerCase())
        .superRefine((v, ctx) => {
          const problem = dnsNameProblem(v);
          if (problem) ctx.addIssue({ code: 'custom', message: `DNS name "${v}" ${problem}` });
        }),
    }),
    z.object({
      type: z.literal('ip'),
      value: z.string().transform((v, ctx) => {
        const ip = canonicalIp(v);
        if (ip === null) {
          ctx.addIssue({ code: 'custom', message: `"${v}" is not an IPv4 or IPv6 address` });
          return z.NEVER;
        }
        return ip;
      }),
    }),
  ])
  .describe(
    'Subject alternative name: { type: "dns", value: "www.example.com" | "*.example.com" } or { type: "ip", value }'
  );

export type SubjectAltName = z.input<typeof sanSchema>;

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** A DN attribute value: trimmed, 1..max characters, no control characters (X.520 upper bounds). */
function dnValue(max: number) {
  return z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine((v) => !CONTROL_CHARS.test(v), 'must not contain control characters');
}

/** The subject DN fields CertFleet puts in a server certificate. */
export const subjectSchema = z
  .object({
    commonName: dnValue(64),
    organization: dnValue(64).optional(),
    organizationalUnit: dnValue(64).optional(),
    country: z
      .string()
      .regex(/^[A-Z]{2}$/, 'must be an ISO 3166 two-letter upper-case code')
      .optional(),
    locality: dnValue(128).optional(),
    state: dnValue(128).optional(),
  })
  .strict();

export type CertificateSubject = z.input<typeof subjectSchema>;

/** Upper-case hex serial, positive, at most 20 octets DER (RFC 5280 §4.1.2.2); leading zeros are dropped. */
const serialSchema = z
  .string()
  .regex(/^[0-9a-fA-F]{1,40}$/, 'must be 1..40 hex digits')
  .transform((v) => v.replace(/^0+/, '').toUpperCase())
  .refine((v) => v.length > 0, 'must not be zero')
  .refine((v) => v.length < 40 || /^[0-7]/.test(v), 'must fit in 20 octets as a positive DER INTEGER');

const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;

/** A URL put into a certificate extension: http(s) or ldap, printable ASCII (IA5String), at most 2000 chars. */
export const extensionUrlSchema = z
  .string()
  .trim()
  .min(1)
  .max(2000)
  .regex(PRINTABLE_ASCII, 'must be printable ASCII without spaces (percent-encode anything else)')
  .refine((v) => /^(https?|ldap):\/\//i.test(v) && URL.canParse(v), 'must be an absolute http(s):// or ldap:// URL');

/** The per-CA custom extensions (SPEC C3). Every field is optional; an empty object adds nothing. */
export const caExtensionsSchema = z
  .object({
    crlDistributionPoint: extensionUrlSchema.optional().describe('CRL distribution point URI (cRLDistributionPoints)'),
    caIssuersUrl: extensionUrlSchema.optional().describe('AIA caIssuers URI: where the CA certificate can be fetched'),
    ocspUrl: extensionUrlSchema.optional().describe('AIA OCSP responder URI'),
  })
  .strict();

const optionsSchema = z.object({
  subjectPublicKeyPem: z.string().min(1),
  subject: subjectSchema,
  sans: z.array(sanSchema).min(1, 'at least one SAN is required').max(100, 'at most 100 SANs'),
  now: z.date(),
  validityDays: z.number().positive().max(3650).finite(),
  serial: serialSchema.optional(),
  extensions: caExtensionsSchema.optional(),
});

/** A console user name as a client certificate's CN: 1..64 characters, no control characters. */
const clientOptionsSchema = optionsSchema.omit({ subject: true, sans: true }).extend({
  username: z
    .string()
    .min(1)
    .max(64)
    .refine((v) => !CONTROL_CHARS.test(v) && v.trim() === v, 'must not contain control characters or edge spaces'),
});

// ---------------------------------------------------------------------------------------------------------------
// Shared helpers (also used by root-ca.ts)

/**
 * A random positive serial of 16 octets (126 random bits) as upper-case hex. The first octet is 0x40..0x7f: no
 * sign padding, no leading zero, so every serial has the same 32-digit form in every tool.
 */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x3f) | 0x40;
  return bytes.toString('hex').toUpperCase();
}

/** The hex form @peculiar/x509 takes for a serial: an even number of digits. */
export function serialToEvenHex(serial: string): string {
  return serial.length % 2 === 0 ? serial : `0${serial}`;
}

/** Date truncated to whole seconds, as X.509 Time stores it. */
export function toWholeSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

/** PEM of a certificate with exactly one trailing newline (@peculiar/x509 emits none). */
export function certificateToPem(cert: x509.X509Certificate): string {
  return `${cert.toString('pem').replace(/\r\n/g, '\n').trimEnd()}\n`;
}

const OID = { C: '2.5.4.6', ST: '2.5.4.8', L: '2.5.4.7', O: '2.5.4.10', OU: '2.5.4.11', CN: '2.5.4.3' } as const;
type DnAttribute = keyof typeof OID;

/**
 * Builds a DN in the conventional ASN.1 order (C, ST, L, O, OU, CN). Values are set as explicit string types
 * (PrintableString for C, UTF8String otherwise), so no text is ever parsed as DN syntax: a value with ",", "+"
 * or a leading "#" stays literal.
 */
export function buildName(attrs: Partial<Record<DnAttribute, string>>): x509.Name {
  const rdns: x509.JsonNameParams = [];
  for (const key of ['C', 'ST', 'L', 'O', 'OU', 'CN'] as const) {
    const value = attrs[key];
    if (value === undefined) continue;
    rdns.push({ [OID[key]]: [key === 'C' ? { printableString: value } : { utf8String: value }] });
  }
  return new x509.Name(rdns);
}

/** RFC 4514 text of the same attributes, most specific first (`CN=…, O=…, C=…`), values escaped. */
export function formatName(attrs: Partial<Record<DnAttribute, string>>): string {
  const escape = (v: string): string =>
    v
      .replace(/[\\",+;<>=]/g, (c) => `\\${c}`)
      .replace(/^[#\s]/, (c) => `\\${c}`)
      .replace(/\s$/, (c) => `\\${c}`);
  return (['CN', 'OU', 'O', 'L', 'ST', 'C'] as const)
    .filter((k) => attrs[k] !== undefined)
    .map((k) => `${k}=${escape(attrs[k]!)}`)
    .join(', ');
}

// ---------------------------------------------------------------------------------------------------------------
// CA loading

/**
 * Parses and checks a CA for signing: the certificate must be a CA (basicConstraints CA:TRUE, and keyCertSign
 * when keyUsage is present) and the private key must belong to it.
 *
 * @throws CertFleetError `CF_VALIDATION` on unreadable PEM, a non-CA certificate or a key that does not match;
 *   `CF_IMPORT_UNSUPPORTED_ALGORITHM` when the CA key is not a {@link KeySpec}.
 */
export async function loadCa(ca: CaKeyPairPem): Promise<LoadedCa> {
  let certificate: x509.X509Certificate;
  try {
    certificate = new x509.X509Certificate(ca.certificatePem);
  } catch (err) {
    return invalid('CA certificate is not a readable X.509 certificate', undefined, err);
  }
  const basic = certificate.getExtension(x509.BasicConstraintsExtension);
  if (!basic?.ca) invalid('CA certificate lacks basicConstraints CA:TRUE');
  const keyUsage = certificate.getExtension(x509.KeyUsagesExtension);
  if (keyUsage && (keyUsage.usages & x509.KeyUsageFlags.keyCertSign) === 0) {
    invalid('CA certificate keyUsage does not allow keyCertSign');
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(ca.privateKeyPem);
  } catch (err) {
    return invalid('CA private key is not a readable unencrypted private key', undefined, err);
  }
  const certKey = createPublicKey({ key: Buffer.from(certificate.publicKey.rawData), format: 'der', type: 'spki' });
  if (!certKey.equals(createPublicKey(privateKey))) invalid('CA private key does not match the CA certificate');
  const signer = await importSigningKey(privateKey);

  const ski = certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  const keyIdentifier =
    ski?.keyId ?? Buffer.from(await certificate.publicKey.getKeyIdentifier(nodeCrypto)).toString('hex');
  return {
    kind: 'loaded-ca',
    certificatePem: ca.certificatePem,
    certificate,
    signer,
    keyIdentifier,
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
  };
}

function isLoadedCa(ca: CaKeyPairPem | LoadedCa): ca is LoadedCa {
  return (ca as Partial<LoadedCa>).kind === 'loaded-ca';
}

// ---------------------------------------------------------------------------------------------------------------
// Issuance

export interface IssueServerCertificateOptions {
  /** The issuing CA, as PEM or (faster for repeated use) as returned by {@link loadCa}. */
  ca: CaKeyPairPem | LoadedCa;
  /** SPKI `-----BEGIN PUBLIC KEY-----` (or PKCS#1 `RSA PUBLIC KEY`) of the subject. Private keys are refused. */
  subjectPublicKeyPem: string;
  subject: CertificateSubject;
  /** At least one; DNS names are lower-cased, IPs canonicalised, duplicates dropped, order otherwise kept. */
  sans: SubjectAltName[];
  /** Issuance time (from the injected clock). */
  now: Date;
  /** Requested lifetime in days (0 < d ≤ 3650), capped by the CA's notAfter. */
  validityDays: number;
  /** Hex serial; a random 128-bit serial when omitted. */
  serial?: string;
  /** The issuing CA's custom extensions (C3): CRL distribution point, AIA caIssuers / OCSP URLs. */
  extensions?: CaExtensions;
}

export interface IssueServerCertificateResult {
  /** The leaf certificate, PEM with a trailing newline. */
  certificatePem: string;
  /** Upper-case hex without leading zeros, as Node's `X509Certificate.serialNumber` prints it. */
  serial: string;
  notBefore: Date;
  /** May be earlier than `now + validityDays` when capped by the CA's notAfter. */
  notAfter: Date;
}

/** Throws CF_IMPORT_UNSUPPORTED_ALGORITHM for a subject key outside the five key specs, naming what it is. */
export function unsupportedSubjectKey(key: KeyObject): never {
  const details = key.asymmetricKeyDetails;
  throw new CertFleetError(
    'CF_IMPORT_UNSUPPORTED_ALGORITHM',
    'internal-ca: subject public key is not RSA-2048/3072/4096 or EC P-256/P-384',
    {
      details: {
        algorithm: key.asymmetricKeyType ?? 'unknown',
        ...(details?.modulusLength ? { modulusLength: details.modulusLength } : {}),
        ...(details?.namedCurve ? { namedCurve: details.namedCurve } : {}),
      },
    }
  );
}

/** Reads the subject public key: must be a public-key PEM (not a private key or certificate) of a {@link KeySpec}. */
function readSubjectPublicKey(pem: string): { keyObject: KeyObject; keySpec: KeySpec; spki: Buffer } {
  const label = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(pem)?.[1];
  if (label !== 'PUBLIC KEY' && label !== 'RSA PUBLIC KEY') {
    invalid(`subjectPublicKeyPem must be a PUBLIC KEY PEM${label ? `, got ${label}` : ''}`);
  }
  let keyObject: KeyObject;
  try {
    keyObject = createPublicKey({ key: pem, format: 'pem' });
  } catch (err) {
    return invalid('subjectPublicKeyPem is not a readable public key', undefined, err);
  }
  const keySpec = keySpecOf(keyObject);
  if (keySpec === null) unsupportedSubjectKey(keyObject);
  return { keyObject, keySpec, spki: keyObject.export({ type: 'spki', format: 'der' }) };
}

/**
 * Issues a TLS server certificate signed by `ca` (SPEC C2, U3).
 *
 * @throws CertFleetError `CF_VALIDATION` (message `internal-ca: …`, `details.issues` for field errors) on bad
 *   input, a CA that is not valid at `now`, or an unusable CA; `CF_IMPORT_UNSUPPORTED_ALGORITHM` for a subject
 *   or CA key that is not a {@link KeySpec}. Never retryable: the same input gives the same answer.
 * @example
 * const { certificatePem, serial } = await issueServerCertificate({
 *   ca, subjectPublicKeyPem, subject: { commonName: 'www.example.com' },
 *   sans: [{ type: 'dns', value: 'www.example.com' }], now: clock.now(), validityDays: 90,
 * });
 */
export async function issueServerCertificate(
  opts: IssueServerCertificateOptions
): Promise<IssueServerCertificateResult> {
  const { ca: caInput, ...rest } = opts;
  const input = parseOrThrow(optionsSchema, rest, 'certificate request');
  const seen = new Set<string>();
  const sans = input.sans.filter((san) => {
    const key = `${san.type}:${san.value}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return signLeaf(caInput, {
    profile: 'server',
    subjectPublicKeyPem: input.subjectPublicKeyPem,
    subjectName: buildName({
      C: input.subject.country,
      ST: input.subject.state,
      L: input.subject.locality,
      O: input.subject.organization,
      OU: input.subject.organizationalUnit,
      CN: input.subject.commonName,
    }),
    sans,
    now: input.now,
    validityDays: input.validityDays,
    serial: input.serial,
    extensions: input.extensions,
  });
}

export interface IssueClientCertificateOptions {
  /** The issuing CA, as PEM or as returned by {@link loadCa}. */
  ca: CaKeyPairPem | LoadedCa;
  /** SPKI PEM of the user's key. */
  subjectPublicKeyPem: string;
  /** The console user name: becomes the subject CN (1..64 characters). */
  username: string;
  now: Date;
  /** Requested lifetime in days (0 < d ≤ 3650), capped by the CA's notAfter. */
  validityDays: number;
  serial?: string;
  /** The issuing CA's custom extensions (C3). */
  extensions?: CaExtensions;
}

/**
 * Issues a TLS client certificate for a console user (SPEC C5, U4): subject `CN=<username>`, extKeyUsage
 * clientAuth, keyUsage digitalSignature, basicConstraints CA:FALSE, AKI/SKI, the CA's custom extensions.
 *
 * @throws CertFleetError as {@link issueServerCertificate}.
 */
export async function issueClientCertificate(
  opts: IssueClientCertificateOptions
): Promise<IssueServerCertificateResult> {
  const { ca: caInput, ...rest } = opts;
  const input = parseOrThrow(clientOptionsSchema, rest, 'client certificate request');
  return signLeaf(caInput, {
    profile: 'client',
    subjectPublicKeyPem: input.subjectPublicKeyPem,
    subjectName: buildName({ CN: input.username }),
    sans: [],
    now: input.now,
    validityDays: input.validityDays,
    serial: input.serial,
    extensions: input.extensions,
  });
}

interface LeafParams {
  profile: 'server' | 'client';
  subjectPublicKeyPem: string;
  subjectName: x509.Name;
  sans: Array<{ type: 'dns' | 'ip'; value: string }>;
  now: Date;
  validityDays: number;
  serial: string | undefined;
  extensions: CaExtensions | undefined;
}

/** The C3 extensions as @peculiar/x509 raw extensions (DER built by name-encoding.ts). */
function customExtensions(extensions: CaExtensions | undefined): x509.Extension[] {
  const out: x509.Extension[] = [];
  if (!extensions) return out;
  if (extensions.crlDistributionPoint) {
    out.push(
      new x509.Extension(
        ExtensionOid.crlDistributionPoints,
        false,
        crlDistributionPointsValue(extensions.crlDistributionPoint)
      )
    );
  }
  if (extensions.ocspUrl || extensions.caIssuersUrl) {
    out.push(
      new x509.Extension(
        ExtensionOid.authorityInfoAccess,
        false,
        authorityInfoAccessValue({
          ...(extensions.ocspUrl ? { ocspUrl: extensions.ocspUrl } : {}),
          ...(extensions.caIssuersUrl ? { caIssuersUrl: extensions.caIssuersUrl } : {}),
        })
      )
    );
  }
  return out;
}

async function signLeaf(caInput: CaKeyPairPem | LoadedCa, p: LeafParams): Promise<IssueServerCertificateResult> {
  const subjectKey = readSubjectPublicKey(p.subjectPublicKeyPem);
  const ca = isLoadedCa(caInput) ? caInput : await loadCa(caInput);

  const now = p.now.getTime();
  if (now < ca.notBefore.getTime() - CLOCK_SKEW_MS || now >= ca.notAfter.getTime()) {
    invalid(
      `CA certificate is not valid at ${p.now.toISOString()} (valid ${ca.notBefore.toISOString()} .. ${ca.notAfter.toISOString()})`
    );
  }
  const notBefore = toWholeSeconds(new Date(Math.max(now - CLOCK_SKEW_MS, ca.notBefore.getTime())));
  const notAfter = toWholeSeconds(new Date(Math.min(now + p.validityDays * DAY_MS, ca.notAfter.getTime())));
  if (notAfter.getTime() <= now)
    invalid('validity period is empty (validityDays too small, or the CA expires too soon)');

  const serial = p.serial ?? randomSerial();
  const publicKey = new x509.PublicKey(subjectKey.spki);
  const usages =
    p.profile === 'server'
      ? x509.KeyUsageFlags.digitalSignature |
        (isRsaKeySpec(subjectKey.keySpec) ? x509.KeyUsageFlags.keyEncipherment : 0)
      : x509.KeyUsageFlags.digitalSignature;

  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serialToEvenHex(serial),
      subject: p.subjectName,
      issuer: ca.certificate.subjectName,
      notBefore,
      notAfter,
      publicKey,
      signingKey: ca.signer.cryptoKey as unknown as x509.X509CertificateCreateWithKeyParams['signingKey'],
      signingAlgorithm: ca.signer.signingAlgorithm,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(usages, true),
        new x509.ExtendedKeyUsageExtension(
          [p.profile === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth],
          false
        ),
        ...(p.sans.length ? [new x509.SubjectAlternativeNameExtension(p.sans, false)] : []),
        new x509.AuthorityKeyIdentifierExtension(ca.keyIdentifier, false),
        await x509.SubjectKeyIdentifierExtension.create(publicKey, false, nodeCrypto),
        ...customExtensions(p.extensions),
      ],
    },
    nodeCrypto
  );
  return { certificatePem: certificateToPem(cert), serial, notBefore, notAfter };
}
