/**
 * Client-certificate login (SPEC U4): when enabled, a login needs, on top of the password, a TLS client certificate
 * whose SHA-1 or SHA-256 thumbprint is on the allowed list and which is valid now. Pure rules, no I/O.
 */
import { z } from 'zod';

/** What the TLS layer tells us about the presented certificate (thumbprints lower-case hex without colons). */
export interface PresentedCertificate {
  sha1: string;
  sha256: string;
  notBefore: Date;
  notAfter: Date;
  subject: string;
}

export interface ClientCertLoginSettings {
  enabled: boolean;
  /** Lower-case hex, 40 (SHA-1) or 64 (SHA-256) characters. */
  thumbprints: string[];
}

export const MAX_THUMBPRINTS = 200;

/** A thumbprint as typed (`AB:CD:…` or `abcd…`): normalised to lower-case hex, 40 or 64 characters. */
export const thumbprintSchema = z
  .string()
  .trim()
  .max(200)
  .transform((s) => s.replace(/[:\s]/g, '').toLowerCase())
  .refine((s) => /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(s), {
    message: 'a thumbprint is the SHA-1 (40 hex digits) or SHA-256 (64 hex digits) of the certificate, colons allowed',
  });

export const clientCertLoginInputSchema = z
  .object({
    enabled: z.boolean().describe('require an allowed client certificate at login (on top of the password)'),
    thumbprints: z
      .array(thumbprintSchema)
      .max(MAX_THUMBPRINTS)
      .describe('allowed certificates: SHA-1 or SHA-256 thumbprints (hex, colons allowed)'),
    force: z
      .boolean()
      .default(false)
      .describe('enable even though this request does not present an allowed certificate (risk of lock-out)'),
  })
  .strict()
  .superRefine((s, c) => {
    if (s.enabled && s.thumbprints.length === 0) {
      c.addIssue({ code: 'custom', path: ['thumbprints'], message: 'enabling needs at least one allowed thumbprint' });
    }
  });

/** Why a certificate is refused; `revoked` is decided by the service (the built-in CA's revocation records). */
export type ClientCertRefusal = 'no-certificate' | 'not-allowed' | 'not-yet-valid' | 'expired' | 'revoked';

/** Why a presented certificate does not satisfy the settings, or null when it does (or the feature is off). */
export function clientCertRefusal(
  settings: ClientCertLoginSettings,
  cert: PresentedCertificate | null,
  now: Date
): ClientCertRefusal | null {
  if (!settings.enabled) return null;
  if (!cert) return 'no-certificate';
  if (!settings.thumbprints.includes(cert.sha1) && !settings.thumbprints.includes(cert.sha256)) return 'not-allowed';
  if (now < cert.notBefore) return 'not-yet-valid';
  if (now > cert.notAfter) return 'expired';
  return null;
}
