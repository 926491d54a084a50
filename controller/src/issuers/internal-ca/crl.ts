/**
 * internal-ca: certificate revocation lists (SPEC C4). Pure: no I/O, no storage.
 *
 * {@link createCrl} writes an RFC 5280 v2 CRL with its own DER writer and signs it natively with the CA key:
 * - issuer: the CA certificate's subject Name, byte for byte (so every verifier matches it to the CA);
 * - thisUpdate / nextUpdate (UTCTime through 2049, GeneralizedTime after);
 * - one entry per revoked certificate: serial, revocation date and, unless the reason is `unspecified`
 *   (RFC 5280 §5.3.1: SHOULD be absent then), a reasonCode entry extension;
 * - CRL extensions: authorityKeyIdentifier (the CA's key id) and cRLNumber;
 * - signature: ECDSA-SHA384 (P-384 CA), ECDSA-SHA256 (P-256) or SHA-256 with RSA, as for certificates.
 * An empty CRL omits revokedCertificates entirely, as RFC 5280 requires.
 */
import { X509Certificate, createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { CertFleetError, encodePem } from '@certfleet/shared';
import { revocationReasons, type RevocationReason } from '../../domain/certificate-authority';
import { DerError, certificateParts, childrenOf, contentOf, readDer, readOid, sequence } from './der-reader';
import { der, extension } from './der-writer';
import { invalid, parseOrThrow, type CaKeyPairPem } from './issue-certificate';
import { ExtensionOid } from './name-encoding';
import { nodeSigner, type NodeSigner } from './node-signer';

/** RFC 5280 CRLReason codes (value 7 is unused). */
export const CRL_REASON_CODES: Readonly<Record<RevocationReason, number>> = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  privilegeWithdrawn: 9,
};

/** One revoked certificate. */
export interface RevokedEntry {
  /** Hex serial (any case, leading zeros allowed). */
  serial: string;
  revokedAt: Date;
  reason: RevocationReason;
}

/** A CA prepared to sign CRLs: its certificate's raw parts and a native signer. Reusable across CRLs. */
export interface CrlSigner {
  readonly kind: 'crl-signer';
  readonly issuerName: Buffer;
  readonly keyIdentifier: Buffer;
  readonly signer: NodeSigner;
}

export interface CreateCrlOptions {
  /** The CA: its certificate and key (PEM or KeyObject), or a prepared {@link CrlSigner}. */
  ca: CaKeyPairPem | { certificatePem: string; privateKey: KeyObject } | CrlSigner;
  revoked: RevokedEntry[];
  /** Monotonically increasing CRL number (RFC 5280 cRLNumber), ≥ 0. */
  crlNumber: number | bigint;
  thisUpdate: Date;
  nextUpdate: Date;
}

export interface CreateCrlResult {
  der: Buffer;
  /** `-----BEGIN X509 CRL-----` with a trailing newline. */
  pem: string;
}

const optionsSchema = z
  .object({
    revoked: z
      .array(
        z.object({
          serial: z.string().regex(/^[0-9a-fA-F]{1,40}$/, 'serial must be 1..40 hex digits'),
          revokedAt: z.date(),
          reason: z.enum(revocationReasons),
        })
      )
      .max(1_000_000),
    crlNumber: z.union([z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), z.bigint().min(0n)]),
    thisUpdate: z.date(),
    nextUpdate: z.date(),
  })
  .refine((o) => o.nextUpdate.getTime() > o.thisUpdate.getTime(), 'nextUpdate must be after thisUpdate');

function isCrlSigner(ca: CreateCrlOptions['ca']): ca is CrlSigner {
  return (ca as Partial<CrlSigner>).kind === 'crl-signer';
}

/** Reads the CA certificate's subjectKeyIdentifier, or computes RFC 5280 method 1 (SHA-1 of the key bits). */
function keyIdentifierOf(certDer: Buffer, subjectPublicKey: Buffer): Buffer {
  try {
    const [tbs] = sequence(readDer(certDer), 'Certificate');
    const fields = sequence(tbs, 'TBSCertificate');
    const extensionsNode = fields.find((f) => f.tag === 0xa3);
    if (extensionsNode) {
      for (const ext of sequence(childrenOf(extensionsNode)[0], 'Extensions')) {
        const parts = sequence(ext, 'Extension');
        if (readOid(parts[0], 'extnID') !== ExtensionOid.subjectKeyIdentifier) continue;
        const value = contentOf(parts[parts.length - 1]!);
        const inner = readDer(Buffer.from(value));
        if (inner.tag === 0x04) return Buffer.from(contentOf(inner));
      }
    }
  } catch (err) {
    if (!(err instanceof DerError)) throw err;
  }
  return createHash('sha1').update(subjectPublicKey).digest();
}

/**
 * Prepares a CA for CRL signing: checks that the key belongs to the certificate and that the certificate may sign
 * CRLs (CA:TRUE, and cRLSign when keyUsage is present).
 * @throws CertFleetError `CF_VALIDATION`
 */
export function crlSigner(ca: CaKeyPairPem | { certificatePem: string; privateKey: KeyObject }): CrlSigner {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(ca.certificatePem);
  } catch (err) {
    return invalid('CA certificate is not a readable X.509 certificate', undefined, err);
  }
  if (!cert.ca) invalid('CA certificate lacks basicConstraints CA:TRUE');
  const signer = nodeSigner('privateKey' in ca ? ca.privateKey : ca.privateKeyPem);
  if (!createPublicKey(signer.key).equals(cert.publicKey)) invalid('CA private key does not match the CA certificate');
  let parts;
  try {
    parts = certificateParts(cert.raw);
  } catch (err) {
    return invalid('CA certificate structure is not readable', undefined, err);
  }
  const keyUsage = keyUsageBits(cert.raw);
  if (keyUsage !== null && !keyUsage.has(6)) invalid('CA certificate keyUsage does not allow cRLSign');
  return {
    kind: 'crl-signer',
    issuerName: Buffer.from(parts.subject),
    keyIdentifier: keyIdentifierOf(cert.raw, parts.subjectPublicKey),
    signer,
  };
}

/** The keyUsage bits set in a certificate, or null when it has no keyUsage extension. */
export function keyUsageBits(certDer: Buffer): Set<number> | null {
  const [tbs] = sequence(readDer(certDer), 'Certificate');
  const extensionsNode = sequence(tbs, 'TBSCertificate').find((f) => f.tag === 0xa3);
  if (!extensionsNode) return null;
  for (const ext of sequence(childrenOf(extensionsNode)[0], 'Extensions')) {
    const parts = sequence(ext, 'Extension');
    if (readOid(parts[0], 'extnID') !== ExtensionOid.keyUsage) continue;
    const bits = contentOf(readDer(Buffer.from(contentOf(parts[parts.length - 1]!))));
    const set = new Set<number>();
    for (let i = 1; i < bits.length; i++) {
      for (let b = 0; b < 8; b++) if (((bits[i] as number) & (0x80 >> b)) !== 0) set.add((i - 1) * 8 + b);
    }
    return set;
  }
  return null;
}

/**
 * Creates and signs a v2 CRL (SPEC C4).
 *
 * @throws CertFleetError `CF_VALIDATION` (message `internal-ca: …`) on bad options or an unusable CA.
 * @example
 * const { der } = createCrl({ ca, revoked: [{ serial, revokedAt, reason: 'keyCompromise' }], crlNumber: 1,
 *   thisUpdate: now, nextUpdate: new Date(now.getTime() + 7 * 86_400_000) });
 */
export function createCrl(opts: CreateCrlOptions): CreateCrlResult {
  const input = parseOrThrow(optionsSchema, { ...opts, ca: undefined }, 'CRL options');
  const ca = isCrlSigner(opts.ca) ? opts.ca : crlSigner(opts.ca);
  const entries = [...input.revoked]
    .sort((a, b) => a.revokedAt.getTime() - b.revokedAt.getTime() || a.serial.localeCompare(b.serial))
    .map((entry) => {
      const code = CRL_REASON_CODES[entry.reason];
      const extensions =
        code === 0 ? [] : [der.sequence(extension(ExtensionOid.crlReason, false, der.enumerated(code)))];
      return der.sequence(der.integerFromHex(entry.serial), der.time(entry.revokedAt), ...extensions);
    });
  const crlExtensions = der.sequence(
    extension(ExtensionOid.authorityKeyIdentifier, false, der.sequence(der.implicitPrimitive(0, ca.keyIdentifier))),
    extension(ExtensionOid.crlNumber, false, der.integer(BigInt(input.crlNumber)))
  );
  const tbs = der.sequence(
    der.integer(1), // v2
    ca.signer.algorithmIdentifier,
    ca.issuerName,
    der.time(input.thisUpdate),
    der.time(input.nextUpdate),
    ...(entries.length ? [der.sequence(...entries)] : []),
    der.explicit(0, crlExtensions)
  );
  let signature: Buffer;
  try {
    signature = ca.signer.sign(tbs);
  } catch (err) {
    throw new CertFleetError('CF_INTERNAL', 'internal-ca: CRL signing failed', { cause: err });
  }
  const crl = der.sequence(tbs, ca.signer.algorithmIdentifier, der.bitString(signature));
  return { der: crl, pem: encodePem('X509 CRL', crl) };
}
