/** The normalized, serializable description of a certificate that imports and the CLI report. */
import { type ParsedCertificate, parseCertificate } from './certificate';
import { encodePem } from './pem';

/**
 * A certificate, summarized. Every field is derived from the certificate alone, so the same certificate always
 * gives the same summary whatever container it arrived in.
 */
export interface CertificateSummary {
  /** RFC 4514, most specific RDN first, `, `-separated: `CN=leaf.example.com, O=Example, C=US`. */
  subject: string;
  /** Same form as `subject`. */
  issuer: string;
  /** Lowercase hex, as `openssl x509 -serial` prints it. */
  serial: string;
  /** ISO-8601 UTC (`Date.prototype.toISOString`). */
  notBefore: string;
  notAfter: string;
  /** Fingerprints of the DER: lowercase hex, no colons. */
  sha1: string;
  sha256: string;
  /** `RSA-2048|RSA-3072|RSA-4096|EC-P256|EC-P384|EC-P521|Ed25519`. */
  keyAlgorithm: string;
  /** `DNS:…`, `IP:…`, `email:…`, `URI:…` in certificate order. */
  sans: string[];
  /** The certificate as PEM (64-column base64, trailing newline). */
  pem: string;
}

/** Summarizes an already decoded certificate. */
export function summarizeParsedCertificate(certificate: ParsedCertificate): CertificateSummary {
  return {
    subject: certificate.subject,
    issuer: certificate.issuer,
    serial: certificate.serial,
    notBefore: certificate.notBefore.toISOString(),
    notAfter: certificate.notAfter.toISOString(),
    sha1: certificate.sha1,
    sha256: certificate.sha256,
    keyAlgorithm: certificate.keyAlgorithm,
    sans: [...certificate.sans],
    pem: encodePem('CERTIFICATE', certificate.der),
  };
}

/**
 * Decodes and summarizes a DER certificate.
 * @throws DecodeError `malformed` / `unsupported` (see {@link parseCertificate})
 */
export function summarizeCertificate(der: Buffer): CertificateSummary {
  return summarizeParsedCertificate(parseCertificate(der));
}
