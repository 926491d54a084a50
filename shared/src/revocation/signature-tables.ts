/**
 * Tables the CRL and OCSP decoders share (SPEC M6): RFC 5280 CRLReason names, and the signature algorithms a CRL
 * or an OCSP response may be signed with.
 */

/** RFC 5280 CRLReason names by code. */
export const CRL_REASONS: Readonly<Record<number, string>> = {
  0: 'unspecified',
  1: 'keyCompromise',
  2: 'cACompromise',
  3: 'affiliationChanged',
  4: 'superseded',
  5: 'cessationOfOperation',
  6: 'certificateHold',
  8: 'removeFromCRL',
  9: 'privilegeWithdrawn',
  10: 'aACompromise',
};

/** The CRLReason name of `code` (`reason<code>` for codes RFC 5280 does not name). */
export function crlReasonName(code: number): string {
  return CRL_REASONS[code] ?? `reason${code}`;
}

/** Signature algorithm OID → node:crypto digest (null: the key decides, Ed25519/Ed448). */
export const SIGNATURE_DIGESTS: Readonly<Record<string, string | null>> = {
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.3.101.112': null,
  '1.3.101.113': null,
};
