/**
 * internal-ca: creation of the built-in private CA's self-signed root (SPEC C1, C7). Pure: no I/O, no storage.
 *
 * The root's DN is unique per creation because it carries the creation time to the second
 * (`CN=CertFleet Root CA 2026-11-25T20:10:00Z, O=CertFleet`), so a rolled-over CA (C7) never shares a DN with
 * the one it replaces; two roots made within the same second share the DN but still differ in their random
 * 128-bit serial and key.
 *
 * Extensions: basicConstraints CA:TRUE (critical, no pathLen), keyUsage keyCertSign + cRLSign (critical),
 * subjectKeyIdentifier and authorityKeyIdentifier (the same key id). Signature: ECDSA-SHA384 for EC-P384,
 * ECDSA-SHA256 for EC-P256, SHA-256 with RSA for RSA keys.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { z } from 'zod';
import { generateKeyPair, importSigningKey, keySpecSchema, type KeySpec } from '@certfleet/shared';
import {
  CLOCK_SKEW_MS,
  buildName,
  certificateToPem,
  formatName,
  nodeCrypto,
  parseOrThrow,
  randomSerial,
  serialToEvenHex,
  toWholeSeconds,
} from './issue-certificate';

export interface CreateRootCaOptions {
  /** Creation time (from the injected clock); it also goes into the CN. */
  now: Date;
  /** @default 'EC-P384' */
  keySpec?: KeySpec;
  /** The O attribute. @default 'CertFleet' */
  organization?: string;
  /** Whole years from `now` to notAfter (1..50). @default 10 */
  validityYears?: number;
}

export interface CreateRootCaResult {
  /** Self-signed root certificate, PEM with a trailing newline. */
  certificatePem: string;
  /** PKCS#8 PEM, unencrypted: the caller encrypts it at rest (SPEC R4). */
  privateKeyPem: string;
  /** RFC 4514 text, most specific first: `CN=CertFleet Root CA 2026-11-25T20:10:00Z, O=CertFleet`. */
  subject: string;
  /** Upper-case hex, as Node's `X509Certificate.serialNumber`. */
  serial: string;
  keySpec: KeySpec;
  notBefore: Date;
  notAfter: Date;
}

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

const optionsSchema = z.object({
  now: z.date(),
  keySpec: keySpecSchema.default('EC-P384'),
  organization: z
    .string()
    .trim()
    .min(1)
    .max(64)
    .refine((v) => !CONTROL_CHARS.test(v), 'must not contain control characters')
    .default('CertFleet'),
  validityYears: z.number().int().min(1).max(50).default(10),
});

/** `2026-11-25T20:10:00Z`: ISO 8601 UTC to the second, the timestamp in a root CA's CN. */
export function rootCaTimestamp(now: Date): string {
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Creates a new self-signed root CA with a fresh key (SPEC C1).
 *
 * @throws CertFleetError `CF_VALIDATION` (message `internal-ca: …`) on bad options.
 * @example const root = await createRootCa({ now: clock.now() }); // EC-P384, 10 years, O=CertFleet
 */
export async function createRootCa(opts: CreateRootCaOptions): Promise<CreateRootCaResult> {
  const input = parseOrThrow(optionsSchema, opts, 'root CA options');
  const { privateKeyPem, publicKeyPem } = await generateKeyPair(input.keySpec);
  const signer = await importSigningKey(privateKeyPem);
  const publicKey = new x509.PublicKey(publicKeyPem);

  const attrs = { CN: `CertFleet Root CA ${rootCaTimestamp(input.now)}`, O: input.organization };
  const notBefore = toWholeSeconds(new Date(input.now.getTime() - CLOCK_SKEW_MS));
  const notAfterDate = new Date(input.now.getTime());
  notAfterDate.setUTCFullYear(notAfterDate.getUTCFullYear() + input.validityYears);
  const notAfter = toWholeSeconds(notAfterDate);

  const ski = await x509.SubjectKeyIdentifierExtension.create(publicKey, false, nodeCrypto);
  const serial = randomSerial();
  const name = buildName(attrs);
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serialToEvenHex(serial),
      subject: name,
      issuer: name,
      notBefore,
      notAfter,
      publicKey,
      signingKey: signer.cryptoKey as unknown as x509.X509CertificateCreateWithKeyParams['signingKey'],
      signingAlgorithm: signer.signingAlgorithm,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        ski,
        new x509.AuthorityKeyIdentifierExtension(ski.keyId, false),
      ],
    },
    nodeCrypto
  );
  return {
    certificatePem: certificateToPem(cert),
    privateKeyPem,
    subject: formatName(attrs),
    serial,
    keySpec: input.keySpec,
    notBefore,
    notAfter,
  };
}
